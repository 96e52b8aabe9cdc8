// `canopy fmt [DIR] [--check]`
import { formatDiagnostic } from '../../policy/engine/index.js';
import { PolicyDirectoryError } from '../../policy/set/index.js';
import { formatPolicyFiles } from '../../policy/format/index.js';
import { pathIn, type CliIo } from '../io.js';
import type { FmtOptions } from '../options.js';

export async function formatPolicies(dir: string, options: FmtOptions, io: CliIo): Promise<number> {
  let result;
  try {
    result = await formatPolicyFiles(pathIn(io, dir), options);
  } catch (error) {
    if (!(error instanceof PolicyDirectoryError)) throw error;
    io.stderr.write(`canopy fmt: ${error.message}\n`);
    return 1;
  }
  for (const problem of result.problems) io.stderr.write(`${formatDiagnostic(problem)}\n`);
  for (const file of result.unformatted) io.stdout.write(options.check ? `not formatted: ${file}\n` : `formatted ${file}\n`);
  if (options.check && result.unformatted.length === 0 && result.problems.length === 0) {
    io.stdout.write(`${result.checked} policy files are formatted\n`);
  }
  return result.problems.length > 0 || (options.check && result.unformatted.length > 0) ? 1 : 0;
}
