// How the CLI talks to people: messages to stderr, results to stdout, and exit codes.
import { PolicyActivationError } from '../pipeline/index.js';
import { PolicyDirectoryError, PolicyLoadError } from '../engine/index.js';

export const EXIT = { ok: 0, denied: 1, invalid: 1, unreadable: 2 } as const;

export function say(message: string): void {
  process.stderr.write(`canopy: ${message}\n`);
}

/** True for the errors that mean "these policies cannot be used", which the CLI reports without a stack. */
export function isPolicyProblem(error: unknown): error is Error {
  return (
    error instanceof PolicyLoadError || error instanceof PolicyDirectoryError || error instanceof PolicyActivationError
  );
}
