// What templates can read ({{ ... }} in mutation annotations and in @advice): the request, the object,
// the facts Cedar sees about it, its namespace, cluster and workspace, its sovereignty facts, and the
// policy data.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { TemplateRoots } from '../templates/index.js';
import { resourceEntities, UNKNOWN_CLUSTER, type RequestFacts } from '../translate/index.js';
import { quotaWords } from '../../facts/quota/facts.js';

// Copies of per-request objects are made with Object.assign here, not with object spread ({ ...a, b }):
// V8 kept the spread copies, and everything they referenced, through young-generation collections. In a
// loop of review() over the benchmark's requests, the worker's promotion to the old generation went from
// 2.7 MB/s to 0.25 MB/s once this module's spreads were gone (node --trace-gc-nvp), which is what it
// promotes with advice not rendered at all.

/** The facts Cedar policies see about the object (all but `old`), with its labels as `labels`. */
function resourceFacts(request: AdmissionRequest, object: unknown, facts: RequestFacts): Record<string, unknown> {
  const { resource, entities } = resourceEntities(Object.assign({}, request, { object, oldObject: null }), facts);
  const entity = entities.find((e) => 'type' in e.uid && e.uid.type === resource.type && e.uid.id === resource.id);
  const out: Record<string, unknown> = {};
  const attrs = entity?.attrs ?? {};
  for (const key of Object.keys(attrs)) if (key !== 'old') out[key] = attrs[key];
  out['labels'] = entity?.tags ?? {};
  return out;
}

/**
 * A class, not an object literal with a getter: V8 kept everything such a literal referenced (the
 * request's whole parsed object among it) alive through young-generation collections, so each request
 * was copied and promoted to the old generation (1.3 MB promoted at each scavenge of a worker judging
 * the benchmark's requests, where nothing else promoted more than 30 kB).
 */
class RequestTemplateContext implements TemplateRoots {
  readonly request: Readonly<Record<string, unknown>>;
  readonly namespace: { name: string; labels: Readonly<Record<string, string>> };
  readonly cluster: unknown;
  readonly workspace?: unknown;
  readonly sovereignty?: unknown;
  readonly supplyChain?: unknown;
  #resource: Record<string, unknown> | undefined;
  #quota: Record<string, unknown> | undefined;

  constructor(
    private readonly admission: AdmissionRequest,
    readonly object: unknown,
    private readonly facts: RequestFacts,
    readonly data: Readonly<Record<string, unknown>>,
  ) {
    this.request = {
      uid: admission.uid,
      name: admission.name,
      namespace: admission.namespace,
      operation: admission.operation,
      kind: admission.kind,
      resource: admission.resource,
      subResource: admission.subResource,
      userInfo: admission.userInfo,
      dryRun: admission.dryRun,
    };
    this.namespace = { name: admission.namespace, labels: facts.namespaceLabels ?? {} };
    this.cluster = facts.cluster ?? UNKNOWN_CLUSTER;
    if (facts.workspace) this.workspace = Object.assign({}, facts.workspace, { labels: facts.workspace.labels[facts.workspace.path] ?? {} });
    if (facts.sovereignty) this.sovereignty = facts.sovereignty;
    if (facts.supplyChain) this.supplyChain = Object.assign({}, facts.supplyChain.cedar, { pins: facts.supplyChain.pins, unpinnedReason: facts.supplyChain.unpinnedReason });
  }

  /** Computed only when a template reads it, and then once: every {{ resource.… }} of every hit reads it. */
  get resource(): Record<string, unknown> {
    this.#resource ??= resourceFacts(this.admission, this.object, this.facts);
    return this.#resource;
  }

  /** The quota facts in words (quotaWords), made only when a template reads them; absent without quota facts. */
  get quota(): Record<string, unknown> | undefined {
    if (this.facts.quota) this.#quota ??= quotaWords(this.facts.quota);
    return this.#quota;
  }
}

export function templateContext(request: AdmissionRequest, object: unknown, facts: RequestFacts, data: Readonly<Record<string, unknown>>): TemplateRoots {
  return new RequestTemplateContext(request, object, facts, data);
}
