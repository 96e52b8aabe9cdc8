// `canopy impact --from OLD --to NEW --requests DIR|FILE`
import { writeFile } from 'node:fs/promises';
import { impact, ImpactInputError, jsonReport, markdownReport } from '../impact/index.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { pathIn, type CliIo } from '../io.js';
import type { ImpactCommandOptions } from '../options.js';

export async function reportImpact(options: ImpactCommandOptions, io: CliIo): Promise<number> {
  if (options.format !== 'markdown' && options.format !== 'json') {
    io.stderr.write('canopy impact: --format is markdown or json\n');
    return EXIT.unreadable;
  }
  let report;
  try {
    // --from and --to may be revisions, not paths: the impact resolves them against cwd itself.
    report = await impact({ from: options.from, to: options.to, requests: pathIn(io, options.requests), policiesPath: options.policiesPath, cwd: io.cwd });
  } catch (error) {
    if (!(error instanceof ImpactInputError) && !isPolicyProblem(error)) throw error;
    io.stderr.write(`canopy impact: ${error.message}\n`);
    return EXIT.unreadable;
  }
  io.stdout.write(options.format === 'json' ? jsonReport(report) : markdownReport(report));
  if (options.json) await writeFile(pathIn(io, options.json), jsonReport(report));
  return report.problems.length > 0 ? EXIT.unreadable : EXIT.ok;
}
