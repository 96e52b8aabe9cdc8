// Every setting of `canopy serve`, once: its key in the --config file, its flag and its environment
// variable. The three are one namespace, so an operator can move a value between them without
// learning a second vocabulary; this table is also what `canopy serve --help` prints.

/**
 * How a flag or environment variable's text becomes the setting's value. `list` is repeatable as a
 * flag, and comma-separated (or a YAML flow list) in the environment; `yaml` is a YAML or JSON value,
 * for maps and lists of maps.
 */
export type SettingKind = 'string' | 'integer' | 'boolean' | 'list' | 'yaml';

export interface Setting {
  /** The dotted path in the config file: `tls.bootstrap.secretName`. */
  key: string;
  /** The flag, without its value placeholder: `--bootstrap-tls-secret`. */
  flag: string;
  kind: SettingKind;
  /** What it does and its default, for --help. */
  description: string;
}

/** CANOPY_ and the key in upper snake case: `tls.bootstrap.secretName` → `CANOPY_TLS_BOOTSTRAP_SECRET_NAME`. */
export function envNameOf(key: string): string {
  return `CANOPY_${key
    .split('.')
    .map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`;
}

const s = (key: string, flag: string, kind: SettingKind, description: string): Setting => ({ key, flag, kind, description });

export const SETTINGS: readonly Setting[] = [
  s('port', '--port', 'integer', 'port to listen on; 0 picks a free one (default 8443)'),
  s('host', '--host', 'string', 'address to listen on (default 0.0.0.0)'),
  s('policies', '--policies', 'string', 'the policy directory, reloaded when its files change (default ./policies)'),
  s('stateDir', '--state-dir', 'string', 'where the generated certificate and the last good bundle are kept (default .canopy)'),
  s('logLevel', '--log-level', 'string', 'pino log level: fatal, error, warn, info, debug, trace, silent (default info)'),
  s('bodyLimit', '--body-limit', 'integer', 'largest request body accepted, in bytes (default 6 MiB)'),
  s('deadlineMs', '--deadline', 'integer', "answer every request within this many ms, denying what is not judged by then; shortened to 80% of the API server's ?timeout= (default 4000)"),
  s('recordRequests', '--record-requests', 'string', 'append every judged AdmissionReview to DIR/requests-*.jsonl (Secret payloads and environment values redacted)'),
  s('tls.certFile', '--tls-cert', 'string', 'serving certificate (PEM); without it Canopy makes its own CA and certificate'),
  s('tls.keyFile', '--tls-key', 'string', 'private key of the serving certificate (PEM)'),
  s('tls.dnsNames', '--dns', 'list', 'an extra DNS name or IP for a generated certificate (repeatable)'),
  s('tls.clientCaFile', '--tls-client-ca', 'string', 'mutual TLS: /validate and /mutate answer only callers presenting a certificate this CA (PEM) signed'),
  s('tls.reloadIntervalSeconds', '--tls-reload-interval', 'integer', 'how often the certificate files or Secret are re-read; 0 never (default 10)'),
  s('tls.bootstrap.enabled', '--bootstrap-tls', 'boolean', 'in a cluster: keep the CA and certificate in a Secret and patch the webhooks\' caBundle'),
  s('tls.bootstrap.secretName', '--bootstrap-tls-secret', 'string', 'the Secret holding the bootstrapped CA and certificate (default canopy-tls)'),
  s('tls.bootstrap.namespace', '--bootstrap-tls-namespace', 'string', "the Secret's namespace (default: the pod's namespace, else canopy-system)"),
  s('tls.bootstrap.service', '--bootstrap-tls-service', 'string', 'the Service the API server calls, named in the certificate (default canopy)'),
  s('tls.bootstrap.validatingWebhook', '--bootstrap-tls-validating-webhook', 'string', "the ValidatingWebhookConfiguration whose caBundle is kept current (default canopy; '' for none)"),
  s('tls.bootstrap.mutatingWebhook', '--bootstrap-tls-mutating-webhook', 'string', "the MutatingWebhookConfiguration whose caBundle is kept current (default canopy; '' for none)"),
  s('engine.workers', '--workers', 'integer', 'worker threads that evaluate policies; 0 evaluates on the event loop (default: one per core)'),
  s('engine.decisionCacheSize', '--decision-cache-size', 'integer', 'how many evaluations to remember, keyed by a digest of the Cedar request; 0 none (default 10000)'),
  s('limits.maxInFlight', '--max-in-flight', 'integer', 'webhook requests judged at once; more are answered 429 at once, /healthz and /readyz never (default 512)'),
  s('limits.perClientPerSecond', '--per-client-rate', 'integer', 'webhook requests per second from one client address; more get 429; 0 no limit (default 0)'),
  s('admin.token', '--admin-token', 'string', 'bearer token GET /status requires; without one, /status answers only callers on this host'),
  s('shutdown.delaySeconds', '--shutdown-delay', 'integer', 'after SIGTERM, keep serving this long with readiness false, while endpoints are removed (default 0)'),
  s('shutdown.drainSeconds', '--drain-timeout', 'integer', 'then close the listener and give requests in flight this long to finish (default 25)'),
  s('bundle.url', '--bundle', 'string', 'take policies from signed bundles at this store: https://HOST/FILE or oci://REGISTRY/REPOSITORY:TAG'),
  s('bundle.publicKeyFiles', '--bundle-pub', 'list', 'a public key file trusted to sign bundles (PEM; repeatable)'),
  s('bundle.publicKeys', '--bundle-public-key', 'list', 'a public key trusted to sign bundles, as PEM text (repeatable)'),
  s('bundle.token', '--bundle-token', 'string', "bearer token for the bundle store"),
  s('bundle.caFile', '--bundle-ca', 'string', 'CA certificate of an HTTPS bundle store'),
  s('bundle.intervalSeconds', '--bundle-interval', 'integer', 'how often to poll the store, jittered, backing off while it is down (default 30)'),
  s('bundle.channel', '--bundle-channel', 'string', "take only bundles whose signed audience names this channel (prod); without it, only bundles that name no channel"),
  s('bundle.maxClockSkewSeconds', '--bundle-max-clock-skew', 'integer', 'refuse a bundle created more than this far in the future (default 300)'),
  s('bundle.canaries', '--bundle-canaries', 'yaml', 'requests every bundle must allow (unless it says allowCanaryDenials): a YAML list of objects or {object, namespaceLabels} (default: a ConfigMap and a plain Pod)'),
  s('bundle.longPollSeconds', '--bundle-long-poll', 'integer', 'hold each poll open this long waiting for a change; 0 plain polling (default 0)'),
  s('cluster.name', '--cluster-name', 'string', "this cluster's name"),
  s('cluster.region', '--region', 'string', "this cluster's region"),
  s('cluster.jurisdiction', '--jurisdiction', 'string', "this cluster's jurisdiction: an ISO 3166-1 alpha-2 code or EU"),
  s('cluster.provider', '--provider', 'string', "this cluster's provider"),
  s('cluster.environment', '--environment', 'string', "this cluster's environment"),
  s('cluster.labels', '--cluster-labels', 'yaml', "this cluster's labels, a YAML map"),
  s('cluster.clusterProperties', '--cluster-properties', 'boolean', 'read about.k8s.io ClusterProperty objects (default true)'),
  s('cluster.clusterProfile', '--cluster-profile', 'yaml', 'a ClusterProfile describing this cluster: {namespace: NS, name: NAME}'),
  s('kubernetes.kubeconfig', '--kubeconfig', 'string', 'read namespaces, nodes, storage classes and cluster properties through this kubeconfig'),
  s('kubernetes.context', '--context', 'string', 'the kubeconfig context to use'),
  s('kubernetes.namespaceLookupTimeoutMs', '--namespace-lookup-timeout', 'integer', 'deadline for reading a namespace missing from the cache, in ms (default 1000)'),
  s('registries', '--registries', 'yaml', 'how to reach image registries: a YAML list of {host, insecure, username, password}'),
  s('imageLookupTimeoutMs', '--image-lookup-timeout', 'integer', 'how long one request may wait for registries, in ms (default 2000)'),
  s('supplyChain.maxLookupsPerRequest', '--max-image-lookups', 'integer', 'distinct images one request may need looked up at registries (digests, signatures), cached or not; more are denied, naming this limit, before any look-up (default 64)'),
  s('supplyChain.maxConcurrentLookups', '--image-lookup-concurrency', 'integer', 'image look-ups in flight at once over all requests; the others wait, within the request\'s deadline (default 32)'),
  s('supplyChain.maxLookupsPerTenant', '--image-lookup-tenant-concurrency', 'integer', "of those, at most this many for one tenant (the namespace's canopy.io/tenant or team label, else the namespace); waiting tenants are served in turn (default 8)"),
  s('supplyChain.maxConnectionsPerRegistry', '--registry-connections', 'integer', 'connections open at once to one registry for image look-ups (default 16)'),
  s('kcp.logicalClusters', '--kcp-logical-clusters', 'yaml', 'kcp logical cluster → workspace path, a YAML map'),
  s('kcp.workspaces', '--kcp-workspaces', 'yaml', 'labels of kcp workspaces: a YAML map of path → {labels}'),
  s('kcp.discover', '--kcp-discover', 'boolean', "ask the API server for logical clusters not in the mapping"),
];

/** Environment variables Canopy reads that are not settings. */
export const OTHER_ENVIRONMENT = new Set(['CANOPY_CONFIG', 'CANOPY_DEBUG', 'CANOPY_REGISTRY_PASSWORD']);

/** The settings table, as `canopy serve --help` prints it after the options. */
export function settingsHelp(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.key.length));
  const rows = SETTINGS.map((setting) => `  ${setting.key.padEnd(width)}  ${envNameOf(setting.key)}`);
  return [
    '',
    'Every option is also a key of the --config file (YAML) and a CANOPY_* environment variable.',
    'A flag overrides the environment, which overrides the file. Unknown keys and CANOPY_* variables,',
    'and values of the wrong type, stop the start with the key named.',
    '',
    `  ${'config key'.padEnd(width)}  environment variable`,
    ...rows,
  ].join('\n');
}
