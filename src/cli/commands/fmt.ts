// `canopy fmt [DIR] [--check]`
import type { Command } from 'commander';
import { formatDiagnostic } from '../../policy/engine/index.js';
import { PolicyDirectoryError } from '../../policy/set/index.js';
import { formatPolicyFiles } from '../../policy/format/index.js';

export function registerFmt(program: Command): void {
  program
    .command('fmt')
    .description("format every policy file with Cedar's formatter; --check lists unformatted files and exits 1 instead")
    .argument('[dir]', 'the policy directory', './policies')
    .option('--check', 'change nothing; list the files that are not formatted', false)
    .action(async (dir: string, options: { check: boolean }) => {
      let result;
      try {
        result = await formatPolicyFiles(dir, options);
      } catch (error) {
        if (!(error instanceof PolicyDirectoryError)) throw error;
        process.stderr.write(`canopy fmt: ${error.message}\n`);
        process.exitCode = 1;
        return;
      }
      for (const problem of result.problems) process.stderr.write(`${formatDiagnostic(problem)}\n`);
      for (const file of result.unformatted) process.stdout.write(options.check ? `not formatted: ${file}\n` : `formatted ${file}\n`);
      if (options.check && result.unformatted.length === 0 && result.problems.length === 0) {
        process.stdout.write(`${result.checked} policy files are formatted\n`);
      }
      if (result.problems.length > 0 || (options.check && result.unformatted.length > 0)) process.exitCode = 1;
    });
}
