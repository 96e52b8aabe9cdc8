// Load-time conflict detection: two mutations that would write the same place with different literal
// values can never both hold, whatever their conditions, so the set is refused before it is activated.
// Writes whose values come from templates are checked per request instead (run.ts).
import { isDeepStrictEqual } from 'node:util';
import type { PolicyDiagnostic } from '../engine/diagnostics.js';
import { MUTATORS } from './mutators/index.js';
import type { MutationSpec } from './spec.js';
import { hasTemplate } from '../templates/index.js';

interface StaticWrite {
  key: string;
  label: string;
  value: unknown;
}

function staticWritesOf(spec: MutationSpec): StaticWrite[] {
  if (spec.change.type === 'patch') {
    return spec.change.operations
      .filter((op) => op.tokens.at(-1) !== '-' && !hasTemplate(op.value))
      .map((op) => ({ key: `path:${op.path}`, label: op.path, value: op.op === 'remove' ? '(removed)' : op.value }));
  }
  const { mutator, params } = spec.change;
  const found = MUTATORS.get(mutator);
  if (!found || (typeof params === 'string' && hasTemplate(params))) return [];
  return found
    .staticWrites(found.parse(params, { templated: true }))
    .filter((write) => !hasTemplate(write.value))
    .map((write) => ({ key: `${mutator}:${write.key}`, label: `${mutator} ${write.key}`, value: write.value }));
}

export function findStaticConflicts(specs: readonly MutationSpec[]): PolicyDiagnostic[] {
  const seen = new Map<string, { spec: MutationSpec; value: unknown }>();
  const problems: PolicyDiagnostic[] = [];
  for (const spec of specs) {
    for (const write of staticWritesOf(spec)) {
      const first = seen.get(write.key);
      if (!first) {
        seen.set(write.key, { spec, value: write.value });
      } else if (first.spec.id !== spec.id && !isDeepStrictEqual(first.value, write.value)) {
        problems.push({
          position: spec.position,
          message:
            `mutations "${first.spec.id}" (${first.spec.position.file}:${first.spec.position.line}) and "${spec.id}" ` +
            `both write ${write.label} with different values (${JSON.stringify(first.value)} and ${JSON.stringify(write.value)})`,
        });
      }
    }
  }
  return problems;
}
