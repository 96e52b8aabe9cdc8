// `canopy impact --from OLD --to NEW --requests DIR|FILE`
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { impact, ImpactInputError, jsonReport, markdownReport } from '../impact/index.js';
import { EXIT, isPolicyProblem } from '../output.js';

interface ImpactCommandOptions {
  from: string;
  to: string;
  requests: string;
  policiesPath: string;
  format: string;
  json?: string;
}

export function registerImpact(program: Command): void {
  program
    .command('impact')
    .description(
      'replay recorded AdmissionReviews through two versions of the policies and report every request ' +
        'whose decision, denying policies or patch changes (Markdown for a pull request, or JSON)',
    )
    .requiredOption('--from <old>', 'the old policies: a directory, a bundle (.tar.gz), or a git revision (main, HEAD~1, git:REV)')
    .requiredOption('--to <new>', 'the new policies: a directory, a bundle, or a git revision')
    .requiredOption('--requests <path>', 'AdmissionReview files (.json, .yaml) or recorded logs (.jsonl), a file or a directory')
    .option('--policies-path <path>', 'where the policy directory is in the git repository, for revisions', 'policies')
    .option('--format <format>', 'markdown or json, on standard output', 'markdown')
    .option('--json <file>', 'also write the JSON report to a file')
    .action(async (options: ImpactCommandOptions) => {
      if (options.format !== 'markdown' && options.format !== 'json') {
        process.stderr.write('canopy impact: --format is markdown or json\n');
        process.exitCode = EXIT.unreadable;
        return;
      }
      let report;
      try {
        report = await impact(options);
      } catch (error) {
        if (!(error instanceof ImpactInputError) && !isPolicyProblem(error)) throw error;
        process.stderr.write(`canopy impact: ${error.message}\n`);
        process.exitCode = EXIT.unreadable;
        return;
      }
      process.stdout.write(options.format === 'json' ? jsonReport(report) : markdownReport(report));
      if (options.json) await writeFile(options.json, jsonReport(report));
      process.exitCode = report.problems.length > 0 ? EXIT.unreadable : EXIT.ok;
    });
}
