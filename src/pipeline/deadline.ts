// Every webhook request is answered before the API server gives up on it. A request not judged by its
// deadline is denied, saying what it was still waiting for (fail closed): a timeout at the API server
// would be a refusal too, but one that says nothing, and with failurePolicy: Ignore it would be an
// admission nobody judged.

/** The default deadline: below the chart's `timeoutSeconds: 5`, leaving a second for the network and TLS. */
export const DEFAULT_DEADLINE_MS = 4000;

/** Of the timeout the API server states, the part Canopy may spend; the rest is the way back. */
const SHARE_OF_API_SERVER_TIMEOUT = 0.8;

const GO_DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000_001 };

/**
 * The kube-apiserver calls a webhook with `?timeout=` and its `timeoutSeconds` as a Go duration
 * (`5s`, `1m0s`, `1.5s`, `500ms`). Returns milliseconds, or undefined for anything else.
 */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(amount) * (GO_DURATION_UNITS[unit ?? ''] ?? Number.NaN);
  return Number.isFinite(total) && total > 0 ? total : undefined;
}

/** The deadline for one request: the configured one, shortened to fit the timeout the API server stated. */
export function deadlineFor(configuredMs: number, apiServerTimeout: unknown): number {
  // A query string is caller input: a repeated or odd `timeout` is ignored, never trusted.
  const stated = typeof apiServerTimeout === 'string' ? parseGoDuration(apiServerTimeout) : undefined;
  return stated === undefined ? configuredMs : Math.max(1, Math.min(configuredMs, Math.floor(stated * SHARE_OF_API_SERVER_TIMEOUT)));
}

/** One request's deadline, and what the request is doing, so that a late answer can say what was slow. */
export class Deadline {
  /** Set once the deadline has passed: late work must not act (reserve quota, write records). */
  expired = false;
  stage = 'starting';

  private readonly startedAt = Date.now();

  constructor(readonly ms: number) {}

  /** What is left of it, in ms (0 once passed). */
  remainingMs(): number {
    return Math.max(0, this.startedAt + this.ms - Date.now());
  }

  /** Resolves with the work's result, or at the deadline with `late()`; the work's own result is then dropped. */
  race<T>(work: Promise<T>, late: () => T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<T>((resolve) => {
      timer = setTimeout(() => {
        this.expired = true;
        resolve(late());
      }, this.ms);
    });
    return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
  }

  /** The denial's reason, naming the step the request was still in. */
  message(): string {
    return `not judged within the ${this.ms} ms deadline (still ${this.stage}); denied rather than admitted unjudged`;
  }
}
