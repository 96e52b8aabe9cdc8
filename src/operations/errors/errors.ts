// One base for Canopy's errors: a stable `code` that callers, tests and logs can match on without
// parsing messages, the `cause` when an error wraps another, and the class's own name as `name`.
export class CanopyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The message of anything a `catch` caught: an Error's message, else the value as text. */
export function messageOf(thrown: unknown): string {
  return thrown instanceof Error ? thrown.message : String(thrown);
}

/**
 * Starts work nobody awaits (a poll, a watch, a signal handler's cleanup) with a handler for its
 * failure, so a rejection is reported where it belongs instead of going unhandled (which ends the
 * process). Background tasks catch what they expect themselves; `report` is for what they did not.
 */
export function inBackground(task: Promise<unknown>, report: (error: unknown) => void): void {
  task.catch(report);
}
