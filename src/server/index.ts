// The webhook server: fastify over HTTPS, a few lines of routing over the admission pipeline.
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from '../decision-log/index.js';
import type { AdmissionPipeline } from '../pipeline/index.js';
import type { RequestRecorder } from '../recording/index.js';
import type { WebhookApp } from './app.js';
import { acceptJsonWithAnyContentType, registerErrorHandling } from './errors.js';
import { healthRoutes, statusRoute, type ReadinessCheck } from './routes/health.js';
import { mutateRoute } from './routes/mutate.js';
import { validateRoute } from './routes/validate.js';

/**
 * An AdmissionReview holds the object and, on UPDATE, the old object: each can be up to etcd's 1.5 MiB,
 * so the default leaves room for two of them and the envelope.
 */
export const DEFAULT_BODY_LIMIT = 6 * 1024 * 1024;

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
}

export type { WebhookApp } from './app.js';

export async function createServer(options: ServerOptions): Promise<WebhookApp> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    https: { cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' },
    bodyLimit,
    // pino's Logger is what fastify logs through; its type is wider than fastify's logger interface.
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per decision comes from the decision log; per-request access lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // The API server gives a webhook at most 30 s; a slow client must not hold a connection longer.
    requestTimeout: 30_000,
    return503OnClosing: true,
  });
  registerErrorHandling(app, bodyLimit);
  acceptJsonWithAnyContentType(app);
  validateRoute(app, options.pipeline, options.recorder);
  mutateRoute(app, options.pipeline, options.recorder);
  if (options.recorder) {
    const recorder = options.recorder;
    app.addHook('onClose', async () => recorder.close());
  }
  healthRoutes(app, options.pipeline, options.readiness);
  statusRoute(app, options.pipeline, options.status);
  await app.ready();
  return app;
}
