// `canopy validate [DIR]`: is this policy directory one Canopy would activate?
import { formatDiagnostic, type PolicyDiagnostic } from '../../policy/engine/index.js';
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { describeSet, EXIT, isPolicyProblem } from '../output.js';
import { pathIn, type CliIo } from '../io.js';

// Cedar's strict validator warns, without a code (cedar-wasm 4.x gives `code: null`), that a policy is
// impossible: "for policy `ID`, policy is impossible: the policy expression evaluates to false for all
// valid requests". Such a policy can never match, so it guards nothing: a mistake, not a style note.
// The other warnings (mixed scripts, bidi characters in strings or identifiers) stay warnings.
// Policy ids cannot hold a backquote, so the anchored prefix cannot be faked from inside a string.
const IMPOSSIBLE_POLICY = /^for policy `[^`]*`, policy is impossible\b/;
const IMPOSSIBLE_HELP =
  'it can never match, so it guards nothing: look for a condition that is always false, or for type tests (`is`) or scopes that contradict each other';

export function isImpossiblePolicyWarning(warning: PolicyDiagnostic): boolean {
  return IMPOSSIBLE_POLICY.test(warning.message);
}

export async function validatePolicies(dir: string, io: CliIo): Promise<number> {
  try {
    const checked = await loadPolicyDirectory(pathIn(io, dir));
    // Activating in a throwaway pipeline also proves the schema accepts the requests Canopy builds.
    await new AdmissionPipeline().activate(checked);
    const impossible = checked.warnings.filter(isImpossiblePolicyWarning);
    for (const warning of checked.warnings) {
      if (!isImpossiblePolicyWarning(warning)) io.stdout.write(`warning: ${formatDiagnostic(warning)}\n`);
    }
    if (impossible.length > 0) {
      const problems = impossible.map((warning) => `  ${formatDiagnostic({ ...warning, help: warning.help ?? IMPOSSIBLE_HELP })}`);
      const count = impossible.length === 1 ? '1 policy' : `${impossible.length} policies`;
      io.stderr.write(`${dir}: ${count} can never match (Cedar proves ${impossible.length === 1 ? 'its' : 'their'} condition false for every valid request):\n${problems.join('\n')}\n`);
      return EXIT.invalid;
    }
    io.stdout.write(`${dir}: valid (${describeSet(checked)}; revision ${checked.revision})\n`);
    return EXIT.ok;
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    io.stderr.write(`${dir}: ${error.message}\n`);
    return EXIT.invalid;
  }
}
