import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backoff, Poller, type PollOutcome } from './poller.js';

describe('Poller', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('never overlaps a slow run with the next one: the interval starts when a run ends', async () => {
    const starts: number[] = [];
    let finish: (() => void) | undefined;
    const poller = new Poller({
      intervalMs: 100,
      run: () => {
        starts.push(Date.now());
        return new Promise<void>((resolve) => (finish = resolve));
      },
      onError: () => undefined,
    });
    const t0 = Date.now();
    poller.start();
    await vi.advanceTimersByTimeAsync(1000); // the first run starts at 100 and is still running
    expect(starts).toEqual([t0 + 100]);
    finish?.();
    await vi.advanceTimersByTimeAsync(100);
    expect(starts).toEqual([t0 + 100, t0 + 1100]);
    poller.stop();
  });

  it('backs off after failures (twice the interval, doubling, capped) and returns to the interval after a success', async () => {
    const outcomes: PollOutcome[] = ['failed', 'failed', 'failed', 'failed', 'ok', 'ok'];
    const starts: number[] = [];
    const poller = new Poller({
      intervalMs: 100,
      backoffMaxMs: 500,
      run: async () => {
        starts.push(Date.now());
        return outcomes.shift() ?? 'ok';
      },
      onError: () => undefined,
    });
    const t0 = Date.now();
    poller.start();
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 500 + 500 + 100);
    expect(starts.map((at) => at - t0)).toEqual([100, 300, 700, 1200, 1700, 1800]);
    poller.stop();
  });

  it('reports a run that throws, counts it as failed, and keeps polling', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const poller = new Poller({
      intervalMs: 50,
      run: async () => {
        runs += 1;
        if (runs === 1) throw new Error('store down');
      },
      onError: (error) => errors.push(error),
    });
    poller.start();
    await vi.advanceTimersByTimeAsync(120);
    expect(runs).toBe(2);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('store down');
    poller.stop();
  });

  it('stops, and with a zero interval never starts', async () => {
    let runs = 0;
    const run = async () => void (runs += 1);
    const stopped = new Poller({ intervalMs: 10, run, onError: () => undefined });
    stopped.start();
    await vi.advanceTimersByTimeAsync(35);
    stopped.stop();
    const before = runs;
    await vi.advanceTimersByTimeAsync(100);
    expect(before).toBe(3);
    expect(runs).toBe(3);
    new Poller({ intervalMs: 0, run, onError: () => undefined }).start();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toBe(3);
  });
});

describe('Backoff', () => {
  it('doubles from the first delay up to the cap, within the jitter, and starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.2 });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    const bases = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual((bases[i] ?? 0) * 0.8);
      expect(delay).toBeLessThanOrEqual((bases[i] ?? 0) * 1.2);
    });
    expect(backoff.failures).toBe(8);
    backoff.reset();
    expect(backoff.next()).toBeLessThanOrEqual(600);
  });
});
