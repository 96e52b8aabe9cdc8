// The fleet part of Canopy's config (see src/operations/config): the cluster's identity, how to reach its API server, and the kcp
// workspace mapping. Each setting is declared once below, as a TypeBox schema with its flag, help and default: `canopy serve`'s
// config composes it, `FleetConfig` is derived from it, and every field is optional, an unknown one an error, not a silent no-op.
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { isRecord } from '../../kubernetes/objects/json.js';
import { CanopyError } from '../../operations/errors/index.js';
import { configMessage, schemaProblems } from '../schema-problems.js';

export class ConfigError extends CanopyError {
  constructor(file: string, message: string) {
    super('fleet-config', `${file}: ${message}`);
  }
}

export const DEFAULT_NAMESPACE_LOOKUP_MS = 1000;
export const DEFAULT_IMAGE_LOOKUP_MS = 2000;

const StringMap = (options: Record<string, unknown>) => Type.Record(Type.String(), Type.String(), options);
const WORKSPACE_PATH = '^[a-z0-9-]+(:[a-z0-9-]+)*$';

/**
 * The fleet settings, as keys of the config file. A leaf with a `flag` is a setting: `canopy serve`
 * also takes it as that flag and as CANOPY_<KEY> (src/operations/config/settings.ts).
 */
export const FLEET_SETTINGS = Type.Object(
  {
    cluster: Type.Object(
      {
        name: Type.Optional(Type.String({ flag: '--cluster-name', description: "this cluster's name" })),
        region: Type.Optional(Type.String({ flag: '--region', description: "this cluster's region" })),
        jurisdiction: Type.Optional(
          Type.String({
            pattern: '^([A-Za-z]{2}|EU)$',
            errorMessage: 'must be an ISO 3166-1 alpha-2 code (DE, FR, US) or EU',
            flag: '--jurisdiction',
            description: "this cluster's jurisdiction: an ISO 3166-1 alpha-2 code or EU",
          }),
        ),
        provider: Type.Optional(Type.String({ flag: '--provider', description: "this cluster's provider" })),
        environment: Type.Optional(Type.String({ flag: '--environment', description: "this cluster's environment" })),
        labels: StringMap({ default: {}, flag: '--cluster-labels', description: "this cluster's labels, a YAML map" }),
        clusterProperties: Type.Boolean({ default: true, flag: '--cluster-properties', description: 'read about.k8s.io ClusterProperty objects' }),
        clusterProfile: Type.Optional(
          Type.Object(
            { namespace: Type.String(), name: Type.String() },
            { additionalProperties: false, errorMessage: 'must be {namespace, name}', flag: '--cluster-profile', description: 'a ClusterProfile describing this cluster: {namespace: NS, name: NAME}' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    // Present only when given: a kubernetes section is what connects Canopy to a cluster outside one.
    kubernetes: Type.Optional(
      Type.Object(
        {
          kubeconfig: Type.Optional(Type.String({ flag: '--kubeconfig', description: 'read namespaces, nodes, storage classes and cluster properties through this kubeconfig' })),
          context: Type.Optional(Type.String({ flag: '--context', description: 'the kubeconfig context to use' })),
          namespaceLookupTimeoutMs: Type.Integer({
            minimum: 1,
            default: DEFAULT_NAMESPACE_LOOKUP_MS,
            flag: '--namespace-lookup-timeout',
            description: 'deadline for reading a namespace missing from the cache, in ms',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    registries: Type.Array(
      Type.Object(
        {
          host: Type.String({ minLength: 1 }),
          insecure: Type.Optional(Type.Boolean()),
          username: Type.Optional(Type.String()),
          password: Type.Optional(Type.String({ writeOnly: true })),
        },
        { additionalProperties: false, errorMessage: 'must be {host, insecure, username, password}' },
      ),
      { default: [], flag: '--registries', description: 'how to reach image registries: a YAML list of {host, insecure, username, password}' },
    ),
    imageLookupTimeoutMs: Type.Integer({ minimum: 1, default: DEFAULT_IMAGE_LOOKUP_MS, flag: '--image-lookup-timeout', description: 'how long one request may wait for registries, in ms' }),
    // Present only when given: kcp workspaces are looked up only where Canopy serves kcp.
    kcp: Type.Optional(
      Type.Object(
        {
          logicalClusters: Type.Record(Type.String(), Type.String({ pattern: WORKSPACE_PATH, errorMessage: 'must be a workspace path such as root:org:team' }), {
            default: {},
            flag: '--kcp-logical-clusters',
            description: 'kcp logical cluster → workspace path, a YAML map',
          }),
          workspaces: Type.Record(Type.String(), Type.Object({ labels: StringMap({ default: {} }) }, { additionalProperties: false }), {
            default: {},
            flag: '--kcp-workspaces',
            description: 'labels of kcp workspaces: a YAML map of path → {labels}',
          }),
          discover: Type.Boolean({ default: false, flag: '--kcp-discover', description: 'ask the API server for logical clusters not in the mapping' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The fleet settings as a checked file holds them, defaults filled in. */
export type FleetSettings = Static<typeof FLEET_SETTINGS>;
type KcpSettings = NonNullable<FleetSettings['kcp']>;

/** The fleet settings as Canopy uses them: a workspace's labels directly under its path. */
export type FleetConfig = Omit<FleetSettings, 'kcp'> & {
  kcp?: Omit<KcpSettings, 'workspaces'> & { workspaces: Record<string, Record<string, string>> };
};

/** Checked settings → the config Canopy uses: codes in upper case, host names in lower case, workspaces' labels by path. */
export function fleetConfigOf(settings: FleetSettings): FleetConfig {
  const { kcp, cluster, registries, ...rest } = settings;
  const config: FleetConfig = {
    ...rest,
    cluster: { ...cluster, ...(cluster.jurisdiction !== undefined ? { jurisdiction: cluster.jurisdiction.toUpperCase() } : {}) },
    registries: registries.map(({ host, insecure, ...access }) => ({ host: host.toLowerCase(), ...(insecure === true ? { insecure } : {}), ...access })),
  };
  if (kcp) {
    const workspaces = Object.fromEntries(Object.entries(kcp.workspaces).map(([path, entry]) => [path, entry.labels]));
    config.kcp = { ...kcp, workspaces };
  }
  return config;
}

/** YAML's `key:` with nothing after it is null: the same as leaving the key out. */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

export function parseFleetConfig(value: unknown, file = 'config'): FleetConfig {
  const given = withoutNulls(value ?? {});
  if (!isRecord(given)) throw new ConfigError(file, 'the config must be a map of keys to values');
  const filled = Value.Default(FLEET_SETTINGS, given);
  const problems = schemaProblems(FLEET_SETTINGS, filled);
  if (problems.length > 0) throw new ConfigError(file, problems.map(configMessage).join('; '));
  return fleetConfigOf(filled as FleetSettings);
}
