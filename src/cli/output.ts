// How the CLI talks to people: messages to stderr, results to stdout, and exit codes.
// Shared with the composition root's start-up summary:
export { describeSet } from '../policy/set/index.js';
export { isPolicyProblem } from '../pipeline/index.js';

export const EXIT = { ok: 0, denied: 1, invalid: 1, unreadable: 2 } as const;

export function say(message: string): void {
  process.stderr.write(`canopy: ${message}\n`);
}
