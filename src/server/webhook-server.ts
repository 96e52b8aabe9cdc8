// The webhook server: fastify over HTTPS, a few lines of routing over the admission pipeline.
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from '../operations/decision-log/index.js';
import type { AdmissionPipeline } from '../pipeline/index.js';
import type { RequestRecorder } from '../operations/recording/index.js';
import type { WebhookApp } from './app.js';
import { acceptJsonWithAnyContentType, registerErrorHandling } from './errors.js';
import { DEFAULT_BODY_LIMIT } from '../operations/config/index.js';
import type { CanopyMetrics } from '../operations/metrics/index.js';
import type { KeyPairPem } from '../sources/tls/index.js';
import type { Drain } from './drain.js';
import { installGuards, type GuardOptions } from './guards.js';
import { healthRoutes, statusRoute, type ReadinessCheck } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { webhookRoutes } from './routes/webhooks.js';

export { Drain, type DrainOutcome } from './drain.js';
export { tokenMatches } from './bearer.js';
export { type GuardOptions } from './guards.js';

/** TLS settings besides the certificate; a reloaded certificate gets them too. */
const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

/** The client CA of each server with mutual TLS, which a reloaded serving certificate must keep. */
const clientCas = new WeakMap<WebhookApp, string>();

export interface ServerOptions {
  pipeline: AdmissionPipeline;
  tls: { cert: string; key: string };
  logger: Logger;
  bodyLimit?: number;
  /** Records every judged AdmissionReview (`--record-requests`). */
  recorder?: RequestRecorder;
  /** Extra readiness beyond an active policy set (the fleet caches). */
  readiness?: ReadinessCheck;
  /** What GET /status adds: bundle sync, directory reloads, fleet caches. */
  status?: () => Record<string, unknown>;
  /** Serves GET /metrics and counts every answer. */
  metrics?: CanopyMetrics;
  /** Graceful shutdown: while it drains, /readyz is 503 and responses close their connections. */
  drain?: Drain;
  /** Mutual TLS, flood limits and the /status token (guards.ts). */
  guards?: GuardOptions;
}

/** Puts a new serving certificate into service: new handshakes get it, open connections keep theirs. */
export function useServingCertificate(app: WebhookApp, pair: KeyPairPem): void {
  const ca = clientCas.get(app);
  app.server.setSecureContext({ ...TLS_OPTIONS, cert: pair.cert, key: pair.key, ...(ca ? { ca } : {}) });
}

export type { WebhookApp } from './app.js';

export async function createServer(options: ServerOptions): Promise<WebhookApp> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const clientCa = options.guards?.clientCa;
  // With a client CA, every handshake asks for a certificate but none is required there: the webhooks
  // check it per request (guards.ts), so that kubelet probes of /healthz, which present none, still work.
  const mutualTls = clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {};
  const app = Fastify({
    https: { ...TLS_OPTIONS, cert: options.tls.cert, key: options.tls.key, ...mutualTls },
    bodyLimit,
    // pino's Logger is what fastify logs through; its type is wider than fastify's logger interface.
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per decision comes from the decision log; per-request access lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // The API server gives a webhook at most 30 s; a slow client must not hold a connection longer.
    requestTimeout: 30_000,
    // While closing, a request on an open keep-alive connection is still judged: a 503 would make the
    // API server refuse a user's write (failurePolicy: Fail) that another replica would have admitted.
    return503OnClosing: false,
  });
  if (clientCa) clientCas.set(app, clientCa);
  registerErrorHandling(app, bodyLimit);
  acceptJsonWithAnyContentType(app);
  await installGuards(app, options.guards ?? {});
  options.drain?.install(app);
  webhookRoutes(app, options.pipeline, options.recorder, options.metrics);
  if (options.metrics) metricsRoute(app, options.metrics);
  if (options.recorder) {
    const recorder = options.recorder;
    app.addHook('onClose', async () => recorder.close());
  }
  const drain = options.drain;
  const readiness = options.readiness;
  healthRoutes(app, options.pipeline, () => (drain?.draining ? 'shutting down' : readiness?.()));
  statusRoute(app, options.pipeline, options.status);
  await app.ready();
  return app;
}
