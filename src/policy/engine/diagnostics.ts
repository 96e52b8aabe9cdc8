// Load-time problems with a policy set, each pinned to a place a reviewer can open.
import type { DetailedError } from '../cedar/index.js';
import { formatPosition, type SourcePosition, type SourceText } from './source-text.js';
import { CanopyError } from '../../operations/errors/index.js';

export interface PolicyDiagnostic {
  position: SourcePosition;
  message: string;
  help?: string;
}

export function formatDiagnostic(diagnostic: PolicyDiagnostic): string {
  const help = diagnostic.help ? ` (${diagnostic.help})` : '';
  return `${formatPosition(diagnostic.position)}: ${diagnostic.message}${help}`;
}

/** Thrown when a policy set cannot be activated; carries every problem found, not just the first. */
export class PolicyLoadError extends CanopyError {
  constructor(readonly diagnostics: PolicyDiagnostic[]) {
    super(
      'policy-load',
      `policy set does not validate (${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}):\n` +
        diagnostics.map((d) => `  ${formatDiagnostic(d)}`).join('\n'),
    );
  }
}

/**
 * Turns one Cedar error into diagnostics. `baseOffset` is the byte offset in `source` of the text Cedar
 * was given (a single policy sliced out of a file). Related errors often carry the precise location, so
 * they are reported too.
 */
export function diagnosticsFromCedar(
  error: DetailedError,
  source: SourceText,
  baseOffset = 0,
  prefix = '',
): PolicyDiagnostic[] {
  const locations = error.sourceLocations ?? [];
  const first = locations[0];
  const message = prefix + error.message + (first?.label ? `: ${first.label}` : '');
  const help = error.help ?? undefined;
  const out: PolicyDiagnostic[] = [
    { position: source.position(baseOffset + (first?.start ?? 0)), message, ...(help ? { help } : {}) },
  ];
  for (const related of error.related ?? []) {
    out.push(...diagnosticsFromCedar(related, source, baseOffset, prefix));
  }
  return out;
}
