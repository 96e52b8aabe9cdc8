// Which requests a policy can apply to, read off its text once at load time, so that a request is
// evaluated against only the policies that can apply to it. Cedar's cost per decision grows with the
// size of the preparsed set even when no policy applies (DESIGN.md: 0.5 ms at 10 policies, 4.6 ms at
// 1,000), so a fleet with many policies pays for unrelated ones unless they are left out.
//
// The analysis must never leave out a policy that could change a decision: a policy is left out of a
// request only when Cedar would find it not satisfied *without an error* (an error denies). That holds
// for its scope (the head never errors) and for the leading tests of its first `when` clause that are
// tests of the resource's type, kind or API group: `&&` stops at the first false operand, and those
// tests cannot error (strict validation proves `resource.kind` exists, the translation always writes
// it, and scoped-policy-set.ts checks requests against the same schema). Everything after the first
// other test is not read.
import type { PolicyJson } from '../cedar/index.js';

/** What a policy can apply to; `any` where its text does not narrow it. */
export interface PolicyScope {
  /** Action uids as `k8s::Action::"create"`, after expanding action groups. */
  actions: readonly string[] | 'any';
  resourceTypes: readonly string[] | 'any';
  /** Values of `resource.kind` it can apply to. */
  kinds: readonly string[] | 'any';
  /** Values of `resource.apiGroup` it can apply to. */
  apiGroups: readonly string[] | 'any';
  /** Which entities besides the resource (and its old version) it can read; see readsOf. */
  reads: readonly EntityPart[] | 'all';
  /**
   * The attribute names it reads (`x.name`, `x has name`), so attributes no policy of a request reads
   * need not be handed to Cedar; see attributesOf. Absent (sets built before it existed) means all.
   */
  attributes?: readonly string[] | 'all';
  /**
   * Tests of the request's attributes that lead its first `when` clause (after any narrowing tests): a
   * request that fails one of them cannot satisfy the policy, and Cedar would find so without an
   * error, so the policy need not be handed to Cedar for it; see guardsOf.
   */
  guards?: readonly Guard[];
  /**
   * Its conditions, in Cedar's JSON form, for conditions.ts to decide where it can (a request for which
   * they certainly hold, or certainly do not, need not be handed to Cedar). Absent: Cedar always decides.
   */
  conditions?: ReadonlyArray<{ kind: 'when' | 'unless'; body: unknown }>;
  /**
   * Whether it can ask which group an action is in (`action in k8s::Action::"write"`, or any `in` in
   * its conditions): only then does Cedar need the action's entity and its groups. Absent means it can.
   */
  actionGroups?: boolean;
}

/**
 * A test that leads a policy's first `when` clause, on a path of attributes from `resource` or `context`:
 * `P has A` (present: the path [...P, A]), `P` (true), `!P.isEmpty()` (non-empty).
 */
export type Guard =
  | { path: readonly string[]; test: 'present' | 'non-empty' | 'true' }
  /** `P == literal` / `P != literal`, for a String, Long or Bool literal. */
  | { path: readonly string[]; test: 'equals' | 'differs'; value: string | number | boolean };

/** A String, Long or Bool literal in Cedar's JSON expression form (`{Value: "x"}`), or undefined. */
function literalOf(expr: unknown): string | number | boolean | undefined {
  if (!isExpr(expr) || !('Value' in expr)) return undefined;
  const value = expr['Value'];
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}

/** Entities of a request other than the resource: the principal with its groups, and the fleet around the resource. */
export const ENTITY_PARTS = ['principal', 'cluster', 'namespace', 'workspace'] as const;
export type EntityPart = (typeof ENTITY_PARTS)[number];

/** What a request is, in the terms a PolicyScope uses. */
export interface RequestScope {
  action: string;
  resourceType: string;
  kind: string;
  apiGroup: string;
}

/** The schema's actions: each concrete action uid with the groups it is in, transitively. */
export type ActionGraph = ReadonlyMap<string, ReadonlySet<string>>;

interface UidJson {
  type: string;
  id: string;
}

export const uidKey = (uid: UidJson): string => `${uid.type}::${JSON.stringify(uid.id)}`;

interface SchemaAction {
  memberOf?: { id: string; type?: string }[] | null;
}

/** Reads the action hierarchy out of a schema in Cedar's JSON form (`cedar.schemaToJson`). */
export function actionGraphOf(schemaJson: unknown): ActionGraph {
  const parents = new Map<string, string[]>();
  const namespaces = typeof schemaJson === 'object' && schemaJson !== null ? Object.entries(schemaJson) : [];
  for (const [namespace, body] of namespaces) {
    const actionType = namespace ? `${namespace}::Action` : 'Action';
    const actions = (body as { actions?: Record<string, SchemaAction> }).actions ?? {};
    for (const [id, action] of Object.entries(actions)) {
      parents.set(
        uidKey({ type: actionType, id }),
        (action.memberOf ?? []).map((group) => uidKey({ type: group.type ?? actionType, id: group.id })),
      );
    }
  }
  const graph = new Map<string, Set<string>>();
  const ancestors = (action: string, seen: Set<string>): void => {
    for (const parent of parents.get(action) ?? []) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      ancestors(parent, seen);
    }
  };
  for (const action of parents.keys()) {
    const seen = new Set<string>();
    ancestors(action, seen);
    graph.set(action, seen);
  }
  return graph;
}

type Expr = Record<string, unknown>;

const isExpr = (value: unknown): value is Expr => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `resource.kind` or `resource.apiGroup`: which of the two the expression reads, if it is one of them. */
function resourceAttribute(expr: unknown): 'kind' | 'apiGroup' | undefined {
  if (!isExpr(expr) || !isExpr(expr['.'])) return undefined;
  const access = expr['.'];
  if (!isExpr(access['left']) || access['left']['Var'] !== 'resource') return undefined;
  return access['attr'] === 'kind' || access['attr'] === 'apiGroup' ? access['attr'] : undefined;
}

function stringLiteral(expr: unknown): string | undefined {
  return isExpr(expr) && typeof expr['Value'] === 'string' ? expr['Value'] : undefined;
}

/** The operands of a chain of `&&`, left to right (the order Cedar evaluates them in). */
function conjuncts(expr: unknown): unknown[] {
  if (isExpr(expr) && isExpr(expr['&&'])) return [...conjuncts(expr['&&']['left']), ...conjuncts(expr['&&']['right'])];
  return [expr];
}

/** A test that cannot error and narrows the resource: its type, kind or API group. */
type Narrowing = { on: 'resourceTypes' | 'kinds' | 'apiGroups'; values: string[] };

function narrowingOf(test: unknown): Narrowing | undefined {
  if (!isExpr(test)) return undefined;
  const is = test['is'];
  if (isExpr(is) && isExpr(is['left']) && is['left']['Var'] === 'resource' && typeof is['entity_type'] === 'string' && is['in'] === undefined) {
    return { on: 'resourceTypes', values: [is['entity_type']] };
  }
  const equals = test['=='];
  if (isExpr(equals)) {
    for (const [side, other] of [[equals['left'], equals['right']], [equals['right'], equals['left']]] as const) {
      const attribute = resourceAttribute(side);
      const value = stringLiteral(other);
      if (attribute && value !== undefined) return { on: attribute === 'kind' ? 'kinds' : 'apiGroups', values: [value] };
    }
    return undefined;
  }
  const contains = test['contains'];
  if (isExpr(contains) && isExpr(contains['left']) && Array.isArray(contains['left']['Set'])) {
    const attribute = resourceAttribute(contains['right']);
    const values = contains['left']['Set'].map(stringLiteral);
    if (attribute && values.every((value): value is string => value !== undefined)) {
      return { on: attribute === 'kind' ? 'kinds' : 'apiGroups', values };
    }
  }
  return undefined;
}

function intersect(current: readonly string[] | 'any', values: readonly string[]): readonly string[] {
  if (current === 'any') return [...new Set(values)];
  return current.filter((value) => values.includes(value));
}

/** The policy's scope. `actions` lists every action the schema declares; groups are expanded with `graph`. */
export function scopeOf(policy: PolicyJson, graph: ActionGraph): PolicyScope {
  let actions: readonly string[] | 'any' = 'any';
  let actionGroups = false;
  const head = policy.action as { op: string; entity?: UidJson; entities?: UidJson[] };
  if (head.op === '==' && head.entity) actions = [uidKey(head.entity)];
  else if (head.op === 'in') {
    const named = new Set((head.entities ?? (head.entity ? [head.entity] : [])).map(uidKey));
    actions = [...graph.keys()].filter((action) => named.has(action) || [...(graph.get(action) ?? [])].some((group) => named.has(group)));
    // A named action that is some action's group (or that the schema does not declare) needs the hierarchy.
    actionGroups = [...named].some((uid) => !graph.has(uid) || [...graph.values()].some((groups) => groups.has(uid)));
  }


  const scope: { resourceTypes: readonly string[] | 'any'; kinds: readonly string[] | 'any'; apiGroups: readonly string[] | 'any' } = {
    resourceTypes: 'any',
    kinds: 'any',
    apiGroups: 'any',
  };
  const resource = policy.resource as { op: string; entity_type?: string; entity?: UidJson };
  if (resource.op === 'is' && resource.entity_type) scope.resourceTypes = [resource.entity_type];
  else if (resource.op === '==' && resource.entity) scope.resourceTypes = [resource.entity.type];

  const first = policy.conditions?.[0];
  if (first?.kind === 'when') {
    for (const test of conjuncts(first.body)) {
      const narrowing = narrowingOf(test);
      if (!narrowing) break;
      scope[narrowing.on] = intersect(scope[narrowing.on], narrowing.values);
    }
  }
  const guards = first?.kind === 'when' ? guardsOf(first.body) : [];
  const reads = readsOf(policy);
  // Any `in` in a condition makes readsOf answer 'all' (so does an entity literal: counted too, to be safe).
  if (reads === 'all') actionGroups = true;
  const conditions = (policy.conditions ?? []).map((condition) => ({ kind: condition.kind, body: condition.body as unknown }));
  return { actions, ...scope, reads, attributes: attributesOf(policy), actionGroups, ...(guards.length > 0 ? { guards } : {}), conditions };
}

/**
 * Which entities a policy can read data of, so a request's entities can be sliced to those (Cedar's cost
 * per decision grows with the entities it is given). Conservative: an entity literal, or any `in` (which
 * walks the hierarchy), means every entity; `principal` means the principal and its groups; reading an
 * attribute called cluster, namespace or workspace (as `context.cluster` does) means that entity.
 */
export function readsOf(policy: PolicyJson): readonly EntityPart[] | 'all' {
  const reads = new Set<EntityPart>();
  const principal = policy.principal as { op: string };
  const resource = policy.resource as { op: string; in?: unknown };
  if (principal.op !== 'All') reads.add('principal');
  if (resource.op === 'in' || resource.in !== undefined) return 'all';
  let all = false;
  const walk = (node: unknown): void => {
    if (all || typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    const expr = node as Expr;
    if ('__entity' in expr || 'in' in expr) {
      all = true;
      return;
    }
    if (expr['Var'] === 'principal') reads.add('principal');
    for (const key of ['.', 'has'] as const) {
      const access = expr[key];
      if (isExpr(access) && typeof access['attr'] === 'string' && (ENTITY_PARTS as readonly string[]).includes(access['attr'])) {
        reads.add(access['attr'] as EntityPart);
      }
    }
    for (const value of Object.values(expr)) walk(value);
  };
  for (const condition of policy.conditions ?? []) walk(condition.body);
  return all ? 'all' : [...reads];
}

/** Records whose attributes a request may leave out when no policy reads them (scoped-policy-set.ts, slicedAttributes). */
const SLICED_RECORDS = new Set(['facts']);

/**
 * Every attribute name a policy reads, on whatever it reads it: a request keeps, of the context, of each
 * entity's attributes and of each entity's `facts` record, only attributes so named, and Cedar then
 * answers exactly as it would with all of them (an attribute no policy names cannot change a `.` or a
 * `has`). 'all' when the policy uses one of those records as a whole value (`context == ...`,
 * `resource.facts` passed on rather than read from), where leaving attributes out could change the answer.
 */
export function attributesOf(policy: PolicyJson): readonly string[] | 'all' {
  const names = new Set<string>();
  let all = false;
  /** Whether `expr` is the context or a sliced record (`….facts`), which may only be read from. */
  const isSlicedRecord = (expr: unknown): boolean =>
    isExpr(expr) && (expr['Var'] === 'context' || (isExpr(expr['.']) && typeof expr['.']['attr'] === 'string' && SLICED_RECORDS.has(expr['.']['attr'])));
  const walk = (node: unknown, readFrom: boolean): void => {
    if (all || typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, false);
      return;
    }
    const expr = node as Expr;
    if (!readFrom && isSlicedRecord(expr)) {
      all = true;
      return;
    }
    for (const [key, value] of Object.entries(expr)) {
      if ((key === '.' || key === 'has') && isExpr(value) && typeof value['attr'] === 'string') {
        names.add(value['attr']);
        walk(value['left'], true);
        continue;
      }
      walk(value, false);
    }
  };
  for (const condition of policy.conditions ?? []) walk(condition.body, false);
  return all ? 'all' : [...names].sort();
}

/** `resource.a.b` or `context.a.b` as [root, a, b], when `expr` is exactly such a path. */
function pathOf(expr: unknown): string[] | undefined {
  if (!isExpr(expr)) return undefined;
  if (expr['Var'] === 'resource' || expr['Var'] === 'context') return [expr['Var']];
  const access = expr['.'];
  if (!isExpr(access) || typeof access['attr'] !== 'string') return undefined;
  const left = pathOf(access['left']);
  return left ? [...left, access['attr']] : undefined;
}

/**
 * The attribute tests that lead a `when` clause: read left to right over its `&&` chain, past narrowing
 * tests (which the scope already accounts for), stopping at the first other test. `&&` stops at the
 * first false operand, so a request that fails one of them (while every test before it can be
 * reached) leaves the policy not satisfied: the policy can be left out for it. None of these tests
 * errors on a request the schema accepts (strict validation proves every path it reads without a `has`
 * exists); on one it does not, passesGuards keeps the policy, so Cedar reports the error.
 */
export function guardsOf(body: unknown): Guard[] {
  const guards: Guard[] = [];
  for (const test of conjuncts(body)) {
    if (narrowingOf(test)) continue;
    if (!isExpr(test)) break;
    const has = test['has'];
    const left = isExpr(has) ? pathOf(has['left']) : undefined;
    if (isExpr(has) && left && typeof has['attr'] === 'string') {
      guards.push({ path: [...left, has['attr']], test: 'present' });
      continue;
    }
    const path = pathOf(test);
    if (path && path.length > 1) {
      guards.push({ path, test: 'true' });
      continue;
    }
    const compared = guardComparison(test);
    if (compared) {
      guards.push(compared);
      continue;
    }
    const not = test['!'];
    const negated = isExpr(not) ? not['arg'] : undefined;
    const isEmpty = isExpr(negated) ? negated['isEmpty'] : undefined;
    const emptied = isExpr(isEmpty) ? pathOf(isEmpty['arg']) : undefined;
    if (emptied && emptied.length > 1) {
      guards.push({ path: emptied, test: 'non-empty' });
      continue;
    }
    break;
  }
  return guards;
}

/** `P == literal` or `P != literal` (either side), as a guard. */
function guardComparison(test: Record<string, unknown>): Guard | undefined {
  for (const [operator, kind] of [['==', 'equals'], ['!=', 'differs']] as const) {
    const operands = test[operator];
    if (!isExpr(operands)) continue;
    const [path, value] = pathOf(operands['left']) ? [pathOf(operands['left']), literalOf(operands['right'])] : [pathOf(operands['right']), literalOf(operands['left'])];
    if (path && path.length > 1 && value !== undefined) return { path, test: kind, value };
  }
  return undefined;
}

/** What guards read of a request: the resource's attributes and the context, as handed to Cedar. */
export interface GuardedRequest {
  resource: Readonly<Record<string, unknown>> | undefined;
  context: Readonly<Record<string, unknown>>;
  /**
   * The request's entities, for conditions.ts to follow a reference to one of them (`resource.old`) as
   * Cedar does; without them a path through an entity is unknown.
   */
  entities?: readonly { uid: unknown; attrs?: unknown; tags?: unknown }[];
  /** The resource's own entity, for its tags (`resource.hasTag`, `resource.getTag`). */
  resourceEntity?: { uid: unknown; attrs?: unknown; tags?: unknown };
}

/**
 * The value at the first `length` steps of `path` (all of it by default), or undefined where an attribute
 * on the way is absent or cannot be followed (an entity). Walks by index: it runs for every guard of
 * every policy that can apply, on every request, so it allocates nothing.
 */
function valueAt(request: GuardedRequest, path: readonly string[], length = path.length): unknown {
  let value: unknown = path[0] === 'resource' ? request.resource : request.context;
  for (let step = 1; step < length; step++) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || '__entity' in value || '__extn' in value) return undefined;
    const attr = path[step] as string;
    value = Object.hasOwn(value, attr) ? (value as Record<string, unknown>)[attr] : undefined;
  }
  return value;
}

/**
 * Whether a request passes a policy's guards: false only where Cedar would find a guard false without
 * an error. Anything it cannot tell (an absent attribute that a `has` did not test, a path through an
 * entity) passes, and Cedar decides.
 */
export function passesGuards(guards: readonly Guard[], request: GuardedRequest): boolean {
  for (const guard of guards) {
    const { path, test } = guard;
    if (test === 'present') {
      const record = valueAt(request, path, path.length - 1);
      if (typeof record !== 'object' || record === null || Array.isArray(record) || '__entity' in record) continue;
      if (!Object.hasOwn(record, path[path.length - 1] as string)) return false;
      continue;
    }
    const value = valueAt(request, path);
    if (test === 'true' && value === false) return false;
    if (test === 'non-empty' && Array.isArray(value) && value.length === 0) return false;
    if (test === 'equals' || test === 'differs') {
      // Only a value of the literal's own type decides; anything else (absent, an entity) is Cedar's to judge.
      const literal = guard.value;
      if (typeof value !== typeof literal) continue;
      if ((test === 'equals') !== (value === literal)) return false;
    }
  }
  return true;
}

/** Whether a policy with this scope can apply to the request (if not, Cedar would skip it without error). */
export function inScope(scope: PolicyScope, request: RequestScope): boolean {
  const admits = (allowed: readonly string[] | 'any', value: string) => allowed === 'any' || allowed.includes(value);
  return (
    admits(scope.actions, request.action) &&
    admits(scope.resourceTypes, request.resourceType) &&
    admits(scope.kinds, request.kind) &&
    admits(scope.apiGroups, request.apiGroup)
  );
}
