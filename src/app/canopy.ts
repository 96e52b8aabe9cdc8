// The composition root: a running Canopy from a config. It builds the services `canopy serve` needs (the
// fleet context, image look-ups, the evaluation pool, the pipeline, the policy source, the serving
// certificate and its reloader, the HTTPS server), starts them in order, and hands them back with one
// close(). The CLI only parses arguments, prints the summary and turns signals into a drain; tests and
// benchmarks start the same Canopy, replacing what they must (a log sink, a certificate, stated facts).
import path from 'node:path';
import type { DestinationStream } from 'pino';
import type { CanopyConfig } from '../operations/config/index.js';
import { bufferedStdout, createLogger } from '../operations/decision-log/index.js';
import type { BundleSync, PolicyDirectoryWatcher } from '../sources/bundle/index.js';
import { CanopyMetrics, type PolicySetState } from '../operations/metrics/index.js';
import { AdmissionPipeline, EvaluationPool, type PipelineOptions } from '../pipeline/index.js';
import { OciClient } from '../sources/oci/index.js';
import { RequestRecorder } from '../operations/recording/index.js';
import { ImageEnricher, lookUpImages } from '../facts/supply-chain/index.js';
import { createServer, Drain, useServingCertificate, type DrainOutcome, type WebhookApp } from '../server/index.js';
import { CertificateReloader, type KeyPairPem } from '../sources/tls/index.js';
import { inBackground, messageOf } from '../operations/errors/index.js';
import { clusterClient, describeCluster, fleetContext } from './fleet.js';
import { fleetBudgets, withFleetShares } from './fleet-budgets.js';
import type { FleetContext } from '../facts/fleet/index.js';
import { policySource, type PolicySource } from './policy-source.js';
import { readClientCa, servingTls, type ServingTls } from './serving-tls.js';
import { setHeapGrowth } from './heap-growth.js';

/** What a caller may provide instead of what the config says; `canopy serve` provides none. */
export interface CanopyDependencies {
  /** Where the decision log and other records go; stdout, buffered, by default. */
  logDestination?: DestinationStream;
  /** A serving certificate to use as it is (not reloaded), instead of config.tls's source. */
  servingCertificate?: KeyPairPem;
  /** The facts of each request, instead of the fleet context's and the image look-ups'. */
  facts?: PipelineOptions['facts'];
  /** Why the webhook is not ready yet, instead of the fleet context's caches. */
  readiness?: () => string | undefined;
  /** No policy source at all: the caller activates policy sets on `pipeline` itself. */
  withoutPolicySource?: boolean;
}

export interface RunningCanopy {
  readonly app: WebhookApp;
  readonly pipeline: AdmissionPipeline;
  /** The port it listens on (the one chosen by the system when the config says 0). */
  readonly port: number;
  /** What was started, one line each, for a person reading the start-up output. */
  readonly summary: string[];
  /** Graceful shutdown (see Drain): not ready at once, serving `delayMs` more, then `drainMs` for requests in flight. */
  drain(delayMs: number, drainMs: number): Promise<DrainOutcome>;
  readonly draining: boolean;
  /** Writes out what the buffered decision log holds, synchronously: call it before the process exits. */
  flushLog(): void;
  /** Stops listening (requests in flight are answered), every source and the evaluation threads. */
  close(): Promise<void>;
}

/** What /metrics says of the active policy set and, for bundles, how stale it may be. */
function policySetState(pipeline: AdmissionPipeline | undefined, sync: BundleSync | undefined): PolicySetState {
  const revision = pipeline?.policySet?.revision;
  const stalenessSeconds = sync?.status().stalenessSeconds;
  return { source: sync ? 'bundle' : 'directory', ...(revision ? { revision } : {}), ...(stalenessSeconds !== undefined ? { stalenessSeconds } : {}) };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** A destination's synchronous flush, where it has one (pino's buffered stdout). */
function flusher(destination: DestinationStream): () => void {
  const flushable = destination as DestinationStream & { flushSync?: () => void };
  return () => flushable.flushSync?.();
}

export async function startCanopy(config: CanopyConfig, dependencies: CanopyDependencies = {}): Promise<RunningCanopy> {
  const logDestination = dependencies.logDestination ?? bufferedStdout();
  const logger = createLogger(logDestination, { level: config.logLevel });
  // Read at scrape time, once the pipeline and the policy source below exist.
  const scraped: { pipeline?: AdmissionPipeline; sync?: BundleSync } = {};
  const metrics = new CanopyMetrics((): PolicySetState => policySetState(scraped.pipeline, scraped.sync));
  const { client: kube, fleetConnects } = clusterClient(config);
  const fleet = await fleetContext(config, logger, metrics, fleetConnects ? kube : undefined);
  // Connection pools: closed once the server has answered what it admitted (close()), or at a failed start.
  const clients: { close(): Promise<void> }[] = kube ? [kube] : [];
  const closeClients = () => Promise.all(clients.map((client) => client.close()));
  const stopOnFailure: (() => void)[] = [() => fleet.stop(), () => inBackground(closeClients(), (error) => logger.error({ reason: messageOf(error) }, 'connections did not close'))];
  try {
    // Process-wide, before the workers start: every thread's heap grows by it (heap-growth.ts).
    setHeapGrowth(config.engine.heapGrowthPercent);
    const pool =
      config.engine.workers > 0
        ? new EvaluationPool(config.engine.workers, (reason) => logger.error({ reason }, 'an evaluation worker stopped and was replaced; its requests were denied'))
        : undefined;
    if (pool) stopOnFailure.push(() => inBackground(pool.close(), (error) => logger.error({ reason: messageOf(error) }, 'evaluation threads did not stop')));
    const budgets = fleetBudgets(config, fleet, () => scraped.pipeline, logger);
    if (budgets) clients.push(budgets.client);
    const facts = dependencies.facts ?? imageAndFleetFacts(config, fleet, metrics, clients);
    const pipeline = new AdmissionPipeline({
      decisionLog: logger,
      ...(pool ? { pool } : {}),
      decisionCacheSize: config.engine.decisionCacheSize,
      deadlineMs: config.deadlineMs,
      facts: budgets ? withFleetShares(facts, budgets.leases) : facts,
    });
    scraped.pipeline = pipeline;
    const source: PolicySource = dependencies.withoutPolicySource
      ? { summary: 'no policy source: policy sets are activated by the caller' }
      : await policySource(config, pipeline, fleet, logger);
    const sync = source.sync;
    scraped.sync = sync;
    if (source.store) clients.push(source.store);
    const watcher: PolicyDirectoryWatcher | undefined = source.watcher;
    if (watcher) stopOnFailure.push(() => watcher.stop());
    const tls: ServingTls = dependencies.servingCertificate
      ? { pair: dependencies.servingCertificate, note: 'serving certificate given by the caller' }
      : await servingTls(config, logger, kube);
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
      readiness: dependencies.readiness ?? (() => fleet.notReadyReason),
      metrics,
      drain,
      status: () => ({
        ...(sync ? { bundle: sync.status() } : {}),
        ...(watcher ? { policyDirectory: watcher.status() } : {}),
        ...(reloader ? { servingCertificate: reloader.status() } : {}),
        engine: { workers: pool?.status() ?? 'none: evaluating on the event loop', decisionCache: pipeline.cacheStatus() ?? 'off', heapGrowthPercent: config.engine.heapGrowthPercent || "V8's own" },
        fleet: fleet.status(),
        ...(budgets ? { fleetBudgets: budgets.leases.status() } : {}),
      }),
      ...(recorder ? { recorder } : {}),
      onClose: () => {
        fleet.stop();
        sync?.stop();
        watcher?.stop();
        reloader?.stop();
        // The pool is not closed here: fastify runs onClose while requests admitted before the close may
        // still be gathering facts, and they must be evaluated. close() below ends it once they are answered.
      },
    });
    // A listen that fails (the port is taken) closes the server, whose onClose stops the sources above.
    stopOnFailure.push(() => inBackground(app.close(), (error) => logger.error({ reason: messageOf(error) }, 'the server did not close')));
    if (tls.reload) {
      reloader = new CertificateReloader(
        { ...tls.reload, apply: (pair) => useServingCertificate(app, pair), intervalMs: config.tls.reloadIntervalSeconds * 1000, logger },
        tls.pair,
      );
      reloader.start();
    }
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const summary = [
      source.summary,
      describeCluster(fleet),
      `${pool ? `evaluating in ${pool.size} worker thread${pool.size === 1 ? '' : 's'}` : 'evaluating on the event loop'}; ` +
        `${config.engine.decisionCacheSize > 0 ? `remembering up to ${config.engine.decisionCacheSize} evaluations` : 'decision cache off'}; ` +
        `${config.engine.heapGrowthPercent > 0 ? `heaps grow ${config.engine.heapGrowthPercent}% before a full collection` : "heap growth left to V8"}`,
      `listening on https://${config.host}:${port}: POST /validate, POST /mutate, GET /healthz, GET /readyz, GET /metrics, GET /status`,
      tls.note,
      `answering within ${config.deadlineMs} ms (a denial past it); at most ${config.limits.maxInFlight} webhook requests at once` +
        `${config.limits.perClientPerSecond > 0 ? `, ${config.limits.perClientPerSecond}/s per client address` : ''}` +
        `${clientCa ? `; webhook callers must present a certificate signed by ${config.tls.clientCaFile}` : ''}`,
    ];
    if (budgets) summary.push(budgets.summary);
    if (recorder) summary.push(`recording requests (Secret payloads and environment values redacted) to ${recorder.file}`);
    if (!tls.reload && !dependencies.servingCertificate) {
      const ca = path.join(config.stateDir, 'tls', 'ca.crt');
      summary.push(
        `try it: curl --cacert ${ca} -H 'Content-Type: application/json' ` +
          `--data @examples/admission-reviews/privileged-pod.json https://${urlHost(config.host)}:${port}/validate`,
      );
    }
    // After listening: /healthz answers and /readyz says why not ready while the first bundle is fetched.
    if (sync) inBackground(sync.start(), (error) => logger.error({ reason: messageOf(error) }, 'bundle sync could not start'));
    // The first reading of the fleet budgets: until it is in, a request that needs a share reads its budget itself.
    if (budgets) inBackground(budgets.leases.start(), (error) => logger.error({ reason: messageOf(error) }, 'fleet budgets could not start'));
    const flushLog = flusher(logDestination);
    return {
      app,
      pipeline,
      port,
      summary,
      drain: async (delayMs, drainMs) => {
        const outcome = await drain.run(app, delayMs, drainMs);
        // No request is judged any more: what this cluster was granted and does not use goes back.
        await budgets?.leases.close();
        return outcome;
      },
      get draining() {
        return drain.draining;
      },
      flushLog,
      close: async () => {
        await app.close();
        await pool?.close();
        // After the last request was answered: what this cluster was granted and does not use goes back.
        await budgets?.leases.close();
        await closeClients();
        flushLog();
      },
    };
  } catch (error) {
    // Whatever stops the start: informers, watchers and threads already started must not keep running.
    for (const stop of stopOnFailure) stop();
    throw error;
  }
}

/** Each request's facts: the fleet context's, then the image look-ups the active policies need. */
function imageAndFleetFacts(config: CanopyConfig, fleet: FleetContext, metrics: CanopyMetrics, clients: { close(): Promise<void> }[]): NonNullable<PipelineOptions['facts']> {
  const limits = config.supplyChain;
  const registryClient = new OciClient(fleet.config.registries, fleet.config.imageLookupTimeoutMs, undefined, limits.maxConnectionsPerRegistry);
  clients.push(registryClient);
  const images = new ImageEnricher(registryClient, {
    deadlineMs: fleet.config.imageLookupTimeoutMs,
    onLookup: metrics.lookup,
    maxLookupsPerRequest: limits.maxLookupsPerRequest,
    maxConcurrentLookups: limits.maxConcurrentLookups,
    maxLookupsPerTenant: limits.maxLookupsPerTenant,
  });
  return async (request, set) => {
    const facts = await fleet.factsFor(request);
    return { ...facts, ...(await lookUpImages(images, set, request, facts)) };
  };
}
