// `canopy fmt`: Cedar's own formatter over every policy file, so reviews show meaning, not whitespace.
import { writeFile } from 'node:fs/promises';
import { cedar } from '../cedar/index.js';
import { diagnosticsFromCedar, type PolicyDiagnostic } from '../engine/diagnostics.js';
import { readPolicyDirectory } from '../set/index.js';

export interface FormatResult {
  /** Files whose text is not what the formatter makes of it. */
  unformatted: string[];
  /** Files the formatter could not read (syntax errors), with locations. */
  problems: PolicyDiagnostic[];
  checked: number;
}

/** Formats every *.cedar file under `dir` (mutations too); with `check`, only reports. */
export async function formatPolicyFiles(dir: string, options: { check: boolean }): Promise<FormatResult> {
  const source = await readPolicyDirectory(dir);
  const files = [...source.files, ...source.mutationFiles];
  const unformatted: string[] = [];
  const problems: PolicyDiagnostic[] = [];
  for (const file of files) {
    const text = file.text;
    const answer = cedar.formatPolicies({ policyText: text });
    if (answer.type === 'failure') {
      for (const error of answer.errors) problems.push(...diagnosticsFromCedar(error, file));
      continue;
    }
    if (answer.formatted_policy === text) continue;
    unformatted.push(file.file);
    if (!options.check) await writeFile(file.file, answer.formatted_policy);
  }
  return { unformatted, problems, checked: files.length };
}
