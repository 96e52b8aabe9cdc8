// Which webhook entries of an admission webhook configuration the API server would call for a request,
// decided as kube-apiserver decides it (k8s.io/apiserver, plugin/webhook: predicates/rules,
// predicates/namespace, predicates/object, and matchconditions). Only what the shipped configurations
// use is modelled: matchPolicy Equivalent is not (each request names the group/version it was sent as),
// and a matchCondition that errors counts as a match, since with failurePolicy Fail the API server
// then refuses the write as if Canopy had been called and failed.
import type { AdmissionWebhook, LabelSelector } from './webhooks.js';

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}

/** What the API server knows of a request when it picks the webhooks to call. */
export interface RequestAttributes {
  group: string;
  version: string;
  resource: string;
  subResource: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  /** '' for cluster-scoped objects. */
  namespace: string;
  name: string;
  userInfo: { username: string; groups?: string[] };
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  /** The labels of the request's namespace (kubernetes.io/metadata.name is added). */
  namespaceLabels?: Record<string, string>;
}

/** Evaluates one matchCondition's CEL expression; throws when the expression errors. */
export type ConditionEvaluator = (expression: string, variables: Record<string, unknown>) => unknown;

const anyOf = (allowed: readonly string[], value: string) => allowed.includes('*') || allowed.includes(value);

function splitResource(resource: string): [string, string] {
  const slash = resource.indexOf('/');
  return slash < 0 ? [resource, ''] : [resource.slice(0, slash), resource.slice(slash + 1)];
}

/** predicates/rules: group, version, operation, resource/subresource and scope. */
export function ruleMatches(rule: WebhookRule, request: RequestAttributes): boolean {
  if (!anyOf(rule.apiGroups, request.group) || !anyOf(rule.apiVersions, request.version)) return false;
  if (!anyOf(rule.operations, request.operation)) return false;
  const resourceMatches = rule.resources.some((entry) => {
    const [resource, sub] = splitResource(entry);
    return (resource === '*' || resource === request.resource) && (sub === '*' || sub === request.subResource);
  });
  if (!resourceMatches) return false;
  // Namespaces are cluster-scoped; a request without a namespace is too.
  const clusterScoped = request.namespace === '' || (request.group === '' && request.resource === 'namespaces');
  const scope = rule.scope ?? '*';
  return scope === '*' || (scope === 'Cluster' ? clusterScoped : !clusterScoped);
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const ok =
      operator === 'In' ? has && values.includes(labels[key] as string)
      : operator === 'NotIn' ? !has || !values.includes(labels[key] as string)
      : operator === 'Exists' ? has
      : operator === 'DoesNotExist' ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

const labelsOf = (object: Record<string, unknown> | null | undefined): Record<string, string> =>
  ((object?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {});

/** predicates/namespace: namespaced objects by their namespace's labels, Namespaces by their own. */
function namespaceSelectorMatches(webhook: AdmissionWebhook, request: RequestAttributes): boolean {
  const isNamespace = request.group === '' && request.resource === 'namespaces' && request.subResource === '';
  if (isNamespace) {
    const object = request.operation === 'DELETE' ? request.oldObject : request.object;
    return selectorMatches(webhook.namespaceSelector, { ...labelsOf(object), 'kubernetes.io/metadata.name': request.name });
  }
  // Any other cluster-scoped object: the namespaceSelector does not apply, it is always sent.
  if (request.namespace === '') return true;
  return selectorMatches(webhook.namespaceSelector, { ...request.namespaceLabels, 'kubernetes.io/metadata.name': request.namespace });
}

/** predicates/object: the object or the old object must match. */
function objectSelectorMatches(webhook: AdmissionWebhook, request: RequestAttributes): boolean {
  if (!webhook.objectSelector) return true;
  return [request.object, request.oldObject].some((object) => object && selectorMatches(webhook.objectSelector, labelsOf(object)));
}

function conditionsMatch(webhook: AdmissionWebhook, request: RequestAttributes, evaluate: ConditionEvaluator): boolean {
  const conditions = webhook.matchConditions ?? [];
  const variables = {
    object: request.object ?? null,
    oldObject: request.oldObject ?? null,
    request: {
      kind: { group: request.group, version: request.version, kind: '' },
      resource: { group: request.group, version: request.version, resource: request.resource },
      subResource: request.subResource,
      name: request.name,
      namespace: request.namespace,
      operation: request.operation,
      userInfo: request.userInfo,
    },
  };
  for (const { expression } of conditions) {
    let result: unknown;
    try {
      result = evaluate(expression, variables);
    } catch {
      return true; // an error under failurePolicy Fail refuses the write: as bad as being called
    }
    if (result !== true) return false;
  }
  return true;
}

/** The names of the webhook entries the API server would call for `request`. */
export function webhooksCalled(webhooks: readonly AdmissionWebhook[], request: RequestAttributes, evaluate: ConditionEvaluator): string[] {
  return webhooks
    .filter(
      (webhook) =>
        (webhook.rules as unknown as WebhookRule[]).some((rule) => ruleMatches(rule, request)) &&
        namespaceSelectorMatches(webhook, request) &&
        objectSelectorMatches(webhook, request) &&
        conditionsMatch(webhook, request, evaluate),
    )
    .map((webhook) => webhook.name);
}
