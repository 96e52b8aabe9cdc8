import { describe, expect, it } from 'vitest';
import { formatBytes, formatCpu, isQuantity, parseQuantity, parseQuantityMilli } from './quantity.js';

describe('Kubernetes quantities', () => {
  it.each([
    ['500m', 500n],
    ['1', 1000n],
    ['1.5', 1500n],
    ['0.1', 100n],
    ['.5', 500n],
    ['100n', 1n], // rounded up to the thousandths Kubernetes keeps
    ['1500u', 2n],
    ['2k', 2_000_000n],
    ['1M', 1_000_000_000n],
    ['1G', 10n ** 12n],
    ['1T', 10n ** 15n],
    ['1P', 10n ** 18n],
    ['1E', 10n ** 21n],
    ['1Ki', 1024n * 1000n],
    ['128Mi', 128n * 2n ** 20n * 1000n],
    ['1Gi', 2n ** 30n * 1000n],
    ['1.5Gi', 3n * 2n ** 29n * 1000n],
    ['1Ti', 2n ** 40n * 1000n],
    ['1Pi', 2n ** 50n * 1000n],
    ['2Ei', 2n * 2n ** 60n * 1000n],
    ['1e3', 1_000_000n],
    ['1E3', 1_000_000n],
    ['12e-3', 12n],
    ['+3', 3000n],
  ])('reads %s exactly', (text, milli) => {
    expect(parseQuantity(text)).toBe(milli);
  });

  it.each(['', 'abc', '1.2.3', '5 m', '10mi', 'Mi', '1e', '1e1000', '.', '1KiB'])('refuses %j', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
    expect(isQuantity(text)).toBe(false);
  });

  it('gives a Number only when it is exact', () => {
    expect(parseQuantityMilli('128Mi')).toBe(128 * 2 ** 20 * 1000);
    expect(parseQuantityMilli('2Ei')).toBeUndefined();
  });

  it('formats CPU and memory the way Kubernetes users write them', () => {
    expect(formatCpu(1500)).toBe('1500m');
    expect(formatCpu(2000)).toBe('2');
    expect(formatBytes(3n * 2n ** 30n)).toBe('3Gi');
    expect(formatBytes(1536n * 2n ** 20n)).toBe('1536Mi');
    expect(formatBytes(1000)).toBe('1000');
  });
});
