// POST /validate and POST /mutate: the admission webhooks, each a pipeline call, then the request's
// recording and metrics, then the AdmissionReview answer.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { CanopyMetrics } from '../../operations/metrics/index.js';
import type { RequestRecorder } from '../../operations/recording/index.js';

/** One webhook route: `handle` judges the body within the API server's timeout, `observe` counts the answer. */
function webhookRoute<R extends { review: unknown; latencyUs: number }>(
  app: WebhookApp,
  webhook: 'validate' | 'mutate',
  handle: (body: unknown, timeout: string | undefined) => Promise<R>,
  observe: (result: R) => void,
  recorder: RequestRecorder | undefined,
): void {
  app.post<{ Querystring: { timeout?: string } }>(`/${webhook}`, async (request) => {
    // The API server states its timeout (`?timeout=5s`); the answer must beat it.
    const result = await handle(request.body, request.query.timeout);
    recorder?.record(webhook, request.body);
    observe(result);
    return result.review;
  });
}

export function webhookRoutes(app: WebhookApp, pipeline: AdmissionPipeline, recorder?: RequestRecorder, metrics?: CanopyMetrics): void {
  webhookRoute(app, 'validate', (body, timeout) => pipeline.handleValidate(body, timeout), (result) => metrics?.validated(result.decision, result.latencyUs / 1e6), recorder);
  webhookRoute(app, 'mutate', (body, timeout) => pipeline.handleMutate(body, timeout), (result) => metrics?.mutated(result.decision, result.latencyUs / 1e6), recorder);
}
