// `canopy serve`: the validating and mutating webhooks over HTTPS.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { loadCanopyConfig, podNamespace, SETTINGS, settingsHelp, type CanopyConfig, type FlagValue } from '../../operations/config/index.js';
import { bufferedStdout, createLogger, type Logger } from '../../operations/decision-log/index.js';
import { bundleSource, BundleSync, PolicyDirectoryWatcher, readPublicKeys } from '../../sources/bundle/index.js';
import { EvaluationPool } from '../../policy/engine/index.js';
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { ConfigError, describeIdentity, FleetContext } from '../../facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../../sources/kube/index.js';
import { CanopyMetrics, type PolicySetState } from '../../operations/metrics/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { OciClient } from '../../sources/oci/index.js';
import { RequestRecorder } from '../../operations/recording/index.js';
import { ImageEnricher, lookUpImages } from '../../facts/supply-chain/index.js';
import { createServer, Drain, useServingCertificate, type WebhookApp } from '../../server/index.js';
import { CertificateReloader, defaultServingHosts, ensureCertificates, fileSource, servingPairProblem, TlsBootstrap, type KeyPairPem } from '../../sources/tls/index.js';
import { describeSet, isPolicyProblem, say } from '../output.js';
import { inBackground, messageOf } from '../../operations/errors/index.js';

/** Where the serving certificate comes from, and how a rotated one is picked up. */
interface ServingTls {
  pair: KeyPairPem;
  note: string;
  /** Re-reads the source; absent for a certificate Canopy generated for itself. */
  reload?: { read: () => Promise<KeyPairPem>; describe: string };
}

async function servingTls(config: CanopyConfig, logger: Logger): Promise<ServingTls> {
  const { certFile, keyFile, bootstrap } = config.tls;
  if (certFile && keyFile) {
    const read = fileSource(certFile, keyFile);
    const pair = await read();
    const problem = servingPairProblem(pair);
    if (problem) throw new ConfigError(certFile, problem);
    return { pair, note: `serving certificate ${certFile}`, reload: { read, describe: `files ${certFile}, ${keyFile}` } };
  }
  if (bootstrap.enabled) {
    const kubernetes = config.fleet.kubernetes;
    const kubeConfig = loadKubeConfig({ ...(kubernetes?.kubeconfig ? { kubeconfig: kubernetes.kubeconfig } : {}), ...(kubernetes?.context ? { context: kubernetes.context } : {}) });
    const tls = new TlsBootstrap(kubeConfig, bootstrap, logger, { extraHosts: config.tls.dnsNames });
    const first = await tls.ensure();
    return {
      pair: first.serving,
      note: `serving certificate from Secret ${tls.secretPath} (${first.outcome}); caBundle kept current in the webhook configurations`,
      reload: { read: async () => (await tls.ensure()).serving, describe: `Secret ${tls.secretPath}` },
    };
  }
  const hosts = [...defaultServingHosts(), ...config.tls.dnsNames];
  const files = await ensureCertificates(path.join(config.stateDir, 'tls'), hosts);
  const made = { none: 'reused', serving: 'serving certificate renewed', 'ca-and-serving': 'generated' }[files.created];
  return { pair: files.serving, note: `CA certificate ${files.caCertPath} (${made})` };
}

/** The client CA for mutual TLS: at least one certificate, or the start is refused. */
async function readClientCa(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `tls.clientCaFile cannot be read: ${messageOf(error)}`);
  }
  try {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    new X509Certificate(text);
  } catch (error) {
    throw new ConfigError(file, `tls.clientCaFile is not a PEM CA certificate: ${messageOf(error)}`);
  }
  return text;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** The fleet context: connected to the cluster when a kubeconfig is given, configured, or Canopy runs in a pod. */
async function fleetContext(config: CanopyConfig, logger: Logger, metrics: CanopyMetrics): Promise<FleetContext> {
  const fleet = config.fleet;
  const kubeconfig = fleet.kubernetes?.kubeconfig;
  const connect = fleet.kubernetes !== undefined || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  const context = fleet.kubernetes?.context;
  const client = connect
    ? new KubeClient(loadKubeConfig({ ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) }))
    : undefined;
  const fleetContext = new FleetContext(fleet, logger, client, metrics.lookup);
  await fleetContext.start();
  return fleetContext;
}

/** `cluster de-1 (from config): jurisdiction DE (from ClusterProperty), ...; reading ...; watching ... for identity changes`. */
function describeCluster(fleet: FleetContext): string {
  const status = fleet.status();
  const connection = status.connected ? 'reading namespaces, nodes and storage classes from the API server' : 'not connected to a cluster';
  const watched = Object.keys(status.identity.watching ?? {});
  return `${describeIdentity(status.identity)}; ${connection}${watched.length > 0 ? `; watching ${watched.join(' and ')} for identity changes` : ''}`;
}

/** Where policies come from: signed bundles (nothing serves until one is verified) or a watched directory. */
async function policySource(config: CanopyConfig, pipeline: AdmissionPipeline, fleet: FleetContext, logger: Logger) {
  const bundle = config.bundle;
  if (bundle) {
    const keyFiles = await Promise.all(bundle.publicKeyFiles.map((file) => readFile(file, 'utf8')));
    const keys = readPublicKeys([...keyFiles, ...bundle.publicKeys]);
    const source = bundleSource(bundle.url, {
      ...(bundle.token ? { token: bundle.token } : {}),
      ...(bundle.caFile ? { ca: await readFile(bundle.caFile, 'utf8') } : {}),
      registries: fleet.config.registries,
      longPollSeconds: bundle.longPollSeconds,
    });
    const sync = new BundleSync(source, keys, pipeline, {
      stateDir: config.stateDir,
      intervalMs: bundle.intervalSeconds * 1000,
      logger,
      // A bundle's audience is judged against the channel and the cluster's identity at each check.
      ...(bundle.channel ? { channel: bundle.channel } : {}),
      identity: () => fleet.cluster,
      maxClockSkewMs: bundle.maxClockSkewSeconds * 1000,
      ...(bundle.canaries ? { canaries: bundle.canaries } : {}),
    });
    const audience = bundle.channel ? `channel ${bundle.channel}` : 'bundles that name no channel';
    return { sync, summary: `policies from signed bundles at ${bundle.url} (${audience}): not ready until one is verified, passes its tests and canaries, and is active` };
  }
  let set;
  try {
    set = await pipeline.activate(await loadPolicyDirectory(config.policies));
  } catch (error) {
    if (isPolicyProblem(error)) throw new ConfigError(config.policies, error.message);
    throw error;
  }
  const watcher = new PolicyDirectoryWatcher(config.policies, pipeline, logger);
  await watcher.start();
  return { watcher, summary: `policy set ${set.revision} (${describeSet(set)}; from ${config.policies}) is active; reloaded when its files change` };
}

/**
 * SIGTERM and SIGINT drain the server (see Drain); a second signal exits at once. Either way the decision
 * log's buffer is written out before the process exits (`flushLog`), so every decision answered is logged.
 */
function stopOnSignals(app: WebhookApp, drain: Drain, config: CanopyConfig, flushLog: () => void): void {
  const { delaySeconds, drainSeconds } = config.shutdown;
  const exit: (code: number) => never = (code) => {
    flushLog();
    process.exit(code);
  };
  const stop = (signal: string) => {
    if (drain.draining) {
      say(`${signal} again: exiting without waiting for requests in flight`);
      exit(1);
    }
    say(`${signal}: not ready any more; serving ${delaySeconds} s more, then finishing requests in flight (at most ${drainSeconds} s)`);
    drain.run(app, delaySeconds * 1000, drainSeconds * 1000).then(
      (outcome) => {
        if (outcome.result === 'drained') {
          say(`drained in ${outcome.ms} ms; every request in flight was answered`);
          exit(0);
        }
        say(`drain timeout: ${outcome.connections} connection(s) still busy after ${drainSeconds} s were cut`);
        exit(1);
      },
      (error: unknown) => {
        say(`shutdown failed: ${messageOf(error)}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Writes out what the buffered decision log holds, synchronously, before the process exits. */
function flushDecisionLog(destination: { flushSync(): void }): void {
  try {
    destination.flushSync();
  } catch (error) {
    say(`the decision log could not be written out before exiting: ${messageOf(error)}`);
  }
}

/** What /metrics says of the active policy set and, for bundles, how stale it may be. */
function policySetState(pipeline: AdmissionPipeline, sync: BundleSync | undefined): PolicySetState {
  const revision = pipeline.policySet?.revision;
  const stalenessSeconds = sync?.status().stalenessSeconds;
  return { source: sync ? 'bundle' : 'directory', ...(revision ? { revision } : {}), ...(stalenessSeconds !== undefined ? { stalenessSeconds } : {}) };
}

export async function serve(config: CanopyConfig): Promise<void> {
  const decisionLog = bufferedStdout();
  const logger = createLogger(decisionLog, { level: config.logLevel });
  let sync: BundleSync | undefined;
  // Read at scrape time, once the pipeline and the policy source below exist.
  const metrics: CanopyMetrics = new CanopyMetrics((): PolicySetState => policySetState(pipeline, sync));
  const fleet = await fleetContext(config, logger, metrics);
  const limits = config.supplyChain;
  const registryClient = new OciClient(fleet.config.registries, fleet.config.imageLookupTimeoutMs, undefined, limits.maxConnectionsPerRegistry);
  const images = new ImageEnricher(registryClient, {
    deadlineMs: fleet.config.imageLookupTimeoutMs,
    onLookup: metrics.lookup,
    maxLookupsPerRequest: limits.maxLookupsPerRequest,
    maxConcurrentLookups: limits.maxConcurrentLookups,
    maxLookupsPerTenant: limits.maxLookupsPerTenant,
  });
  // Evaluation runs in worker threads so the event loop stays free for TLS, parsing and look-ups.
  const pool =
    config.engine.workers > 0
      ? new EvaluationPool(config.engine.workers, (reason) => logger.error({ reason }, 'an evaluation worker stopped and was replaced; its requests were denied'))
      : undefined;
  const pipeline = new AdmissionPipeline({
    decisionLog: logger,
    ...(pool ? { pool } : {}),
    decisionCacheSize: config.engine.decisionCacheSize,
    deadlineMs: config.deadlineMs,
    facts: async (request, set) => {
      const facts = await fleet.factsFor(request);
      return { ...facts, ...(await lookUpImages(images, set, request, facts)) };
    },
  });
  const source = await policySource(config, pipeline, fleet, logger);
  sync = source.sync;
  const watcher = source.watcher;
  const tls = await servingTls(config, logger);
  const recorder = config.recordRequests ? RequestRecorder.open(config.recordRequests, logger) : undefined;
  const clientCa = config.tls.clientCaFile ? await readClientCa(config.tls.clientCaFile) : undefined;
  const drain = new Drain();
  let reloader: CertificateReloader | undefined;
  const app = await createServer({
    pipeline,
    tls: tls.pair,
    logger,
    bodyLimit: config.bodyLimit,
    guards: {
      ...(clientCa ? { clientCa } : {}),
      maxInFlight: config.limits.maxInFlight,
      perClientPerSecond: config.limits.perClientPerSecond,
      ...(config.admin.token ? { adminToken: config.admin.token } : {}),
    },
    readiness: () => fleet.notReadyReason,
    metrics,
    drain,
    status: () => ({
      ...(sync ? { bundle: sync.status() } : {}),
      ...(watcher ? { policyDirectory: watcher.status() } : {}),
      ...(reloader ? { servingCertificate: reloader.status() } : {}),
      engine: { workers: pool?.status() ?? 'none: evaluating on the event loop', decisionCache: pipeline.cacheStatus() ?? 'off' },
      fleet: fleet.status(),
    }),
    ...(recorder ? { recorder } : {}),
  });
  if (tls.reload) {
    reloader = new CertificateReloader(
      { ...tls.reload, apply: (pair) => useServingCertificate(app, pair), intervalMs: config.tls.reloadIntervalSeconds * 1000, logger },
      tls.pair,
    );
    reloader.start();
  }
  app.addHook('onClose', async () => {
    fleet.stop();
    sync?.stop();
    watcher?.stop();
    reloader?.stop();
    // The pool is not closed here: fastify runs onClose while requests admitted before the close may
    // still be gathering facts, and they must be evaluated. Its threads end with the process.
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  // One write, so that whoever reads the output (a person, a test, a log collector) gets it whole.
  const lines = [
    source.summary,
    describeCluster(fleet),
    `${pool ? `evaluating in ${pool.size} worker thread${pool.size === 1 ? '' : 's'}` : 'evaluating on the event loop'}; ` +
      `${config.engine.decisionCacheSize > 0 ? `remembering up to ${config.engine.decisionCacheSize} evaluations` : 'decision cache off'}`,
    `listening on https://${config.host}:${port}: POST /validate, POST /mutate, GET /healthz, GET /readyz, GET /metrics, GET /status`,
    tls.note,
    `answering within ${config.deadlineMs} ms (a denial past it); at most ${config.limits.maxInFlight} webhook requests at once` +
      `${config.limits.perClientPerSecond > 0 ? `, ${config.limits.perClientPerSecond}/s per client address` : ''}` +
      `${clientCa ? `; webhook callers must present a certificate signed by ${config.tls.clientCaFile}` : ''}`,
  ];
  if (recorder) lines.push(`recording requests (Secret payloads and environment values redacted) to ${recorder.file}`);
  if (!tls.reload) {
    const ca = path.join(config.stateDir, 'tls', 'ca.crt');
    lines.push(
      `try it: curl --cacert ${ca} -H 'Content-Type: application/json' ` +
        `--data @examples/admission-reviews/privileged-pod.json https://${urlHost(config.host)}:${port}/validate`,
    );
  }
  say(lines.join('\ncanopy: '));
  // After listening: /healthz answers and /readyz says why not ready while the first bundle is fetched.
  if (sync) inBackground(sync.start(), (error) => logger.error({ reason: messageOf(error) }, 'bundle sync could not start'));
  stopOnSignals(app, drain, config, () => flushDecisionLog(decisionLog));
}

/** The flag for one setting: a boolean may be given bare (`--bootstrap-tls`); a list is repeatable. */
function optionFor(setting: (typeof SETTINGS)[number]): Option {
  const placeholder = setting.kind === 'boolean' ? ' [true|false]' : setting.kind === 'yaml' ? ' <yaml>' : ' <value>';
  const option = new Option(`${setting.flag}${placeholder}`, setting.description);
  if (setting.kind === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  return option;
}

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run the validating and mutating admission webhooks over HTTPS')
    .option('--config <file>', 'a YAML file with any of the settings below (also CANOPY_CONFIG)');
  const options = SETTINGS.map((setting) => ({ setting, option: optionFor(setting) }));
  for (const { option } of options) command.addOption(option);
  command.addHelpText('after', settingsHelp());
  command.action(async (given: Record<string, FlagValue | undefined>) => {
    const flags: Record<string, FlagValue> = {};
    for (const { setting, option } of options) {
      const value = given[option.attributeName()];
      if (value !== undefined) flags[setting.key] = value;
    }
    const file = (given['config'] as string | undefined) ?? process.env['CANOPY_CONFIG'];
    try {
      const config = await loadCanopyConfig({ ...(file ? { file } : {}), env: process.env, flags, podNamespace: podNamespace() });
      await serve(config);
    } catch (error) {
      // Whatever stops the start (config, policies, certificates, the API server) is said in one line;
      // informers or watchers already started must not keep a half-started process alive.
      say(`refusing to start: ${messageOf(error)}`);
      if (process.env['CANOPY_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exit(1);
    }
  });
}
