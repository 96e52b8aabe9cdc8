// The config `canopy serve` runs with, checked: every key known, every value of its type, defaults
// filled in. The fleet part (cluster, kubernetes, kcp, registries) keeps its own parser.
import { availableParallelism } from 'node:os';
import { ConfigError, parseFleetConfig, type FleetConfig } from '../../facts/fleet/index.js';
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

export interface BootstrapTlsConfig {
  enabled: boolean;
  secretName: string;
  namespace: string;
  service: string;
  /** Webhook configurations whose caBundle Canopy keeps current; '' turns one off. */
  validatingWebhook: string;
  mutatingWebhook: string;
}

export interface BundleConfig {
  url: string;
  publicKeyFiles: string[];
  publicKeys: string[];
  token?: string;
  caFile?: string;
  intervalSeconds: number;
  longPollSeconds: number;
  /** Only bundles for this channel; without it, only bundles without one. */
  channel?: string;
  maxClockSkewSeconds: number;
  /** Requests every bundle must allow; absent: the built-in canaries. */
  canaries?: { object: Record<string, unknown>; namespaceLabels?: Record<string, string> }[];
}

export interface CanopyConfig {
  port: number;
  host: string;
  policies: string;
  stateDir: string;
  logLevel: LogLevel;
  bodyLimit: number;
  /** Every webhook request is answered within this many ms (pipeline/deadline.ts). */
  deadlineMs: number;
  recordRequests?: string;
  tls: {
    certFile?: string;
    keyFile?: string;
    /** Mutual TLS for the webhooks: callers must present a certificate this CA signed. */
    clientCaFile?: string;
    dnsNames: string[];
    reloadIntervalSeconds: number;
    bootstrap: BootstrapTlsConfig;
  };
  shutdown: { delaySeconds: number; drainSeconds: number };
  /** Protection from floods: requests judged at once, and per client address per second (0: no limit). */
  limits: { maxInFlight: number; perClientPerSecond: number };
  /** The bearer token GET /status requires; without it, /status answers callers on this host only. */
  admin: { token?: string };
  /** How policies are evaluated: in worker threads (0: on the event loop), and how many answers are remembered. */
  engine: { workers: number; decisionCacheSize: number };
  /** Bounds on the registry look-ups requests cause (supply-chain/enrich.ts, limiter.ts). */
  supplyChain: { maxLookupsPerRequest: number; maxConcurrentLookups: number; maxLookupsPerTenant: number; maxConnectionsPerRegistry: number };
  bundle?: BundleConfig;
  fleet: FleetConfig;
}

type Json = Record<string, unknown>;

const FLEET_KEYS = ['cluster', 'kubernetes', 'kcp', 'registries', 'imageLookupTimeoutMs'];
const ROOT_KEYS = ['port', 'host', 'policies', 'stateDir', 'logLevel', 'bodyLimit', 'deadlineMs', 'recordRequests', 'tls', 'shutdown', 'limits', 'admin', 'engine', 'supplyChain', 'bundle', ...FLEET_KEYS];

/** The namespace a pod runs in, as Kubernetes mounts it with the service account. */
export const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Reads typed fields of one map of the config, naming the full key in every complaint. */
class Section {
  constructor(
    private readonly value: Json,
    private readonly where: string,
    private readonly fail: (message: string) => never,
  ) {}

  static of(parent: Json, key: string, where: string, fail: (message: string) => never, keys: string[]): Section {
    const value = parent[key] ?? {};
    const path = where ? `${where}.${key}` : key;
    if (!isRecord(value)) fail(`${path} must be a map`);
    const section = new Section(value as Json, path, fail);
    section.only(keys);
    return section;
  }

  private name(key: string): string {
    return this.where ? `${this.where}.${key}` : key;
  }

  only(keys: string[]): void {
    const unknown = Object.keys(this.value).filter((key) => !keys.includes(key));
    if (unknown.length > 0) this.fail(`${unknown.map((key) => this.name(key)).join(', ')}: unknown key (${this.where || 'the config'} takes ${keys.join(', ')})`);
  }

  string(key: string): string | undefined {
    const found = this.value[key];
    if (found === undefined || found === null) return undefined;
    if (typeof found !== 'string' || found === '') this.fail(`${this.name(key)} must be a non-empty string (got ${JSON.stringify(found)})`);
    return found as string;
  }

  /** A string that may be empty on purpose ('' turns a webhook off). */
  text(key: string, fallback: string): string {
    const found = this.value[key];
    if (found === undefined || found === null) return fallback;
    if (typeof found !== 'string') this.fail(`${this.name(key)} must be a string (got ${JSON.stringify(found)})`);
    return found as string;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const found = this.value[key] ?? fallback;
    if (typeof found !== 'number' || !Number.isInteger(found) || found < min || found > max) {
      this.fail(`${this.name(key)} must be a whole number from ${min} to ${max} (got ${JSON.stringify(found)})`);
    }
    return found as number;
  }

  boolean(key: string, fallback: boolean): boolean {
    const found = this.value[key] ?? fallback;
    if (typeof found !== 'boolean') this.fail(`${this.name(key)} must be true or false (got ${JSON.stringify(found)})`);
    return found as boolean;
  }

  strings(key: string): string[] {
    const found = this.value[key] ?? [];
    if (!Array.isArray(found) || !found.every((item) => typeof item === 'string' && item !== '')) {
      this.fail(`${this.name(key)} must be a list of non-empty strings (got ${JSON.stringify(found)})`);
    }
    return found as string[];
  }

  oneOf<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const found = this.value[key] ?? fallback;
    if (typeof found !== 'string' || !(allowed as readonly string[]).includes(found)) {
      this.fail(`${this.name(key)} must be one of ${allowed.join(', ')} (got ${JSON.stringify(found)})`);
    }
    return found as T;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }
}

const KUBERNETES_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Checks a config (the file, one environment variable, one flag, or all merged) and fills in defaults.
 * `label` names where it came from in every error; `podNamespace` is the bootstrap's default namespace.
 */
export function parseCanopyConfig(value: unknown, label: string, podNamespace?: string): CanopyConfig {
  const fail = (message: string): never => {
    throw new ConfigError(label, message);
  };
  if (value === null || value === undefined) value = {};
  if (!isRecord(value)) fail('the config must be a map of keys to values');
  const root = new Section(value as Json, '', fail);
  root.only(ROOT_KEYS);
  const raw = value as Json;

  const tls = Section.of(raw, 'tls', '', fail, ['certFile', 'keyFile', 'clientCaFile', 'dnsNames', 'reloadIntervalSeconds', 'bootstrap']);
  const bootstrap = Section.of(isRecord(raw['tls']) ? raw['tls'] : {}, 'bootstrap', 'tls', fail, ['enabled', 'secretName', 'namespace', 'service', 'validatingWebhook', 'mutatingWebhook']);
  const shutdown = Section.of(raw, 'shutdown', '', fail, ['delaySeconds', 'drainSeconds']);
  const engine = Section.of(raw, 'engine', '', fail, ['workers', 'decisionCacheSize']);
  const limits = Section.of(raw, 'limits', '', fail, ['maxInFlight', 'perClientPerSecond']);
  const admin = Section.of(raw, 'admin', '', fail, ['token']);
  const supplyChain = Section.of(raw, 'supplyChain', '', fail, ['maxLookupsPerRequest', 'maxConcurrentLookups', 'maxLookupsPerTenant', 'maxConnectionsPerRegistry']);
  const bundle = Section.of(raw, 'bundle', '', fail, ['url', 'publicKeyFiles', 'publicKeys', 'token', 'caFile', 'intervalSeconds', 'longPollSeconds', 'channel', 'maxClockSkewSeconds', 'canaries']);

  const names = {
    secretName: bootstrap.string('secretName') ?? 'canopy-tls',
    namespace: bootstrap.string('namespace') ?? podNamespace ?? 'canopy-system',
    service: bootstrap.string('service') ?? 'canopy',
    validatingWebhook: bootstrap.text('validatingWebhook', 'canopy'),
    mutatingWebhook: bootstrap.text('mutatingWebhook', 'canopy'),
  };
  for (const [key, name] of Object.entries(names)) {
    if (name !== '' && !KUBERNETES_NAME.test(name)) fail(`tls.bootstrap.${key} must be a Kubernetes object name (got ${JSON.stringify(name)})`);
  }

  const fleetPart = Object.fromEntries(Object.entries(raw).filter(([key]) => FLEET_KEYS.includes(key)));
  const config: CanopyConfig = {
    port: root.integer('port', 8443, 0, 65535),
    host: root.string('host') ?? '0.0.0.0',
    policies: root.string('policies') ?? './policies',
    stateDir: root.string('stateDir') ?? '.canopy',
    logLevel: root.oneOf('logLevel', 'info', LOG_LEVELS),
    bodyLimit: root.integer('bodyLimit', DEFAULT_BODY_LIMIT, 1024, 64 * 1024 * 1024),
    // At most the API server's own ceiling for a webhook (30 s).
    deadlineMs: root.integer('deadlineMs', DEFAULT_DEADLINE_MS, 50, 29_000),
    tls: {
      dnsNames: tls.strings('dnsNames'),
      reloadIntervalSeconds: tls.integer('reloadIntervalSeconds', 10, 0, 86_400),
      bootstrap: { enabled: bootstrap.boolean('enabled', false), ...names },
    },
    shutdown: {
      delaySeconds: shutdown.integer('delaySeconds', 0, 0, 600),
      drainSeconds: shutdown.integer('drainSeconds', 25, 0, 3600),
    },
    limits: {
      maxInFlight: limits.integer('maxInFlight', DEFAULT_MAX_IN_FLIGHT, 1, 100_000),
      perClientPerSecond: limits.integer('perClientPerSecond', 0, 0, 1_000_000),
    },
    admin: {},
    engine: {
      workers: engine.integer('workers', availableParallelism(), 0, 256),
      decisionCacheSize: engine.integer('decisionCacheSize', DEFAULT_DECISION_CACHE_SIZE, 0, 10_000_000),
    },
    supplyChain: {
      maxLookupsPerRequest: supplyChain.integer('maxLookupsPerRequest', DEFAULT_MAX_LOOKUPS_PER_REQUEST, 1, 100_000),
      maxConcurrentLookups: supplyChain.integer('maxConcurrentLookups', DEFAULT_MAX_CONCURRENT_LOOKUPS, 1, 10_000),
      maxLookupsPerTenant: supplyChain.integer('maxLookupsPerTenant', DEFAULT_MAX_LOOKUPS_PER_TENANT, 1, 10_000),
      maxConnectionsPerRegistry: supplyChain.integer('maxConnectionsPerRegistry', DEFAULT_MAX_CONNECTIONS_PER_REGISTRY, 1, 10_000),
    },
    fleet: parseFleetConfig(fleetPart, label),
  };
  const recordRequests = root.string('recordRequests');
  if (recordRequests) config.recordRequests = recordRequests;
  const certFile = tls.string('certFile');
  const keyFile = tls.string('keyFile');
  if (certFile) config.tls.certFile = certFile;
  const clientCaFile = tls.string('clientCaFile');
  if (clientCaFile) config.tls.clientCaFile = clientCaFile;
  const adminToken = admin.string('token');
  if (adminToken) config.admin.token = adminToken;
  if (keyFile) config.tls.keyFile = keyFile;

  const publicKeyFiles = bundle.strings('publicKeyFiles');
  const publicKeys = bundle.strings('publicKeys');
  const intervalSeconds = bundle.integer('intervalSeconds', 30, 1, 86_400);
  const longPollSeconds = bundle.integer('longPollSeconds', 0, 0, 300);
  const token = bundle.string('token');
  const caFile = bundle.string('caFile');
  const url = bundle.string('url');
  const channel = bundle.string('channel');
  const maxClockSkewSeconds = bundle.integer('maxClockSkewSeconds', 300, 0, 86_400);
  const canaries = bundle.has('canaries') ? parseCanaries(isRecord(raw['bundle']) ? raw['bundle']['canaries'] : undefined, fail) : undefined;
  if (url !== undefined) {
    if (!/^(https?|oci):\/\//.test(url)) fail(`bundle.url must start with https://, http:// or oci:// (got ${JSON.stringify(url)})`);
    config.bundle = {
      url,
      publicKeyFiles,
      publicKeys,
      intervalSeconds,
      longPollSeconds,
      maxClockSkewSeconds,
      ...(token ? { token } : {}),
      ...(caFile ? { caFile } : {}),
      ...(channel ? { channel } : {}),
      ...(canaries ? { canaries } : {}),
    };
  }
  return config;
}

/** bundle.canaries: a list of Kubernetes objects, or of {object, namespaceLabels}. */
function parseCanaries(value: unknown, fail: (message: string) => never): NonNullable<BundleConfig['canaries']> {
  if (!Array.isArray(value)) return fail('bundle.canaries must be a list of Kubernetes objects or {object, namespaceLabels}');
  return value.map((item: unknown, index) => {
    const wrapped = isRecord(item) && item['kind'] === undefined && isRecord(item['object']);
    const object = wrapped ? (item as Json)['object'] : item;
    const labels = wrapped ? (item as Json)['namespaceLabels'] : undefined;
    if (!isRecord(object) || typeof object['kind'] !== 'string' || typeof object['apiVersion'] !== 'string' || !isRecord(object['metadata'])) {
      return fail(`bundle.canaries[${index}] must be a Kubernetes object (apiVersion, kind, metadata) or {object, namespaceLabels}`);
    }
    if (labels !== undefined && !(isRecord(labels) && Object.values(labels).every((v) => typeof v === 'string'))) {
      return fail(`bundle.canaries[${index}].namespaceLabels must map label keys to strings`);
    }
    return { object: object as Record<string, unknown>, ...(labels !== undefined ? { namespaceLabels: labels as Record<string, string> } : {}) };
  });
}

/** What only the merged config can tell: settings that must go together or exclude each other. */
export function checkCombinations(config: CanopyConfig, label: string): void {
  const fail = (message: string): never => {
    throw new ConfigError(label, message);
  };
  if ((config.tls.certFile === undefined) !== (config.tls.keyFile === undefined)) fail('tls.certFile (--tls-cert) and tls.keyFile (--tls-key) go together');
  if (config.tls.bootstrap.enabled && config.tls.certFile) fail('tls.bootstrap.enabled (--bootstrap-tls) and tls.certFile (--tls-cert) exclude each other: pick one source of the serving certificate');
  if (config.bundle && config.bundle.publicKeyFiles.length + config.bundle.publicKeys.length === 0) {
    fail('bundle.url (--bundle) needs a trusted key in bundle.publicKeyFiles (--bundle-pub) or bundle.publicKeys: a bundle is only activated when a trusted key signed it');
  }
}
