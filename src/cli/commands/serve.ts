// `canopy serve`: the validating webhook over HTTPS.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createLogger } from '../../decision-log/index.js';
import { bundleSource, BundleSync, PolicyDirectoryWatcher, readPublicKeys } from '../../bundle/index.js';
import { loadPolicyDirectory } from '../../engine/index.js';
import { ConfigError, FleetContext, parseFleetConfig, readFleetConfig, type FleetConfig } from '../../fleet/index.js';
import { KubeApiError, KubeClient, loadKubeConfig } from '../../kube/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { OciClient } from '../../oci/index.js';
import { RequestRecorder } from '../../recording/index.js';
import { ImageEnricher, lookUpImages } from '../../supply-chain/index.js';
import { createServer, DEFAULT_BODY_LIMIT } from '../../server/index.js';
import { defaultServingHosts, ensureCertificates } from '../../tls/index.js';
import { describeSet, isPolicyProblem, say } from '../output.js';

interface ServeOptions {
  port: number;
  host: string;
  policies: string;
  tlsCert?: string;
  tlsKey?: string;
  stateDir: string;
  dns?: string[];
  bodyLimit: number;
  logLevel: string;
  recordRequests?: string;
  config?: string;
  kubeconfig?: string;
  context?: string;
  bundle?: string;
  bundlePub?: string[];
  bundleToken?: string;
  bundleCa?: string;
  bundleInterval: number;
  bundleLongPoll: number;
  clusterName?: string;
  region?: string;
  jurisdiction?: string;
  provider?: string;
  environment?: string;
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function servingTls(options: ServeOptions): Promise<{ cert: string; key: string; note: string }> {
  if (options.tlsCert || options.tlsKey) {
    if (!options.tlsCert || !options.tlsKey) throw new Error('--tls-cert and --tls-key go together');
    const [cert, key] = await Promise.all([readFile(options.tlsCert, 'utf8'), readFile(options.tlsKey, 'utf8')]);
    return { cert, key, note: `serving certificate ${options.tlsCert}` };
  }
  const hosts = [...defaultServingHosts(), ...(options.dns ?? [])];
  const files = await ensureCertificates(path.join(options.stateDir, 'tls'), hosts);
  const made = { none: 'reused', serving: 'serving certificate renewed', 'ca-and-serving': 'generated' }[files.created];
  return { ...files.serving, note: `CA certificate ${files.caCertPath} (${made})` };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** The fleet context: connected to the cluster when a kubeconfig is given, configured, or Canopy runs in a pod. */
async function fleetContext(options: ServeOptions, logger: ReturnType<typeof createLogger>): Promise<FleetContext> {
  const config: FleetConfig = options.config ? await readFleetConfig(options.config) : parseFleetConfig({});
  // Flags override the config file's identity fields; they are checked like the file.
  const flags = { name: options.clusterName, region: options.region, jurisdiction: options.jurisdiction, provider: options.provider, environment: options.environment };
  const given = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined));
  const fromFlags = parseFleetConfig({ cluster: given }, 'flags').cluster;
  for (const key of ['name', 'region', 'jurisdiction', 'provider', 'environment'] as const) {
    if (fromFlags[key] !== undefined) config.cluster[key] = fromFlags[key];
  }
  const kubeconfig = options.kubeconfig ?? config.kubernetes?.kubeconfig;
  const connect = kubeconfig !== undefined || config.kubernetes !== undefined || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  const context = options.context ?? config.kubernetes?.context;
  const client = connect
    ? new KubeClient(loadKubeConfig({ ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) }))
    : undefined;
  const fleet = new FleetContext(config, logger, client);
  await fleet.start();
  return fleet;
}

function describeCluster(fleet: FleetContext): string {
  const { identity, sources } = fleet.status().identity;
  const fields = (['region', 'jurisdiction', 'provider', 'environment'] as const)
    .filter((key) => identity[key])
    .map((key) => `${key} ${identity[key]}${sources[key] && sources[key] !== 'config' ? ` (from ${sources[key]})` : ''}`);
  const connection = fleet.status().connected ? 'reading namespaces, nodes and storage classes from the API server' : 'not connected to a cluster';
  return `cluster ${identity.name}${fields.length > 0 ? `: ${fields.join(', ')}` : ''}; ${connection}`;
}

export async function serve(options: ServeOptions): Promise<void> {
  const logger = createLogger(undefined, { level: options.logLevel });
  let fleet: FleetContext;
  try {
    fleet = await fleetContext(options, logger);
  } catch (error) {
    if (!(error instanceof ConfigError) && !(error instanceof KubeApiError)) throw error;
    say(`refusing to start: ${(error as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const images = new ImageEnricher(new OciClient(fleet.config.registries, fleet.config.imageLookupTimeoutMs), { deadlineMs: fleet.config.imageLookupTimeoutMs });
  const pipeline = new AdmissionPipeline({
    decisionLog: logger,
    facts: async (request, set) => {
      const facts = await fleet.factsFor(request);
      return { ...facts, ...(await lookUpImages(images, set, request, facts)) };
    },
  });
  /** The first line of the start-up summary: where policies come from. */
  let revision: string;
  let sync: BundleSync | undefined;
  let watcher: PolicyDirectoryWatcher | undefined;
  if (options.bundle) {
    // Policies come from signed bundles only: nothing serves until one is verified and active.
    if (!options.bundlePub || options.bundlePub.length === 0) {
      say('refusing to start: --bundle needs --bundle-pub KEY (a bundle is only activated when a trusted key signed it)');
      process.exitCode = 1;
      return;
    }
    const keys = readPublicKeys(await Promise.all(options.bundlePub.map((file) => readFile(file, 'utf8'))));
    const source = bundleSource(options.bundle, {
      ...(options.bundleToken ?? process.env['CANOPY_BUNDLE_TOKEN'] ? { token: options.bundleToken ?? process.env['CANOPY_BUNDLE_TOKEN'] } : {}),
      ...(options.bundleCa ? { ca: await readFile(options.bundleCa, 'utf8') } : {}),
      registries: fleet.config.registries,
      longPollSeconds: options.bundleLongPoll,
    });
    sync = new BundleSync(source, keys, pipeline, { stateDir: options.stateDir, intervalMs: options.bundleInterval * 1000, logger });
    revision = `policies from signed bundles at ${options.bundle}: not ready until one is verified and active`;
  } else {
    try {
      const set = pipeline.activate(await loadPolicyDirectory(options.policies));
      revision = `policy set ${set.revision} (${describeSet(set)} from ${options.policies}) is active; reloaded when its files change`;
    } catch (error) {
      if (!isPolicyProblem(error)) throw error;
      say(`refusing to start: ${options.policies}: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    watcher = new PolicyDirectoryWatcher(options.policies, pipeline, logger);
    await watcher.start();
  }
  const tls = await servingTls(options);
  const recorder = options.recordRequests ? RequestRecorder.open(options.recordRequests, logger) : undefined;
  const app = await createServer({
    pipeline,
    tls,
    logger,
    bodyLimit: options.bodyLimit,
    readiness: () => fleet.notReadyReason,
    status: () => ({
      ...(sync ? { bundle: sync.status() } : {}),
      ...(watcher ? { policyDirectory: watcher.status() } : {}),
      fleet: fleet.status(),
    }),
    ...(recorder ? { recorder } : {}),
  });
  app.addHook('onClose', async () => {
    fleet.stop();
    sync?.stop();
    watcher?.stop();
  });
  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const base = `https://${urlHost(options.host)}:${port}`;
  // One write, so that whoever reads the output (a person, a test, a log collector) gets it whole.
  const lines = [
    revision,
    describeCluster(fleet),
    `listening on https://${options.host}:${port}: POST /validate, POST /mutate, GET /healthz, GET /readyz`,
    tls.note,
  ];
  if (recorder) lines.push(`recording requests (Secret payloads redacted) to ${recorder.file}`);
  if (!options.tlsCert) {
    const ca = path.join(options.stateDir, 'tls', 'ca.crt');
    lines.push(
      `try it: curl --cacert ${ca} -H 'Content-Type: application/json' ` +
        `--data @examples/admission-reviews/privileged-pod.json ${base}/validate`,
    );
  }
  say(lines.join('\ncanopy: '));
  // After listening: /healthz answers and /readyz says why not ready while the first bundle is fetched.
  if (sync) void sync.start();
  const stop = (signal: string) => {
    say(`${signal}: finishing requests in flight, then stopping`);
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the validating and mutating admission webhooks over HTTPS')
    .option('--port <port>', 'port to listen on (0 picks a free one)', integer(0, 65535), 8443)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--policies <dir>', 'the policy directory (reloaded when its files change)', './policies')
    .option('--tls-cert <file>', 'serving certificate (PEM); without it Canopy makes its own CA and certificate')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--state-dir <dir>', 'where the generated CA and certificate are kept and reused', '.canopy')
    .option('--dns <name>', 'an extra DNS name or IP for the generated certificate (repeatable)', collect)
    .option('--body-limit <bytes>', 'largest request body accepted', integer(1024, 64 * 1024 * 1024), DEFAULT_BODY_LIMIT)
    .option('--log-level <level>', 'pino log level: fatal, error, warn, info, debug', 'info')
    .option('--bundle <url>', 'take policies from signed bundles at this store: https://HOST/FILE or oci://REGISTRY/REPOSITORY:TAG')
    .option('--bundle-pub <file>', 'a public key trusted to sign bundles (PEM; repeatable)', collect)
    .option('--bundle-token <token>', 'bearer token for the store (or CANOPY_BUNDLE_TOKEN)')
    .option('--bundle-ca <file>', 'CA certificate of an HTTPS store')
    .option('--bundle-interval <seconds>', 'how often to poll the store (jittered; backs off while it is unreachable)', integer(1, 86_400), 30)
    .option('--bundle-long-poll <seconds>', 'hold each poll open this long waiting for a change (0: plain polling)', integer(0, 300), 0)
    .option('--config <file>', 'the cluster identity, Kubernetes connection and kcp workspace mapping (YAML; see README)')
    .option('--cluster-name <name>', "this cluster's name (overrides --config)")
    .option('--region <region>', "this cluster's region (overrides --config)")
    .option('--jurisdiction <code>', "this cluster's jurisdiction: an ISO 3166-1 alpha-2 code or EU (overrides --config)")
    .option('--provider <name>', "this cluster's provider (overrides --config)")
    .option('--environment <name>', "this cluster's environment (overrides --config)")
    .option('--kubeconfig <file>', 'read namespaces, nodes, storage classes and cluster properties through this kubeconfig')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('--record-requests <dir>', 'append every judged AdmissionReview to DIR/requests-*.jsonl for canopy impact (Secret payloads redacted)')
    .action(serve);
}
