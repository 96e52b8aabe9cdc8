// Which webhooks a bundle is for: its signed manifest names a channel (`prod`) and/or a selector over
// the cluster's identity. A webhook configured with a channel accepts only bundles of that channel; a
// webhook without one accepts only bundles without one; a selector must match the cluster as it is now.
import type { ClusterIdentity } from '../../kubernetes/objects/fleet.js';

export interface SelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** Kubernetes' label selector, over the identity fields (IDENTITY_KEYS) and the cluster's labels. */
export interface ClusterSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: SelectorRequirement[];
}

export interface BundleAudience {
  channel?: string;
  clusters?: ClusterSelector;
}

/** Selector keys that name a field of the identity; any other key is a cluster label. */
export const IDENTITY_KEYS = ['name', 'region', 'jurisdiction', 'environment', 'provider'] as const;

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringMap = (value: unknown): value is Record<string, string> => isRecord(value) && Object.values(value).every((v) => typeof v === 'string');

/** Why `value` is not an audience, or undefined when it is one. */
export function audienceProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'audience must be a map with channel and/or clusters';
  const unknown = Object.keys(value).filter((k) => k !== 'channel' && k !== 'clusters');
  if (unknown.length > 0) return `audience has unknown field ${unknown.join(', ')} (it has channel, clusters)`;
  if (value['channel'] !== undefined && (typeof value['channel'] !== 'string' || value['channel'] === '')) return 'audience.channel must be a non-empty string';
  const clusters = value['clusters'];
  if (clusters === undefined) return undefined;
  if (!isRecord(clusters) || Object.keys(clusters).some((k) => k !== 'matchLabels' && k !== 'matchExpressions')) return 'audience.clusters must be a selector: {matchLabels, matchExpressions}';
  if (clusters['matchLabels'] !== undefined && !isStringMap(clusters['matchLabels'])) return 'audience.clusters.matchLabels must map keys to strings';
  const expressions = clusters['matchExpressions'];
  if (expressions !== undefined) {
    if (!Array.isArray(expressions)) return 'audience.clusters.matchExpressions must be a list';
    for (const e of expressions) {
      if (!isRecord(e) || typeof e['key'] !== 'string' || typeof e['operator'] !== 'string' || !OPERATORS.includes(e['operator'])) {
        return `audience.clusters.matchExpressions: each is {key, operator: ${OPERATORS.join('|')}, values}`;
      }
      const values = e['values'];
      const needsValues = e['operator'] === 'In' || e['operator'] === 'NotIn';
      if (needsValues && (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string'))) return `audience.clusters.matchExpressions: ${e['key']} ${e['operator']} needs values`;
      if (!needsValues && values !== undefined && (!Array.isArray(values) || values.length > 0)) return `audience.clusters.matchExpressions: ${e['key']} ${e['operator']} takes no values`;
    }
  }
  return undefined;
}

/** The value of a selector key for a cluster: an identity field ('' is unknown, so absent), else a label. */
function valueOf(identity: ClusterIdentity, key: string): string | undefined {
  if ((IDENTITY_KEYS as readonly string[]).includes(key)) {
    const value = identity[key as (typeof IDENTITY_KEYS)[number]];
    return value === '' ? undefined : value;
  }
  return Object.hasOwn(identity.labels, key) ? identity.labels[key] : undefined;
}

/** The requirements of the selector the cluster does not meet, each said in words; [] when it matches. */
export function selectorMismatches(selector: ClusterSelector, identity: ClusterIdentity): string[] {
  const misses: string[] = [];
  for (const [key, want] of Object.entries(selector.matchLabels ?? {})) {
    const have = valueOf(identity, key);
    if (have !== want) misses.push(`${key}=${want} (the cluster has ${have === undefined ? 'none' : `${key}=${have}`})`);
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const have = valueOf(identity, key);
    const ok =
      operator === 'Exists' ? have !== undefined
      : operator === 'DoesNotExist' ? have === undefined
      : operator === 'In' ? have !== undefined && values.includes(have)
      : have === undefined || !values.includes(have);
    if (!ok) misses.push(`${key} ${operator}${values.length > 0 ? ` (${values.join(', ')})` : ''} (the cluster has ${have === undefined ? 'none' : `${key}=${have}`})`);
  }
  return misses;
}

/**
 * Why this webhook (its channel, its cluster now) is not the bundle's audience; undefined when it is.
 * `identity` undefined: the webhook cannot tell which cluster it is, so a bundle with a selector is refused.
 */
export function audienceRefusal(audience: BundleAudience | undefined, channel: string | undefined, identity: ClusterIdentity | undefined): string | undefined {
  const bundleChannel = audience?.channel;
  if (channel !== undefined && bundleChannel !== channel) {
    return bundleChannel === undefined
      ? `the bundle names no channel, and this webhook takes only channel "${channel}" bundles`
      : `the bundle is for channel "${bundleChannel}", and this webhook takes only channel "${channel}" bundles`;
  }
  if (channel === undefined && bundleChannel !== undefined) {
    return `the bundle is for channel "${bundleChannel}", and this webhook has no bundle.channel: set bundle.channel (--bundle-channel) to ${bundleChannel} to take it`;
  }
  const selector = audience?.clusters;
  if (selector) {
    if (!identity) return 'the bundle is for selected clusters, and this webhook does not know its cluster identity';
    const misses = selectorMismatches(selector, identity);
    if (misses.length > 0) return `the bundle is for other clusters: cluster ${identity.name} does not match ${misses.join('; ')}`;
  }
  return undefined;
}

/** `--cluster-selector`: `key=value,key=value` (matchLabels), or a selector as YAML/JSON (`{matchExpressions: ...}`). */
export function parseSelectorText(text: string, parseYaml: (text: string) => unknown): ClusterSelector {
  const trimmed = text.trim();
  const selector: unknown = trimmed.startsWith('{')
    ? parseYaml(trimmed)
    : {
        matchLabels: Object.fromEntries(
          trimmed.split(',').map((pair) => {
            const at = pair.indexOf('=');
            if (at <= 0) throw new Error(`"${pair}" is not key=value`);
            return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
          }),
        ),
      };
  const problem = audienceProblem({ clusters: selector });
  if (problem) throw new Error(problem);
  return selector as ClusterSelector;
}
