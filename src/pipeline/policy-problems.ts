// The errors that mean "these policies cannot be used": reported in one line, without a stack, by the
// CLI (exit 1) and by the composition root (a start refused with the policy directory named).
import { PolicyLoadError } from '../policy/engine/index.js';
import { PolicyDirectoryError } from '../policy/set/index.js';
import { PolicyActivationError } from './warm-up.js';

export function isPolicyProblem(error: unknown): error is Error {
  return error instanceof PolicyLoadError || error instanceof PolicyDirectoryError || error instanceof PolicyActivationError;
}
