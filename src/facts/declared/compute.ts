// Computing the declared facts of one request: the CEL variables (as ValidatingAdmissionPolicy names
// them, with Secret payloads and environment values redacted: policies never see them), each needed
// fact's expression on the object and, on UPDATE, on the old object, and the reason for every fact
// that cannot be computed. Pure: the same request and data give the same facts.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { CedarValueJson } from '../../policy/cedar/index.js';
import { asArray, asRecord } from '../../kubernetes/objects/json.js';
import { redactSecrets } from '../../kubernetes/objects/redact.js';
import { ingressHosts, isIngress } from '../../kubernetes/objects/ingresses.js';
import { CONTAINER_LISTS, podSpecPath } from '../../kubernetes/objects/workload.js';
import type { ClusterInventory, DeclaredFactValues, IngressRecord } from './types.js';
import { toCel, type CelVariables } from './cel.js';
import { appliesTo, type FactDeclaration } from './declarations.js';
import { cedarValueOf } from './values.js';
import { messageOf } from '../../operations/errors/index.js';

/** What the request's namespace is known as: its labels (the API server sends no namespace object). */
export interface FactInputs {
  namespaceLabels?: Readonly<Record<string, string>>;
  /** The policy data (policies/data/), as `params`. */
  data: Readonly<Record<string, unknown>>;
  /** The cluster's other objects, as `inventory`; without it (no cluster) the inventory is empty. */
  inventory?: ClusterInventory;
}

/**
 * `inventory`, for a request whose facts read it: `ingresses` are the cluster's other Ingresses that
 * answer for one of the object's hosts (empty for other kinds). A string says why it cannot be known.
 */
function inventoryFor(request: AdmissionRequest, object: unknown, inventory: ClusterInventory | undefined): { ingresses: readonly IngressRecord[] } | string {
  if (!inventory || !isIngress(request.kind.group, request.kind.kind) || typeof object !== 'object' || object === null) return { ingresses: [] };
  const found = inventory.ingressesWithHosts([...new Set(ingressHosts(asRecord(object)['spec']))]);
  if (typeof found === 'string') return found;
  const metadata = asRecord(asRecord(object)['metadata']);
  const name = typeof metadata['name'] === 'string' && metadata['name'] ? metadata['name'] : request.name;
  return { ingresses: found.filter((other) => other.metadata.namespace !== request.namespace || other.metadata.name !== name) };
}

/** The declarations computed for objects of the request's group and kind. */
export function declarationsFor(declarations: readonly FactDeclaration[], request: Pick<AdmissionRequest, 'kind'>): FactDeclaration[] {
  return declarations.filter((declaration) => appliesTo(declaration, request.kind.group, request.kind.kind));
}

function podVariables(request: AdmissionRequest, object: unknown): Pick<CelVariables, 'podSpec' | 'containers'> {
  const path = podSpecPath(request.kind.group, request.kind.kind);
  if (!path || typeof object !== 'object' || object === null) return { podSpec: null, containers: [] };
  let spec: unknown = object;
  for (const key of path) spec = asRecord(spec)[key];
  const record = asRecord(spec);
  const containers: unknown[] = [];
  for (const list of CONTAINER_LISTS) {
    for (const container of asArray(record[list])) {
      if (typeof container === 'object' && container !== null && !Array.isArray(container)) containers.push({ ...container, list });
    }
  }
  return { podSpec: spec ?? null, containers };
}

/** `object` and `oldObject` are CEL values already (toCel): on UPDATE one conversion of each serves both sets of variables. */
function variablesFor(request: AdmissionRequest, celObject: unknown, celOldObject: unknown, inputs: FactInputs, params: unknown, inventory: unknown): CelVariables {
  return {
    object: celObject,
    oldObject: celOldObject,
    request: {
      operation: request.operation,
      subResource: request.subResource,
      namespace: request.namespace,
      name: request.name,
      dryRun: request.dryRun,
      kind: { ...request.kind },
      resource: { ...request.resource },
      userInfo: { username: request.userInfo.username, groups: [...request.userInfo.groups], ...(request.userInfo.uid ? { uid: request.userInfo.uid } : {}) },
    },
    namespaceObject: request.namespace ? { metadata: { name: request.namespace, labels: { ...inputs.namespaceLabels } } } : null,
    params,
    ...podVariables(request, celObject),
    inventory,
  };
}

/** The policy data as CEL values, converted once per policy set rather than once per request. */
const paramsCache = new WeakMap<object, unknown>();
function celParams(data: Readonly<Record<string, unknown>>): unknown {
  let params = paramsCache.get(data);
  if (params === undefined) {
    params = toCel(data);
    paramsCache.set(data, params);
  }
  return params;
}

function run(declaration: FactDeclaration, variables: CelVariables): { value: CedarValueJson } | { failure: string } {
  try {
    return { value: cedarValueOf(declaration.type, declaration.expression.evaluate(variables)) };
  } catch (error) {
    const message = messageOf(error).split('\n')[0] ?? '';
    return { failure: message };
  }
}

/**
 * The needed facts of a request: on CREATE and UPDATE for its object (and on UPDATE the old object's,
 * for `resource.old.facts`), on DELETE for the object deleted (as `oldObject`, `object` being null, as
 * in ValidatingAdmissionPolicy). A fact that fails on either is a failure, with its reason. With
 * `old` (the facts that the policies that can apply read on `resource.old`), the old object's are
 * computed for those only; a fact that fails only on the old object then fails only where it is read there.
 */
export function computeFacts(needed: readonly FactDeclaration[], request: AdmissionRequest, inputs: FactInputs, options: { old?: ReadonlySet<string> | 'all' } = {}): DeclaredFactValues {
  const result: DeclaredFactValues = { current: {}, failures: {} };
  if (needed.length === 0) return result;
  // Policies see what the decision log and recordings see: no Secret payloads, no environment values.
  const redacted = redactSecrets({ request: { kind: request.kind, object: request.object, oldObject: request.oldObject } }) as { request?: { object?: unknown; oldObject?: unknown } } | string;
  const object = typeof redacted === 'string' ? null : redacted.request?.object ?? null;
  const oldObject = typeof redacted === 'string' ? null : redacted.request?.oldObject ?? null;
  const params = celParams(inputs.data);
  const celObject = request.operation === 'DELETE' ? null : toCel(object);
  const celOldObject = request.operation === 'CREATE' ? null : toCel(oldObject);
  // The inventory is looked up only for facts that read it; when it cannot be known, they fail closed.
  const inventory = needed.some((declaration) => declaration.expression.variables.has('inventory'))
    ? inventoryFor(request, request.operation === 'DELETE' ? oldObject : object, inputs.inventory)
    : { ingresses: [] };
  const celInventory = typeof inventory === 'string' ? null : toCel(inventory);
  const current = variablesFor(request, celObject, celOldObject, inputs, params, celInventory);
  const oldNeeded = options.old ?? 'all';
  const readOld = (name: string) => oldNeeded === 'all' || oldNeeded.has(name);
  const update = request.operation === 'UPDATE' && typeof oldObject === 'object' && oldObject !== null && needed.some((declaration) => readOld(declaration.name));
  const before = update ? variablesFor(request, celOldObject, null, inputs, params, celInventory) : undefined;
  if (before) result.old = {};
  for (const declaration of needed) {
    if (typeof inventory === 'string' && declaration.expression.variables.has('inventory')) {
      result.failures[declaration.name] = inventory;
      continue;
    }
    const now = run(declaration, current);
    if ('failure' in now) {
      result.failures[declaration.name] = now.failure;
      continue;
    }
    result.current[declaration.name] = now.value;
    if (!before || !result.old || !readOld(declaration.name)) continue;
    const then = run(declaration, before);
    if ('failure' in then) result.failures[declaration.name] = `on the object before this update: ${then.failure}`;
    else result.old[declaration.name] = then.value;
  }
  return result;
}
