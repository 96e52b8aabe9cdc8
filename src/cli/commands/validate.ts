// `canopy validate [DIR]`: is this policy directory one Canopy would activate?
import type { Command } from 'commander';
import { formatDiagnostic, loadPolicyDirectory } from '../../engine/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { describeSet, EXIT, isPolicyProblem } from '../output.js';

export async function validatePolicies(dir: string): Promise<number> {
  try {
    const checked = await loadPolicyDirectory(dir);
    // Activating in a throwaway pipeline also proves the schema accepts the requests Canopy builds.
    await new AdmissionPipeline().activate(checked);
    for (const warning of checked.warnings) process.stdout.write(`warning: ${formatDiagnostic(warning)}\n`);
    process.stdout.write(`${dir}: valid (${describeSet(checked)}, revision ${checked.revision})\n`);
    return EXIT.ok;
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    process.stderr.write(`${dir}: ${error.message}\n`);
    return EXIT.invalid;
  }
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate a policy directory against its schema in strict mode (exit 0 valid, 1 invalid)')
    .argument('[dir]', 'the policy directory', './policies')
    .action(async (dir: string) => {
      process.exitCode = await validatePolicies(dir);
    });
}
