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
