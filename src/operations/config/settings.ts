// Every setting of `canopy serve`, once: a TypeBox schema per key of the --config file that gives its
// type, range or allowed values, default and help, and names its flag. The environment variable is the
// key in upper snake case. The three are one namespace, so an operator can move a value between them
// without learning a second vocabulary. The config's TypeScript type is derived from these schemas
// (parse.ts), its defaults are theirs, it is checked against them, and `canopy serve --help` prints them.
import { availableParallelism } from 'node:os';
import { Type, type TSchema } from 'typebox';
import { FLEET_SETTINGS } from '../../facts/fleet/index.js';
import { DEFAULT_FLEET_TIMEOUT_MS, DEFAULT_LEASE_SECONDS } from '../../facts/fleet-budgets/index.js';
import { DEFAULT_FLEET_NAMESPACE } from '../../kubernetes/objects/fleet-budget.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { DEFAULT_DECISION_CACHE_SIZE } from '../../pipeline/decision-cache.js';
import { DEFAULT_DEADLINE_MS } from '../../pipeline/deadline.js';
import { DEFAULT_MAX_CONNECTIONS_PER_REGISTRY } from '../../sources/oci/client.js';
import { DEFAULT_MAX_CONCURRENT_LOOKUPS, DEFAULT_MAX_LOOKUPS_PER_REQUEST, DEFAULT_MAX_LOOKUPS_PER_TENANT } from '../../facts/supply-chain/enrich.js';

/** Requests judged at once before new ones are turned away (429): about 0.2 s of work at full speed. */
export const DEFAULT_MAX_IN_FLIGHT = 512;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * An AdmissionReview holds the object and, on UPDATE, the old object: each can be up to etcd's 1.5 MiB,
 * so the default leaves room for two of them and the envelope.
 */
export const DEFAULT_BODY_LIMIT = 6 * 1024 * 1024;

const KUBERNETES_NAME = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const objectName = (flag: string, description: string, options: { default?: string; defaultHelp?: string; orNone?: boolean } = {}) =>
  Type.String({
    pattern: options.orNone ? `^(${KUBERNETES_NAME})?$` : `^${KUBERNETES_NAME}$`,
    errorMessage: 'must be a Kubernetes object name',
    default: options.default ?? 'canopy',
    ...(options.defaultHelp !== undefined ? { defaultHelp: options.defaultHelp } : {}),
    flag,
    description,
  });
const path = (flag: string, description: string) => Type.Optional(Type.String({ minLength: 1, flag, description }));
const strings = (flag: string, description: string) => Type.Array(Type.String({ minLength: 1 }), { default: [], flag, description });
const section = <Properties extends Parameters<typeof Type.Object>[0]>(properties: Properties) =>
  Type.Object(properties, { additionalProperties: false, default: {} });

/** A request a bundle must allow: a Kubernetes object, or one with the labels of its namespace. */
const KubernetesObject = Type.Object(
  { apiVersion: Type.String(), kind: Type.String(), metadata: Type.Record(Type.String(), Type.Unknown()) },
  { additionalProperties: true },
);
export const CanaryRequest = Type.Object(
  { object: KubernetesObject, namespaceLabels: Type.Optional(Type.Record(Type.String(), Type.String())) },
  { additionalProperties: false },
);

/** The settings of `canopy serve` itself, as keys of the config file. */
const SERVE_SETTINGS = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8443, flag: '--port', description: 'port to listen on; 0 picks a free one' }),
    host: Type.String({ minLength: 1, default: '0.0.0.0', flag: '--host', description: 'address to listen on' }),
    policies: Type.String({ minLength: 1, default: './policies', flag: '--policies', description: 'the policy directory, reloaded when its files change' }),
    stateDir: Type.String({ minLength: 1, default: '.canopy', flag: '--state-dir', description: 'where the generated certificate and the last good bundle are kept' }),
    logLevel: Type.Union(
      LOG_LEVELS.map((level) => Type.Literal(level)),
      { default: 'info', flag: '--log-level', description: `pino log level: ${LOG_LEVELS.join(', ')}` },
    ),
    bodyLimit: Type.Integer({
      minimum: 1024,
      maximum: 64 * 1024 * 1024,
      default: DEFAULT_BODY_LIMIT,
      defaultHelp: '6 MiB',
      flag: '--body-limit',
      description: 'largest request body accepted, in bytes',
    }),
    // At most the API server's own ceiling for a webhook (30 s).
    deadlineMs: Type.Integer({
      minimum: 50,
      maximum: 29_000,
      default: DEFAULT_DEADLINE_MS,
      flag: '--deadline',
      description: "answer every request within this many ms, denying what is not judged by then; shortened to 80% of the API server's ?timeout=",
    }),
    recordRequests: path('--record-requests', 'append every judged AdmissionReview to DIR/requests-*.jsonl (Secret payloads and environment values redacted)'),
    tls: section({
      certFile: path('--tls-cert', 'serving certificate (PEM); without it Canopy makes its own CA and certificate'),
      keyFile: path('--tls-key', 'private key of the serving certificate (PEM)'),
      dnsNames: strings('--dns', 'an extra DNS name or IP for a generated certificate (repeatable)'),
      clientCaFile: path('--tls-client-ca', 'mutual TLS: /validate and /mutate answer only callers presenting a certificate this CA (PEM) signed'),
      reloadIntervalSeconds: Type.Integer({
        minimum: 0,
        maximum: 86_400,
        default: 10,
        flag: '--tls-reload-interval',
        description: 'how often the certificate files or Secret are re-read; 0 never',
      }),
      bootstrap: section({
        enabled: Type.Boolean({ default: false, flag: '--bootstrap-tls', description: "in a cluster: keep the CA and certificate in a Secret and patch the webhooks' caBundle" }),
        secretName: objectName('--bootstrap-tls-secret', 'the Secret holding the bootstrapped CA and certificate', { default: 'canopy-tls' }),
        // Filled from the pod's namespace before this default applies (parse.ts).
        namespace: objectName('--bootstrap-tls-namespace', "the Secret's namespace", { default: 'canopy-system', defaultHelp: "the pod's namespace, else canopy-system" }),
        service: objectName('--bootstrap-tls-service', 'the Service the API server calls, named in the certificate'),
        validatingWebhook: objectName('--bootstrap-tls-validating-webhook', "the ValidatingWebhookConfiguration whose caBundle is kept current; '' for none", { orNone: true }),
        mutatingWebhook: objectName('--bootstrap-tls-mutating-webhook', "the MutatingWebhookConfiguration whose caBundle is kept current; '' for none", { orNone: true }),
      }),
    }),
    engine: section({
      workers: Type.Integer({
        minimum: 0,
        maximum: 256,
        // A function: the cores of the machine Canopy starts on, not of the one that built it.
        // The event loop keeps TLS, HTTP, parsing and the facts that need its caches: one core is left to it.
        default: () => Math.max(1, availableParallelism() - 1),
        defaultHelp: 'one per core but one, at least one',
        flag: '--workers',
        description: 'worker threads that judge requests; 0 judges on the event loop',
      }),
      decisionCacheSize: Type.Integer({
        minimum: 0,
        maximum: 10_000_000,
        default: DEFAULT_DECISION_CACHE_SIZE,
        flag: '--decision-cache-size',
        description: 'how many evaluations each judging thread (every worker) remembers, keyed by a digest of the Cedar request; 0 none',
      }),
      heapGrowthPercent: Type.Integer({
        minimum: 0,
        maximum: 900,
        default: 300,
        flag: '--heap-growth-percent',
        description:
          "how far each thread's V8 heap may grow past what it held after a full collection before the next one, in percent; fewer, later collections for more memory (bounded by the pod's memory); 0 leaves it to V8, which under load picks 10%",
      }),
    }),
    limits: section({
      maxInFlight: Type.Integer({
        minimum: 1,
        maximum: 100_000,
        default: DEFAULT_MAX_IN_FLIGHT,
        flag: '--max-in-flight',
        description: 'webhook requests judged at once; more are answered 429 at once, /healthz and /readyz never',
      }),
      perClientPerSecond: Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: 0,
        flag: '--per-client-rate',
        description: 'webhook requests per second from one client address; more get 429; 0 no limit',
      }),
    }),
    admin: section({
      token: Type.Optional(
        Type.String({ minLength: 1, writeOnly: true, flag: '--admin-token', description: 'bearer token GET /status requires; without one, /status answers only callers on this host' }),
      ),
    }),
    shutdown: section({
      delaySeconds: Type.Integer({
        minimum: 0,
        maximum: 600,
        default: 0,
        flag: '--shutdown-delay',
        description: 'after SIGTERM, keep serving this long with readiness false, while endpoints are removed',
      }),
      drainSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 25, flag: '--drain-timeout', description: 'then close the listener and give requests in flight this long to finish' }),
    }),
    // Present only when given; it takes effect with a url (parse.ts).
    bundle: Type.Optional(
      Type.Object(
        {
          url: Type.Optional(
            Type.String({
              pattern: '^(https?|oci)://',
              errorMessage: 'must start with https://, http:// or oci://',
              flag: '--bundle',
              description: 'take policies from signed bundles at this store: https://HOST/FILE or oci://REGISTRY/REPOSITORY:TAG',
            }),
          ),
          publicKeyFiles: strings('--bundle-pub', 'a public key file trusted to sign bundles (PEM; repeatable)'),
          publicKeys: strings('--bundle-public-key', 'a public key trusted to sign bundles, as PEM text (repeatable)'),
          token: Type.Optional(Type.String({ minLength: 1, writeOnly: true, flag: '--bundle-token', description: 'bearer token for the bundle store' })),
          caFile: path('--bundle-ca', 'CA certificate of an HTTPS bundle store'),
          intervalSeconds: Type.Integer({
            minimum: 1,
            maximum: 86_400,
            default: 30,
            flag: '--bundle-interval',
            description: 'how often to poll the store, jittered, backing off while it is down',
          }),
          channel: Type.Optional(
            Type.String({
              minLength: 1,
              flag: '--bundle-channel',
              description: 'take only bundles whose signed audience names this channel (prod); without it, only bundles that name no channel',
            }),
          ),
          maxClockSkewSeconds: Type.Integer({
            minimum: 0,
            maximum: 86_400,
            default: 300,
            flag: '--bundle-max-clock-skew',
            description: 'refuse a bundle created more than this far in the future',
          }),
          canaries: Type.Optional(
            Type.Array(Type.Union([KubernetesObject, CanaryRequest], { errorMessage: 'must be a Kubernetes object (apiVersion, kind, metadata) or {object, namespaceLabels}' }), {
              errorMessage: 'must be a list of Kubernetes objects or {object, namespaceLabels}',
              defaultHelp: 'a ConfigMap and a plain Pod',
              flag: '--bundle-canaries',
              description: 'requests every bundle must allow (unless it says allowCanaryDenials): a YAML list of objects or {object, namespaceLabels}',
            }),
          ),
          longPollSeconds: Type.Integer({
            minimum: 0,
            maximum: 300,
            default: 0,
            flag: '--bundle-long-poll',
            description: 'hold each poll open this long waiting for a change; 0 plain polling',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    // Present only when given; it takes effect with a kubeconfig or inCluster (parse.ts).
    fleetBudgets: Type.Optional(
      Type.Object(
        {
          kubeconfig: path('--fleet-kubeconfig', "the fleet store's kubeconfig (a management cluster or kcp workspace holding FleetBudgets); with it, tenants of policies/data/budgets.yaml's fleet draw on fleet-wide budgets"),
          context: Type.Optional(Type.String({ minLength: 1, flag: '--fleet-context', description: "the fleet store kubeconfig's context to use" })),
          inCluster: Type.Boolean({ default: false, flag: '--fleet-in-cluster', description: 'the fleet store is the cluster Canopy runs in, reached with its service account' }),
          namespace: objectName('--fleet-namespace', 'the namespace of the FleetBudgets in the fleet store', { default: DEFAULT_FLEET_NAMESPACE }),
          leaseSeconds: Type.Integer({
            minimum: 2,
            maximum: 86_400,
            default: DEFAULT_LEASE_SECONDS,
            flag: '--fleet-lease-seconds',
            description: "how long a cluster's granted share holds without renewal (renewed every third of it); after it, the fleet counts only what the cluster used",
          }),
          timeoutMs: Type.Integer({
            minimum: 50,
            maximum: 29_000,
            default: DEFAULT_FLEET_TIMEOUT_MS,
            flag: '--fleet-timeout',
            description: "deadline of one exchange with the fleet store, shortened to fit the request's own deadline",
          }),
        },
        { additionalProperties: false },
      ),
    ),
    supplyChain: section({
      maxLookupsPerRequest: Type.Integer({
        minimum: 1,
        maximum: 100_000,
        default: DEFAULT_MAX_LOOKUPS_PER_REQUEST,
        flag: '--max-image-lookups',
        description: 'distinct images one request may need looked up at registries (digests, signatures), cached or not; more are denied, naming this limit, before any look-up',
      }),
      maxConcurrentLookups: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: DEFAULT_MAX_CONCURRENT_LOOKUPS,
        flag: '--image-lookup-concurrency',
        description: "image look-ups in flight at once over all requests; the others wait, within the request's deadline",
      }),
      maxLookupsPerTenant: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: DEFAULT_MAX_LOOKUPS_PER_TENANT,
        flag: '--image-lookup-tenant-concurrency',
        description: "of those, at most this many for one tenant (the namespace's canopy.io/tenant or team label, else the namespace); waiting tenants are served in turn",
      }),
      maxConnectionsPerRegistry: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: DEFAULT_MAX_CONNECTIONS_PER_REGISTRY,
        flag: '--registry-connections',
        description: 'connections open at once to one registry for image look-ups',
      }),
    }),
  },
  { additionalProperties: false },
);

/** The whole config file: `canopy serve`'s own settings, then the fleet's (src/facts/fleet/config.ts). */
export const CONFIG_SCHEMA = Type.Object({ ...SERVE_SETTINGS.properties, ...FLEET_SETTINGS.properties }, { additionalProperties: false });

/**
 * How a flag or environment variable's text becomes the setting's value, from its schema. `list` is
 * repeatable as a flag, and comma-separated (or a YAML flow list) in the environment; `yaml` is a YAML
 * or JSON value, for maps and lists of maps.
 */
export type SettingKind = 'string' | 'integer' | 'boolean' | 'list' | 'yaml';

export interface Setting {
  /** The dotted path in the config file: `tls.bootstrap.secretName`. */
  key: string;
  /** The flag, without its value placeholder: `--bootstrap-tls-secret`. */
  flag: string;
  /** CANOPY_ and the key in upper snake case. */
  env: string;
  kind: SettingKind;
  /** Its default as --help shows it; undefined when it has none. */
  default?: string;
  /** What it does and its default, for --help. */
  description: string;
  /** Its schema: type, range, allowed values. */
  schema: TSchema;
}

/** CANOPY_ and the key in upper snake case: `tls.bootstrap.secretName` → `CANOPY_TLS_BOOTSTRAP_SECRET_NAME`. */
export function envNameOf(key: string): string {
  return `CANOPY_${key
    .split('.')
    .map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`;
}

type Node = Record<string, unknown>;

function kindOf(schema: Node): SettingKind {
  switch (schema['type']) {
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'array':
      return isRecord(schema['items']) && schema['items']['type'] === 'string' ? 'list' : 'yaml';
    case 'object':
      return 'yaml';
    default:
      // A union of words (logLevel) is text; any other union is a structure given as YAML.
      return Array.isArray(schema['anyOf']) && schema['anyOf'].every((branch) => isRecord(branch) && typeof branch['const'] === 'string') ? 'string' : 'yaml';
  }
}

function defaultOf(schema: Node): string | undefined {
  if (typeof schema['defaultHelp'] === 'string') return `: ${schema['defaultHelp']}`;
  const value = schema['default'];
  if (typeof value === 'string') return value === '' ? "''" : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The settings a schema's leaves declare (those with a flag), in the schema's order. */
function settingsOf(schema: Node, prefix: string): Setting[] {
  const properties = isRecord(schema['properties']) ? schema['properties'] : {};
  return Object.entries(properties).flatMap(([name, child]): Setting[] => {
    if (!isRecord(child)) return [];
    const key = prefix ? `${prefix}.${name}` : name;
    if (typeof child['flag'] !== 'string') return settingsOf(child, key);
    const shown = defaultOf(child);
    // `(default 8443)`, or `(default: one per core)` where the default is said in words.
    const description = `${String(child['description'] ?? '')}${shown !== undefined ? ` (default${shown.startsWith(':') ? '' : ' '}${shown})` : ''}`;
    const value = shown?.replace(/^: /, '');
    return [{ key, flag: child['flag'], env: envNameOf(key), kind: kindOf(child), ...(value !== undefined ? { default: value } : {}), description, schema: child as TSchema }];
  });
}

export const SETTINGS: readonly Setting[] = settingsOf(CONFIG_SCHEMA as unknown as Node, '');

/** Environment variables Canopy reads that are not settings. */
export const OTHER_ENVIRONMENT = new Set(['CANOPY_CONFIG', 'CANOPY_DEBUG', 'CANOPY_REGISTRY_PASSWORD']);

/** The settings table, as `canopy serve --help` prints it after the options. */
export function settingsHelp(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.key.length));
  const envWidth = Math.max(...SETTINGS.map((setting) => setting.env.length));
  const rows = SETTINGS.map((setting) => `  ${setting.key.padEnd(width)}  ${setting.env.padEnd(envWidth)}  ${setting.default ?? ''}`.trimEnd());
  return [
    '',
    'Every option is also a key of the --config file (YAML) and a CANOPY_* environment variable.',
    'A flag overrides the environment, which overrides the file. Unknown keys and CANOPY_* variables,',
    'and values of the wrong type, stop the start with the key named.',
    '',
    `  ${'config key'.padEnd(width)}  ${'environment variable'.padEnd(envWidth)}  default`,
    ...rows,
  ].join('\n');
}
