// Reading and checking a policy directory in one step: what `canopy validate`, `eval` and `serve` share.
import { checkPolicySet, type CheckedPolicySet } from './compile.js';
import { readPolicyDirectory } from './policy-files.js';

export async function loadPolicyDirectory(dir: string): Promise<CheckedPolicySet> {
  return checkPolicySet(await readPolicyDirectory(dir));
}
