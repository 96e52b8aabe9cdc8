// A policy set as one thread's Cedar instance holds it: split by scope into small preparsed sets, one per
// group of requests that the same policies can apply to, made the first time such a request comes.
// A request then costs what its own policies cost, however many unrelated policies the set holds.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { cedar } from '../cedar/index.js';
import type { CedarRequest, Evaluation, PolicyKind } from './evaluate.js';
import { actionGraphOf, ENTITY_PARTS, inScope, passesGuards, uidKey, type EntityPart, type Guard, type GuardedRequest, type PolicyScope, type RequestScope } from './policy-scope.js';
import { conditionsHold } from './conditions.js';
import type { CedarValueJson, EntityJson } from '../cedar/index.js';
import { messageOf } from '../../operations/errors/index.js';

/** The implicit permit every validating bucket carries, so that what no forbid denies is allowed. */
export const IMPLICIT_ALLOW_ID = 'canopy.implicit-allow';
const IMPLICIT_ALLOW = 'permit (principal, action, resource);';

/** What a thread needs to evaluate a policy set: plain data, so it can be posted to a worker. */
export interface EnginePolicySet {
  revision: string;
  /** The schema in Cedar's JSON form, as text. */
  schemaText: string;
  cedarSchemaName: string;
  texts: Readonly<Record<string, string>>;
  mutationTexts: Readonly<Record<string, string>>;
  scopes: Readonly<Record<string, PolicyScope>>;
  mutationScopes: Readonly<Record<string, PolicyScope>>;
}

/**
 * A group of policies: the ones that can apply to some requests. Its Cedar set is preparsed in a thread
 * the first time that thread evaluates against it (a thread that only plans never does).
 */
interface Bucket {
  /** The id of its Cedar set in this thread; none when it holds no policy (nothing to evaluate). */
  setId?: string;
  /** Whether this thread has preparsed it. */
  preparsed: boolean;
  reads: ReadonlySet<EntityPart> | 'all';
  /** The attribute names its policies read (policy-scope.ts, attributesOf). */
  attributes: ReadonlySet<string> | 'all';
  /** Whether one of its policies can ask which group an action is in (then Cedar needs the action entities). */
  actionGroups: boolean;
  /** Requests evaluated with this set so far in this thread: which of them are checked against the schema. */
  evaluated: number;
  /** The policies, by id. */
  ids: readonly string[];
  /** Those of them with guards (policy-scope.ts, guardsOf) or conditions conditions.ts may decide, in order. */
  guarded: readonly { id: string; guards: readonly Guard[]; conditions?: PolicyScope['conditions'] }[];
  /**
   * The smaller sets for requests some of whose policies are decided without Cedar, by mask: one
   * character per guarded policy, '0' not satisfied, '2' satisfied (both left out of the set), '1' Cedar's.
   */
  subsets: Map<string, Bucket>;
}

/**
 * At most this many smaller sets per group of requests, and per thread, are prepared for requests that
 * fail guards (a Pod that breaks 4 of the 19 Pod Security controls is evaluated against those 4).
 * Past them a request is evaluated against its whole group, which answers the same: however many
 * combinations of facts requests bring, the sets a thread holds stay bounded.
 */
export const MAX_SUBSETS_PER_GROUP = 64;
export const MAX_SUBSETS = 512;

/**
 * Which requests are checked against the schema before they are evaluated: the first ones of each
 * group of requests that the same policies apply to, then one in SCHEMA_CHECK_EVERY.
 *
 * Why not every request: handing Cedar a request with its schema costs about 0.25 ms more than without
 * (cedar-wasm 4.13 types every value of the context and the entities against it; measured 630 vs 380 µs
 * for a Pod with the Pod Security facts), most of a decision. What the schema check guards against is a
 * translation that builds the wrong shape, and that is a property of Canopy's code, not of one request:
 * activation checks the warm-up requests, and the samples here catch a shape that only real traffic
 * brings. A request evaluated without the schema is still safe: the policies were validated strictly
 * against the schema, so a value of the wrong type makes the policies that read it fail, and a failing
 * policy counts as a hit (decision/decide.ts), which denies.
 */
export const SCHEMA_CHECKED_FIRST = 16;
export const SCHEMA_CHECK_EVERY = 64;

function checksSchema(bucket: Bucket): boolean {
  const n = bucket.evaluated;
  bucket.evaluated = n + 1;
  return n < SCHEMA_CHECKED_FIRST || n % SCHEMA_CHECK_EVERY === 0;
}

/** Requests of this many distinct shapes are remembered; beyond it, the least recent is worked out again. */
const MAX_REMEMBERED_SHAPES = 4096;

class ScopeBuckets {
  private readonly byShape = new LRUCache<string, Bucket>({ max: MAX_REMEMBERED_SHAPES });
  private readonly byContent = new Map<string, Bucket>();
  private nextSetIndex = 0;
  private subsetCount = 0;

  constructor(
    private readonly texts: Readonly<Record<string, string>>,
    private readonly scopes: Readonly<Record<string, PolicyScope>>,
    private readonly idPrefix: string,
    private readonly implicitAllow: boolean,
  ) {}

  get preparsed(): number {
    return [...this.byContent.values()].filter((bucket) => bucket.preparsed).length;
  }

  bucketFor(request: RequestScope): Bucket {
    const shape = `${request.action}\0${request.resourceType}\0${request.apiGroup}\0${request.kind}`;
    const known = this.byShape.get(shape);
    if (known) return known;
    const ids = Object.keys(this.texts).filter((id) => {
      const scope = this.scopes[id];
      return !scope || inScope(scope, request);
    });
    const bucket = this.bucketOf(ids);
    this.byShape.set(shape, bucket);
    return bucket;
  }

  /** The group of exactly these policies, made once. */
  private bucketOf(ids: readonly string[]): Bucket {
    const content = ids.join('\0');
    let bucket = this.byContent.get(content);
    if (!bucket) {
      const guarded = ids.flatMap((id) => {
        const scope = this.scopes[id];
        const guards = scope?.guards ?? [];
        return guards.length > 0 || (scope?.conditions?.length ?? 0) > 0 ? [{ id, guards, ...(scope?.conditions ? { conditions: scope.conditions } : {}) }] : [];
      });
      bucket = {
        // Ids are reused by the next set made in the same slot: Cedar cannot free a preparsed set, but
        // preparsing under an id replaces what it held, so reloads do not leak.
        ...(ids.length > 0 ? { setId: `${this.idPrefix}/${this.nextSetIndex++}` } : {}),
        preparsed: false,
        reads: this.union(ids, (scope) => scope?.reads),
        attributes: this.union(ids, (scope) => scope?.attributes),
        actionGroups: ids.some((id) => this.scopes[id]?.actionGroups !== false),
        evaluated: 0,
        ids,
        guarded,
        subsets: new Map(),
      };
      this.byContent.set(content, bucket);
    }
    return bucket;
  }

  /**
   * Which set to evaluate a request of `bucket`'s group against: without the policies the request is
   * decided for here (its guards fail, or conditions.ts finds its conditions certainly false: Cedar
   * would find it not satisfied without an error; or certainly true: Cedar would find it satisfied),
   * named by `mask` ('0', '2' or '1' per guarded policy, see Bucket.subsets); or, with the mask '',
   * the group's whole set, when nothing is decided here or the bound on smaller sets is reached.
   */
  narrowed(bucket: Bucket, request: GuardedRequest): { set: Bucket; mask: string } {
    if (bucket.guarded.length === 0) return { set: bucket, mask: '' };
    let mask = '';
    for (const { guards, conditions } of bucket.guarded) {
      const holds = !passesGuards(guards, request) ? false : conditions ? conditionsHold(conditions, request) : undefined;
      mask += holds === false ? '0' : holds === true ? '2' : '1';
    }
    if (!mask.includes('0') && !mask.includes('2')) return { set: bucket, mask: '' };
    const known = bucket.subsets.get(mask);
    if (known) return { set: known, mask };
    if (bucket.subsets.size >= MAX_SUBSETS_PER_GROUP || this.subsetCount >= MAX_SUBSETS) return { set: bucket, mask: '' };
    return { set: this.subset(bucket, mask), mask };
  }

  /** The policies a mask says are satisfied without asking Cedar ('2'). */
  decided(bucket: Bucket, mask: string): string[] {
    return bucket.guarded.filter((_, index) => mask[index] === '2').map(({ id }) => id);
  }

  /**
   * The smaller set a mask names. Another thread decided it (scoped-policy-set.ts, plan), within the bounds: it is
   * made here whatever this thread's own count, since this thread sees only some of that thread's requests.
   */
  subset(bucket: Bucket, mask: string): Bucket {
    if (mask === '') return bucket;
    const known = bucket.subsets.get(mask);
    if (known) return known;
    const decided = new Set(bucket.guarded.filter((_, index) => mask[index] !== '1').map(({ id }) => id));
    const subset = this.bucketOf(bucket.ids.filter((id) => !decided.has(id)));
    bucket.subsets.set(mask, subset);
    this.subsetCount += 1;
    return subset;
  }

  /** Preparses a set in this thread the first time it is evaluated against. Throws when Cedar refuses it. */
  prepare(bucket: Bucket): void {
    if (bucket.preparsed || !bucket.setId) return;
    const policies: Record<string, string> = {};
    for (const id of bucket.ids) policies[id] = this.texts[id] ?? '';
    if (this.implicitAllow) policies[IMPLICIT_ALLOW_ID] = IMPLICIT_ALLOW;
    const prepared = cedar.preparsePolicySet(bucket.setId, { staticPolicies: policies });
    if (prepared.type === 'failure') {
      throw new Error(`Cedar refused to preparse policies ${bucket.ids.join(', ')}: ${prepared.errors.map((e) => e.message).join('; ')}`);
    }
    bucket.preparsed = true;
  }

  /** What the policies `ids` read together; 'all' if any of them may read anything (or does not say). */
  private union<T extends string>(ids: readonly string[], of: (scope: PolicyScope | undefined) => readonly T[] | 'all' | undefined): ReadonlySet<T> | 'all' {
    const union = new Set<T>();
    for (const id of ids) {
      const read = of(this.scopes[id]) ?? 'all';
      if (read === 'all') return 'all';
      for (const item of read) union.add(item);
    }
    return union;
  }
}

/** The resource's entity, as the request hands it to Cedar. */
function resourceEntityOf(request: CedarRequest): EntityJson | undefined {
  // Canopy writes entity uids in the plain {type, id} form (translate/resource.ts).
  const wanted = keyOf(request.resource);
  return request.entities.find((entity) => keyOf(entity.uid) === wanted);
}

/** The resource's attributes, as the request hands them to Cedar. */
function resourceAttributesOf(request: CedarRequest): Readonly<Record<string, unknown>> | undefined {
  return resourceEntityOf(request)?.attrs as Record<string, unknown> | undefined;
}

/** The request's shape: its action, the resource's entity type, kind and API group. */
export function requestScopeOf(request: CedarRequest, attrs: Readonly<Record<string, unknown>> = resourceAttributesOf(request) ?? {}): RequestScope {
  return {
    action: uidKey(request.action),
    resourceType: request.resource.type,
    kind: typeof attrs['kind'] === 'string' ? attrs['kind'] : '',
    apiGroup: typeof attrs['apiGroup'] === 'string' ? attrs['apiGroup'] : '',
  };
}

type Uid = { type: string; id: string };
/** policy-scope.ts's key for a uid Canopy wrote in the plain {type, id} form. */
const keyOf = (uid: unknown): string => uidKey(uid as Uid);

/**
 * The request with only the entities its policies can read (policy-scope.ts, readsOf): the principal and its
 * groups, and the cluster, namespace and workspace around the resource, are left out when no policy in
 * the set reads them. The resource, and any entity its attributes name (its old version), always stay.
 * Cedar spends most of a decision turning entities into its own form, so this is most of its cost.
 */
export function sliced(request: CedarRequest, reads: ReadonlySet<EntityPart>, attributes: ReadonlySet<string> | 'all' = 'all'): CedarRequest {
  const byKey = new Map<string, EntityJson>();
  for (const entity of request.entities) byKey.set(keyOf(entity.uid), entity);
  /** An entity and its ancestors, as far as the request has them. */
  const closure = (start: unknown, into: Set<string>): void => {
    const key = keyOf(start);
    if (into.has(key)) return;
    into.add(key);
    for (const parent of byKey.get(key)?.parents ?? []) closure(parent, into);
  };
  const roots: Record<EntityPart, unknown> = {
    principal: request.principal,
    cluster: entityRefIn(request.context['cluster']),
    namespace: entityRefIn(request.context['namespace']),
    workspace: entityRefIn(request.context['workspace']),
  };
  const needed = new Set<string>();
  const unread = new Set<string>();
  for (const part of ENTITY_PARTS) {
    if (roots[part] === undefined) continue;
    closure(roots[part], reads.has(part) ? needed : unread);
  }
  // The resource, and whatever its attributes refer to (`old`) where a policy reads that attribute.
  const resource = byKey.get(keyOf(request.resource));
  needed.add(keyOf(request.resource));
  for (const [name, value] of Object.entries(resource?.attrs ?? {})) {
    const ref = entityRefIn(value);
    if (ref) (attributes === 'all' || attributes.has(name) ? needed : unread).add(keyOf(ref));
  }
  const entities = request.entities.filter((entity) => {
    const key = keyOf(entity.uid);
    return needed.has(key) || !unread.has(key);
  });
  return entities.length === request.entities.length ? request : { ...request, entities };
}

/** `record` with only the attributes named in `names`; the same object when nothing is left out. */
function only<V>(record: Record<string, V>, names: ReadonlySet<string>): Record<string, V> {
  let kept: Record<string, V> | undefined;
  const keys = Object.keys(record);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    if (names.has(key)) {
      if (kept) kept[key] = record[key] as V;
    } else if (!kept) {
      kept = {};
      for (const earlier of keys.slice(0, index)) kept[earlier] = record[earlier] as V;
    }
  }
  return kept ?? record;
}

/**
 * The request with only the attributes its policies name (policy-scope.ts, attributesOf): of the context, of
 * every entity and of every entity's `facts` record. Cedar spends most of a decision taking in the
 * values it is handed, about 3 µs each, whether a policy reads them or not.
 */
export function slicedAttributes(request: CedarRequest, names: ReadonlySet<string>): CedarRequest {
  const entities = request.entities.map((entity) => {
    const attrs = entity.attrs as Record<string, CedarValueJson>;
    const kept = only(attrs, names);
    const facts = kept['facts'];
    if (facts === undefined || typeof facts !== 'object' || facts === null || Array.isArray(facts) || '__entity' in facts || '__extn' in facts) {
      return kept === attrs ? entity : { ...entity, attrs: kept };
    }
    const keptFacts = only(facts as Record<string, CedarValueJson>, names);
    if (kept === attrs && keptFacts === facts) return entity;
    return { ...entity, attrs: { ...kept, facts: keptFacts } };
  });
  return { ...request, context: only(request.context, names), entities };
}

function entityRefIn(value: unknown): Uid | undefined {
  if (typeof value !== 'object' || value === null || !('__entity' in value)) return undefined;
  return (value as { __entity: Uid }).__entity;
}

const preparedSchemas = new Set<string>();

/** Cedar's answer when no policy is left to evaluate: the implicit permit alone. */
const nothingApplies = (): Evaluation => ({ ok: true, satisfied: [], errors: [] });

/** An evaluation with the policies decided satisfied without Cedar (conditions.ts) among its satisfied ones. */
/** Conformance answers (ScopedPolicySet.conformance) by schema and request digest, in this thread. */
const conformanceAnswers = new LRUCache<string, Evaluation>({ max: 4096 });

/** An answer that is handed out again: frozen, so no reader can change it for the next. */
function freezeEvaluation(evaluation: Evaluation): Evaluation {
  if (evaluation.ok) {
    Object.freeze(evaluation.satisfied);
    for (const error of evaluation.errors) Object.freeze(error);
    Object.freeze(evaluation.errors);
  }
  return Object.freeze(evaluation);
}

function withDecided(evaluation: Evaluation, decided: readonly string[]): Evaluation {
  return decided.length === 0 || !evaluation.ok ? evaluation : { ...evaluation, satisfied: [...evaluation.satisfied, ...decided].sort() };
}

/** What scoped-policy-set.ts's plan hands to the thread that evaluates: the group, the subset of it, the request. */
export interface PlannedEvaluation {
  shape: RequestScope;
  /** '' for the group's whole set, else one '0', '1' or '2' per guarded policy (ScopeBuckets.narrowed). */
  mask: string;
  request: CedarRequest;
  /** The whole request, when it is one of those checked against the schema (checksSchema) before it is evaluated. */
  check?: CedarRequest;
}

/** A policy set ready to evaluate in this thread. */
export class ScopedPolicySet {
  private readonly validating: ScopeBuckets;
  private readonly mutations: ScopeBuckets;
  private readonly conformanceSetId: string;
  /** Each action of the schema as entities: itself and the groups it is in, for evaluations without the schema. */
  private readonly actionEntities: ReadonlyMap<string, EntityJson[]>;

  /** `slot` names this thread's preparsed sets; a set prepared later in the same slot replaces them. */
  constructor(
    readonly set: EnginePolicySet,
    readonly slot: string,
  ) {
    if (!preparedSchemas.has(set.cedarSchemaName)) {
      const schema = cedar.preparseSchema(set.cedarSchemaName, JSON.parse(set.schemaText) as Parameters<typeof cedar.preparseSchema>[1]);
      if (schema.type === 'failure') throw new Error(`Cedar refused to preparse the schema: ${schema.errors.map((e) => e.message).join('; ')}`);
      preparedSchemas.add(set.cedarSchemaName);
    }
    this.actionEntities = actionEntities(set.schemaText);
    this.conformanceSetId = `${slot}/conformance`;
    const prepared = cedar.preparsePolicySet(this.conformanceSetId, { staticPolicies: { [IMPLICIT_ALLOW_ID]: IMPLICIT_ALLOW } });
    if (prepared.type === 'failure') throw new Error(`Cedar refused to preparse a permit: ${prepared.errors.map((e) => e.message).join('; ')}`);
    this.validating = new ScopeBuckets(set.texts, set.scopes, `${slot}/policies`, true);
    // Mutations are a set of their own: no implicit permit, so Cedar's reasons are exactly the mutations
    // whose condition holds.
    this.mutations = new ScopeBuckets(set.mutationTexts, set.mutationScopes, `${slot}/mutations`, false);
  }

  /** How many small sets this thread has preparsed so far. */
  get preparsedSets(): number {
    return this.validating.preparsed + this.mutations.preparsed;
  }

  evaluate(request: CedarRequest, kind: PolicyKind): Evaluation {
    const planned = this.plan(request, kind);
    return 'evaluation' in planned ? planned.evaluation : this.evaluatePlanned(planned, kind);
  }

  /**
   * Everything about an evaluation but the Cedar call, without calling Cedar (but for the requests
   * checked against the schema): which policies the request is evaluated against, and the request as
   * Cedar is handed it (only the entities and attributes those policies read); or the answer, when no
   * policy is left or the schema refuses the request. The main thread plans, a worker evaluates the plan
   * (evaluatePlanned) with the same policy set: what crosses between them is only what Cedar reads.
   */
  plan(request: CedarRequest, kind: PolicyKind): { evaluation: Evaluation } | PlannedEvaluation {
    const buckets = kind === 'validating' ? this.validating : this.mutations;
    const resourceEntity = resourceEntityOf(request);
    const resource = resourceEntity?.attrs as Record<string, unknown> | undefined;
    const shape = requestScopeOf(request, resource ?? {});
    const bucket = buckets.bucketFor(shape);
    // No policy can apply: Cedar would answer with the implicit permit alone, so it is not asked.
    if (!bucket.setId) return { evaluation: nothingApplies() };
    // The check itself (a Cedar call of about 0.6 ms) is left to whoever evaluates the plan.
    const check = checksSchema(bucket);
    const { set, mask } = buckets.narrowed(bucket, { resource, context: request.context, entities: request.entities, ...(resourceEntity ? { resourceEntity } : {}) });
    if (!set.setId) {
      const decided = buckets.decided(bucket, mask);
      return { evaluation: withDecided(check ? this.conformance(request) : nothingApplies(), decided) };
    }
    // Entities first: which of them are read is found from the context's references, before the
    // attributes no policy reads (those references among them) are left out.
    const entities = set.reads === 'all' ? request : sliced(request, set.reads, set.attributes);
    return { shape, mask, request: set.attributes === 'all' ? entities : slicedAttributes(entities, set.attributes), ...(check ? { check: request } : {}) };
  }

  /** Evaluates a plan (from this thread's plan, or another's with the same policy set). */
  evaluatePlanned(planned: PlannedEvaluation, kind: PolicyKind): Evaluation {
    if (planned.check) {
      const conforms = this.conformance(planned.check);
      if (!conforms.ok) return conforms;
    }
    const buckets = kind === 'validating' ? this.validating : this.mutations;
    const bucket = buckets.bucketFor(planned.shape);
    const set = buckets.subset(bucket, planned.mask);
    const decided = buckets.decided(bucket, planned.mask);
    if (!set.setId) return withDecided(nothingApplies(), decided);
    try {
      buckets.prepare(set);
    } catch (error) {
      return { ok: false, message: messageOf(error) };
    }
    return withDecided(this.ask(set.setId, planned.request, set.actionGroups ? 'action entities' : 'plain'), decided);
  }

  /**
   * Whether the schema accepts the request and its entities, whatever policies apply: evaluated against
   * the implicit permit alone. Activation runs it so a schema that no longer accepts what Canopy builds
   * is refused at load time, even for requests no policy looks at.
   */
  conformance(request: CedarRequest): Evaluation {
    // The answer depends on the schema and the request alone. Every activation checks the same warm-up
    // requests, and a set's own test cases the same requests, against a schema that rarely changes
    // between reloads: those come back from here rather than from Cedar (about 0.6 ms each).
    const key = `${this.set.cedarSchemaName}\0${createHash('sha256').update(JSON.stringify(request)).digest('base64')}`;
    const known = conformanceAnswers.get(key);
    if (known) return known;
    const answer = this.ask(this.conformanceSetId, request, 'schema');
    const result: Evaluation = answer.ok ? answer : { ok: false, message: `the request does not match the policy schema: ${answer.message}` };
    conformanceAnswers.set(key, freezeEvaluation(result));
    return result;
  }

  /**
   * One Cedar call. 'schema': Cedar parses the request against the schema and refuses what does not
   * match it (a translation bug is then a clear failure, not a skipped rule). Otherwise it is evaluated
   * as it is, with 'action entities' the action's entity and its groups added (what the schema would
   * supply: `create in write`) for sets whose policies ask about them (policy-scope.ts, actionGroups).
   */
  private ask(setId: string, request: CedarRequest, mode: 'schema' | 'action entities' | 'plain'): Evaluation {
    let answer;
    try {
      answer = cedar.statefulIsAuthorized({
        principal: request.principal,
        action: request.action,
        resource: request.resource,
        context: request.context,
        entities: mode === 'action entities' ? [...request.entities, ...(this.actionEntities.get(uidKey(request.action)) ?? [])] : request.entities,
        preparsedPolicySetId: setId,
        ...(mode === 'schema' ? { preparsedSchemaName: this.set.cedarSchemaName, validateRequest: true } : {}),
      });
    } catch (error) {
      return { ok: false, message: `Cedar engine error: ${messageOf(error)}` };
    }
    if (answer.type === 'failure') {
      return { ok: false, message: answer.errors.map((e) => e.message).join('; ') || 'Cedar answered failure' };
    }
    const { reason, errors } = answer.response.diagnostics;
    return {
      ok: true,
      satisfied: reason.filter((id) => id !== IMPLICIT_ALLOW_ID),
      errors: errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
    };
  }
}

/** A uidKey (policy-scope.ts) back as the uid it was made from: `k8s::Action::"create"`. */
function uidOfKey(key: string): Uid {
  const at = key.lastIndexOf('::"');
  return { type: key.slice(0, at), id: JSON.parse(key.slice(at + 2)) as string };
}

/**
 * Each action a Cedar JSON schema declares, by uidKey, as the entities Cedar derives from the schema
 * when it is given one: the action and the groups it is in (`action create in [write]`), each with
 * its groups as parents (transitively: `in` answers the same).
 */
function actionEntities(schemaText: string): Map<string, EntityJson[]> {
  const graph = actionGraphOf(JSON.parse(schemaText));
  const entityOf = (key: string): EntityJson => ({ uid: uidOfKey(key), attrs: {}, parents: [...(graph.get(key) ?? [])].map(uidOfKey) });
  return new Map([...graph].map(([action, groups]) => [action, [action, ...groups].map(entityOf)]));
}
