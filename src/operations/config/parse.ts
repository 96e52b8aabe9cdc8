// The config `canopy serve` runs with, checked against its schema (settings.ts): every key known, every
// value of its type, defaults filled in. Its type is derived from the same schema.
import type { Static } from 'typebox';
import { Value } from 'typebox/value';
import { ConfigError, fleetConfigOf, withoutNulls, type FleetConfig } from '../../facts/fleet/index.js';
import { configMessage, schemaProblems } from '../../facts/schema-problems.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { CONFIG_SCHEMA, type CanaryRequest } from './settings.js';

export { DEFAULT_BODY_LIMIT, DEFAULT_MAX_IN_FLIGHT, LOG_LEVELS, type LogLevel } from './settings.js';

/** The config file as checked, defaults filled in. */
type ConfigSettings = Static<typeof CONFIG_SCHEMA>;
type FleetKey = 'cluster' | 'kubernetes' | 'kcp' | 'registries' | 'imageLookupTimeoutMs';
type BundleSettings = NonNullable<ConfigSettings['bundle']>;
type FleetBudgetSettings = NonNullable<ConfigSettings['fleetBudgets']>;

/** The fleet store of fleet-wide budgets: there is one with a kubeconfig or inCluster. */
export type FleetBudgetConfig = FleetBudgetSettings;

export type BootstrapTlsConfig = ConfigSettings['tls']['bootstrap'];

/** A bundle store to take policies from: there is one when `bundle.url` is set. */
export type BundleConfig = Omit<BundleSettings, 'url' | 'canaries'> & {
  url: string;
  /** Requests every bundle must allow; absent: the built-in canaries. */
  canaries?: Static<typeof CanaryRequest>[];
};

/** The config as Canopy uses it: the fleet's settings together under `fleet`, `bundle` only with a store. */
export type CanopyConfig = Omit<ConfigSettings, FleetKey | 'bundle' | 'fleetBudgets'> & { bundle?: BundleConfig; fleetBudgets?: FleetBudgetConfig; fleet: FleetConfig };

/** The namespace a pod runs in, as Kubernetes mounts it with the service account. */
export const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function bundleConfigOf(settings: BundleSettings | undefined): BundleConfig | undefined {
  if (settings?.url === undefined) return undefined;
  const { url, canaries, ...rest } = settings;
  // A canary is an object, or an object with its namespace's labels: the list holds the latter only.
  const requests = canaries?.map((canary) => ('kind' in canary ? { object: canary } : canary));
  return { ...rest, url, ...(requests ? { canaries: requests } : {}) };
}

/**
 * The pod's namespace is a default of its own, below a value the config gives and above the schema's
 * (canopy-system, for a Canopy that runs outside a pod). A tls or bootstrap that is no map is left for
 * the schema to refuse.
 */
function withPodNamespace(given: Record<string, unknown>, podNamespace: string): Record<string, unknown> {
  const tls = given['tls'] ?? {};
  if (!isRecord(tls)) return given;
  const bootstrap = tls['bootstrap'] ?? {};
  if (!isRecord(bootstrap) || bootstrap['namespace'] !== undefined) return given;
  return { ...given, tls: { ...tls, bootstrap: { ...bootstrap, namespace: podNamespace } } };
}

/**
 * Checks a config (the file, one environment variable, one flag, or all merged) and fills in defaults.
 * `label` names where it came from in every error; `podNamespace` is the bootstrap's default namespace.
 */
export function parseCanopyConfig(value: unknown, label: string, podNamespace?: string): CanopyConfig {
  const given = withoutNulls(value ?? {});
  if (!isRecord(given)) throw new ConfigError(label, 'the config must be a map of keys to values');
  const filled = Value.Default(CONFIG_SCHEMA, podNamespace === undefined ? given : withPodNamespace(given, podNamespace));
  const problems = schemaProblems(CONFIG_SCHEMA, filled);
  if (problems.length > 0) throw new ConfigError(label, problems.map(configMessage).join('; '));
  const { cluster, kubernetes, kcp, registries, imageLookupTimeoutMs, bundle, fleetBudgets, ...serve } = filled as ConfigSettings;
  const fleet = fleetConfigOf({ cluster, registries, imageLookupTimeoutMs, ...(kubernetes ? { kubernetes } : {}), ...(kcp ? { kcp } : {}) });
  const bundleConfig = bundleConfigOf(bundle);
  const fleetStore = fleetBudgets && (fleetBudgets.kubeconfig !== undefined || fleetBudgets.inCluster) ? fleetBudgets : undefined;
  return { ...serve, fleet, ...(bundleConfig ? { bundle: bundleConfig } : {}), ...(fleetStore ? { fleetBudgets: fleetStore } : {}) };
}

/** What only the merged config can tell: settings that must go together or exclude each other. */
export function checkCombinations(config: CanopyConfig, label: string): void {
  const fail = (message: string): never => {
    throw new ConfigError(label, message);
  };
  if ((config.tls.certFile === undefined) !== (config.tls.keyFile === undefined)) fail('tls.certFile (--tls-cert) and tls.keyFile (--tls-key) go together');
  if (config.tls.bootstrap.enabled && config.tls.certFile) fail('tls.bootstrap.enabled (--bootstrap-tls) and tls.certFile (--tls-cert) exclude each other: pick one source of the serving certificate');
  if (config.fleetBudgets?.inCluster && config.fleetBudgets.kubeconfig !== undefined) {
    fail('fleetBudgets.inCluster (--fleet-in-cluster) and fleetBudgets.kubeconfig (--fleet-kubeconfig) exclude each other: pick one way to the fleet store');
  }
  if (config.bundle && config.bundle.publicKeyFiles.length + config.bundle.publicKeys.length === 0) {
    fail('bundle.url (--bundle) needs a trusted key in bundle.publicKeyFiles (--bundle-pub) or bundle.publicKeys: a bundle is only activated when a trusted key signed it');
  }
}
