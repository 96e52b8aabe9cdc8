// The webhook server: fastify over HTTPS with two encapsulated plugins, the webhooks (webhooks.ts, with
// their guards) and the admin endpoints (admin.ts), over the admission pipeline.
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
import type { GuardOptions } from './guards.js';
import { adminPlugin, type ReadinessCheck } from './admin.js';
import { webhookPlugin } from './webhooks.js';

export { Drain, type DrainOutcome } from './drain.js';
export { type GuardOptions } from './guards.js';

/** TLS settings besides the certificate; a reloaded certificate gets them too. */
const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

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
  /** Stops what serves beside the server (sources, reloaders) when it closes. */
  onClose?: () => void;
}

/** Puts a new serving certificate into service: new handshakes get it, open connections keep theirs. */
export function useServingCertificate(app: WebhookApp, pair: KeyPairPem): void {
  // A server with mutual TLS keeps its client CA (a decoration of the instance, see createServer).
  const ca = app.clientCa;
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
  app.decorate('clientCa', clientCa);
  // Shared by both plugins: JSON error answers, JSON bodies, and Connection: close while draining.
  registerErrorHandling(app, bodyLimit);
  acceptJsonWithAnyContentType(app);
  options.drain?.install(app);
  const { adminToken, ...webhookGuards } = options.guards ?? {};
  await app.register(webhookPlugin, { pipeline: options.pipeline, recorder: options.recorder, metrics: options.metrics, guards: webhookGuards });
  const drain = options.drain;
  const readiness = options.readiness;
  await app.register(adminPlugin, {
    pipeline: options.pipeline,
    readiness: () => (drain?.draining ? 'shutting down' : readiness?.()),
    metrics: options.metrics,
    status: options.status,
    adminToken,
  });
  const { recorder, onClose } = options;
  if (recorder) app.addHook('onClose', async () => recorder.close());
  if (onClose) app.addHook('onClose', async () => onClose());
  await app.ready();
  return app;
}
