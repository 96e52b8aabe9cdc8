// Running the mutations that apply to a request: render each one's change, turn it into JSON Patch
// operations against the object as mutated so far, apply them as they will be sent, and check the
// result before anything is sent. Any failure names the mutation(s) responsible.
import type { Operation } from 'rfc6902';
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import { asRecord, podSpecPath, toCedarRequest, type JsonRecord, type RequestFacts } from '../translate/index.js';
import { templateContext } from './context.js';
import { MUTATORS } from './mutators/index.js';
import { mutatedObjectProblems } from './shape.js';
import type { MutationSpec } from './spec.js';
import { renderTemplates } from '../templates/index.js';
import { describeBytes, MAX_PATCH_BYTES, PatchSize } from './patch-size.js';
import { applyOperation, copyJson, emitOperations, pointerOf, sameValue, valueAt, type OperationSink, type Write } from './writes.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export class MutationError extends CanopyError {
  constructor(
    message: string,
    readonly mutations: string[],
  ) {
    super('mutation', message);
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
  /** The largest patch to send, in bytes of JSON; MAX_PATCH_BYTES unless a test says otherwise. */
  maxPatchBytes?: number;
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

/** Whether what `write` set (or removed) is still so in `object`. */
function stillHolds(object: unknown, write: Write): boolean {
  const now = valueAt(object, write.tokens);
  if (write.kind === 'remove') return now === undefined;
  if (write.kind === 'append') return Array.isArray(now) && now.some((item) => sameValue(item, write.value));
  return sameValue(now, write.value);
}

const overlaps = (a: readonly string[], b: readonly string[]) =>
  a.slice(0, Math.min(a.length, b.length)).every((token, i) => token === b[i]);

/**
 * Where the request's pods are described: a Pod's spec, or a controller's pod template (its metadata
 * too: a changed template label or annotation rolls the pods as surely as a changed container). On an
 * UPDATE that leaves that part as it was (a label, a scale, a status write, a re-apply of the same
 * manifest), no mutation may write under it: the controller would roll every pod, a Job's template is
 * immutable, and GitOps tools would see drift they did not cause. Undefined when writes may go there.
 */
function unchangedPodsPath(request: AdmissionRequest): readonly string[] | undefined {
  if (request.operation !== 'UPDATE') return undefined;
  const spec = podSpecPath(request.kind.group, request.kind.kind);
  if (!spec) return undefined;
  const pods = spec.length === 1 ? spec : spec.slice(0, -1);
  return sameValue(valueAt(request.object, pods), valueAt(request.oldObject, pods)) ? pods : undefined;
}

const named = (ids: readonly string[]) => ids.map((n) => `[${n}]`).join(', ');

/**
 * Runs `specs` (already in order) on the request's object. Throws MutationError.
 *
 * Each write becomes operations against the object as mutated so far, and each operation is applied
 * as soon as it is made, its value copied, to one copy of the request's object: that copy is then what
 * the patch makes of the request's object, and it is what is checked. The work is linear in the
 * writes, and stops as soon as the patch grows past the limit (MAX_PATCH_BYTES).
 */
export function runMutations(specs: readonly MutationSpec[], request: AdmissionRequest, inputs: MutationInputs): MutationRun {
  const original = request.object;
  const working = copyJson(asRecord(original));
  const maxPatchBytes = inputs.maxPatchBytes ?? MAX_PATCH_BYTES;
  const operations: Operation[] = [];
  const size = new PatchSize();
  const applied: string[] = [];
  // The values writes leave at their paths (and who wrote them), to check later writes did not overturn them.
  const claims: Write[] = [];
  const claimants: string[] = [];
  const frozen = unchangedPodsPath(request);
  for (const spec of specs) {
    let writes: Write[];
    try {
      writes = writesOf(spec, request, working, inputs);
      // A write above the pods' part (a whole /spec) would rewrite it too: overlaps covers both.
      if (frozen) writes = writes.filter((write) => !overlaps(write.tokens, frozen));
    } catch (error) {
      throw new MutationError(`mutation [${spec.id}] cannot be prepared: ${messageOf(error)}`, [spec.id]);
    }
    const record: OperationSink = (op, tokens, length) => {
      size.add(op);
      if (size.bytes > maxPatchBytes) {
        const ids = [...applied, spec.id];
        throw new MutationError(
          `the JSON Patch of ${named(ids)} is larger than the limit of ${describeBytes(maxPatchBytes)}: ` +
            `Canopy stopped building it at ${size.bytes} bytes, after ${size.operations} operations`,
          ids,
        );
      }
      applyOperation(working, op, tokens, length);
      operations.push(op);
    };
    const before = operations.length;
    for (const write of writes) {
      try {
        emitOperations(working, write, record);
      } catch (error) {
        if (error instanceof MutationError) throw error;
        throw new MutationError(`mutation [${spec.id}] cannot apply: ${messageOf(error)}`, [spec.id]);
      }
      if (write.kind === 'set' && write.structural) continue;
      // A copy, so that a value the mutator shares with the object cannot change what must hold.
      claims.push(write.kind !== 'remove' && typeof write.value === 'object' ? { ...write, value: copyJson(write.value) } : write);
      claimants.push(spec.id);
    }
    if (operations.length > before) applied.push(spec.id);
  }

  // No silent winner: every write must still hold once all mutations ran.
  for (let index = 0; index < claims.length; index++) {
    const write = claims[index] as Write;
    if (stillHolds(working, write)) continue;
    const mutation = claimants[index] as string;
    const laterIndex = claims.findIndex((other, i) => i > index && claimants[i] !== mutation && overlaps(other.tokens, write.tokens));
    const names = laterIndex >= 0 ? [mutation, claimants[laterIndex] as string] : [mutation];
    throw new MutationError(
      `mutations ${names.map((n) => `[${n}]`).join(' and ')} both write ${pointerOf(write.tokens)} with different values`,
      names,
    );
  }
  if (operations.length === 0) return { operations, applied, mutated: working };

  const problems = mutatedObjectProblems(original, working, request.kind.group, request.kind.kind);
  try {
    // The validating side's facts builder must still read the result.
    toCedarRequest({ ...request, object: working }, inputs.facts);
  } catch (error) {
    problems.push(`its facts cannot be built: ${messageOf(error)}`);
  }
  if (problems.length > 0) {
    throw new MutationError(`mutations ${named(applied)} produce an invalid object: ${problems.join('; ')}`, applied);
  }
  return { operations, applied, mutated: working };
}
