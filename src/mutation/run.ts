// Running the mutations that apply to a request: render each one's change, turn it into JSON Patch
// operations against the object as mutated so far, apply them with a JSON Patch library, and check the
// result before anything is sent. Any failure names the mutation(s) responsible.
import { isDeepStrictEqual } from 'node:util';
import { applyPatch, type Operation } from 'rfc6902';
import type { AdmissionRequest } from '../admission/index.js';
import { asRecord, toCedarRequest, type JsonRecord, type RequestFacts } from '../translate/index.js';
import { templateContext } from './context.js';
import { MUTATORS } from './mutators/index.js';
import { mutatedObjectProblems } from './shape.js';
import type { MutationSpec } from './spec.js';
import { renderTemplates } from './template.js';
import { operationsFor, pointerOf, valueAt, type Write } from './writes.js';

export class MutationError extends Error {
  constructor(
    message: string,
    readonly mutations: string[],
  ) {
    super(message);
    this.name = 'MutationError';
  }
}

export interface MutationRun {
  operations: Operation[];
  /** Mutations that changed something, in the order they ran. */
  applied: string[];
  mutated: unknown;
}

export interface MutationInputs {
  /** Policy data (policies/data/*), for templates. */
  data: Readonly<Record<string, unknown>>;
  facts?: RequestFacts;
}

function writesOf(spec: MutationSpec, request: AdmissionRequest, object: JsonRecord, inputs: MutationInputs): Write[] {
  const context = templateContext(request, object, inputs.facts ?? {}, inputs.data);
  if (spec.change.type === 'patch') {
    return spec.change.operations.map((op): Write => {
      if (op.op === 'remove') return { kind: 'remove', tokens: op.tokens };
      const value = renderTemplates(op.value, context);
      if (op.tokens.at(-1) === '-') return { kind: 'append', tokens: op.tokens.slice(0, -1), value };
      return { kind: 'set', tokens: op.tokens, value };
    });
  }
  const mutator = MUTATORS.get(spec.change.mutator);
  if (!mutator) throw new Error(`unknown mutator ${spec.change.mutator}`);
  const params = mutator.parse(renderTemplates(spec.change.params, context), { templated: false });
  const operation = request.operation === 'UPDATE' ? 'UPDATE' : 'CREATE';
  return mutator.writes({ object, group: request.kind.group, kind: request.kind.kind, operation }, params);
}

/** The value a write leaves at its path, to check later mutations did not overturn it. */
interface Claim {
  mutation: string;
  write: Write;
}

function claimHolds(object: unknown, { write }: Claim): boolean {
  const now = valueAt(object, write.tokens);
  if (write.kind === 'remove') return now === undefined;
  if (write.kind === 'append') return Array.isArray(now) && now.some((item) => isDeepStrictEqual(item, write.value));
  return isDeepStrictEqual(now, write.value);
}

const overlaps = (a: readonly string[], b: readonly string[]) =>
  a.slice(0, Math.min(a.length, b.length)).every((token, i) => token === b[i]);

/** Runs `specs` (already in order) on the request's object. Throws MutationError. */
export function runMutations(specs: readonly MutationSpec[], request: AdmissionRequest, inputs: MutationInputs): MutationRun {
  const original = request.object;
  const working = structuredClone(asRecord(original));
  const operations: Operation[] = [];
  const applied: string[] = [];
  const claims: Claim[] = [];
  for (const spec of specs) {
    let writes: Write[];
    try {
      writes = writesOf(spec, request, working, inputs);
    } catch (error) {
      throw new MutationError(`mutation [${spec.id}] cannot be prepared: ${(error as Error).message}`, [spec.id]);
    }
    let changed = false;
    for (const write of writes) {
      let ops: Operation[];
      try {
        ops = operationsFor(working, write);
      } catch (error) {
        throw new MutationError(`mutation [${spec.id}] cannot apply: ${(error as Error).message}`, [spec.id]);
      }
      // Copies, so that later mutations changing the object in place cannot rewrite what was recorded.
      operations.push(...structuredClone(ops));
      const failure = applyPatch(working, ops).find((result) => result !== null);
      if (failure) throw new MutationError(`mutation [${spec.id}] cannot apply: ${failure.message}`, [spec.id]);
      changed ||= ops.length > 0;
      if (!(write.kind === 'set' && write.structural)) claims.push({ mutation: spec.id, write: structuredClone(write) });
    }
    if (changed) applied.push(spec.id);
  }

  // No silent winner: every write must still hold once all mutations ran.
  for (const [index, claim] of claims.entries()) {
    if (claimHolds(working, claim)) continue;
    const later = claims.slice(index + 1).find((other) => other.mutation !== claim.mutation && overlaps(other.write.tokens, claim.write.tokens));
    const names = later ? [claim.mutation, later.mutation] : [claim.mutation];
    throw new MutationError(
      `mutations ${names.map((n) => `[${n}]`).join(' and ')} both write ${pointerOf(claim.write.tokens)} with different values`,
      names,
    );
  }
  if (operations.length === 0) return { operations, applied, mutated: working };

  const problems = mutatedObjectProblems(original, working, request.kind.group, request.kind.kind);
  try {
    // The validating side's facts builder must still read the result.
    toCedarRequest({ ...request, object: working }, inputs.facts);
  } catch (error) {
    problems.push(`its facts cannot be built: ${(error as Error).message}`);
  }
  if (problems.length > 0) {
    throw new MutationError(`mutations ${applied.map((n) => `[${n}]`).join(', ')} produce an invalid object: ${problems.join('; ')}`, applied);
  }
  // What is sent must produce exactly what was checked.
  const replay = structuredClone(asRecord(original));
  const replayFailure = applyPatch(replay, operations).find((result) => result !== null);
  if (replayFailure || !isDeepStrictEqual(replay, working)) {
    throw new MutationError(`the combined patch of ${applied.map((n) => `[${n}]`).join(', ')} does not reproduce the mutated object`, applied);
  }
  return { operations, applied, mutated: working };
}
