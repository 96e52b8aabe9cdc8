// Everything Canopy re-reads on its own goes through here: the policy directory, the serving
// certificate, the bundle store, the reflectors' retries. One run at a time (a slow check is never
// overlapped by the next one, as setInterval would), timers that do not keep the process alive, and
// jittered exponential backoff after failures, so that replicas do not retry in step.
import { inBackground } from '../errors/index.js';

export interface BackoffOptions {
  /** The first delay after a failure. */
  initialMs: number;
  /** No delay grows past this. */
  maxMs: number;
  /** ±this share of each delay is random (0.2: 80-120%). */
  jitter?: number;
}

/** Delays after failures in a row: initial, doubled each time up to the cap, jittered. */
export class Backoff {
  private failuresInARow = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next try, counting one more failure. */
  next(): number {
    const base = Math.min(this.options.initialMs * 2 ** this.failuresInARow, this.options.maxMs);
    this.failuresInARow += 1;
    return jittered(base, this.options.jitter ?? 0.2);
  }

  reset(): void {
    this.failuresInARow = 0;
  }

  get failures(): number {
    return this.failuresInARow;
  }
}

export function jittered(ms: number, jitter: number): number {
  return Math.round(ms * (1 - jitter + Math.random() * 2 * jitter));
}

/** What a run says: it went well (the next run comes after the interval) or failed (after a backoff). */
export type PollOutcome = 'ok' | 'failed';

export interface PollerOptions {
  /** Between the end of one run and the start of the next, when the run went well. */
  intervalMs: number;
  /** One poll. A run that throws counts as failed and is reported to onError. */
  run: () => Promise<PollOutcome | void>;
  /** What a run that throws is reported to (a log line): it never goes unseen. */
  onError: (error: unknown) => void;
  /** After failures wait longer: twice the interval, doubling up to this; without it, failures wait the interval. */
  backoffMaxMs?: number;
  /** ±this share of each delay is random; 0 (the default) for exact intervals. */
  jitter?: number;
}

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly backoff: Backoff | undefined;

  constructor(private readonly options: PollerOptions) {
    this.backoff = options.backoffMaxMs !== undefined ? new Backoff({ initialMs: options.intervalMs * 2, maxMs: options.backoffMaxMs, jitter: options.jitter ?? 0 }) : undefined;
  }

  /** Polls every interval from now on; the first run comes after one interval. A zero interval never polls. */
  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.stopped = false;
    this.schedule('ok');
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(outcome: PollOutcome): void {
    if (this.stopped) return;
    const delay = this.delayAfter(outcome);
    this.timer = setTimeout(() => inBackground(this.runOnce(), this.options.onError), delay);
    this.timer.unref();
  }

  private delayAfter(outcome: PollOutcome): number {
    if (outcome === 'ok' || !this.backoff) {
      this.backoff?.reset();
      return jittered(this.options.intervalMs, this.options.jitter ?? 0);
    }
    return this.backoff.next();
  }

  private async runOnce(): Promise<void> {
    let outcome: PollOutcome = 'failed';
    try {
      outcome = (await this.options.run()) ?? 'ok';
    } finally {
      this.schedule(outcome);
    }
  }
}
