import { describe, expect, it } from 'vitest';
import { isQuantity, parseQuantityMilli } from './index.js';

describe('Kubernetes quantities', () => {
  it.each([
    ['500m', 500],
    ['1', 1000],
    ['1.5', 1500],
    ['0.1', 100],
    ['2k', 2_000_000],
    ['128Mi', 128 * 1024 * 1024 * 1000],
    ['1Gi', 1024 ** 3 * 1000],
    ['1e3', 1_000_000],
    ['100n', 1], // rounded up to the millis Kubernetes keeps
    ['.5', 500],
  ])('reads %s', (text, milli) => {
    expect(parseQuantityMilli(text)).toBe(milli);
  });

  it.each(['', 'abc', '1.2.3', '5 m', '10mi', 'Mi', '1e'])('refuses %j', (text) => {
    expect(parseQuantityMilli(text)).toBeUndefined();
    expect(isQuantity(text)).toBe(false);
  });
});
