// Policy data: YAML and JSON files under data/ (and packs/NAME/data/), merged into one tree keyed by file name
// (data/resources.yaml is `data.resources` in a template). Parse errors are located like policy errors.
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { PolicyDiagnostic, SourceText } from '../engine/index.js';

export function readPolicyData(files: readonly SourceText[], diagnostics: PolicyDiagnostic[]): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const file of files) {
    const key = path.basename(file.file).replace(/\.(ya?ml|json)$/, '');
    const document = parseDocument(file.text, { prettyErrors: false, uniqueKeys: true });
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const [line = 1, column = 1] = error.linePos?.[0] ? [error.linePos[0].line, error.linePos[0].col] : [];
        diagnostics.push({ position: { file: file.file, line, column }, message: `invalid data: ${error.message.split('\n')[0]}` });
      }
      continue;
    }
    if (key in data) {
      diagnostics.push({ position: file.position(0), message: `data "${key}" is defined by two files: file names under data/ and the packs' data/ folders must be unique` });
      continue;
    }
    data[key] = document.toJS() as unknown;
  }
  return data;
}
