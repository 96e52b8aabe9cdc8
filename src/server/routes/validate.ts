// POST /validate: the validating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { CanopyMetrics } from '../../metrics/index.js';
import type { RequestRecorder } from '../../recording/index.js';

export function validateRoute(app: WebhookApp, pipeline: AdmissionPipeline, recorder?: RequestRecorder, metrics?: CanopyMetrics): void {
  app.post<{ Querystring: { timeout?: string } }>('/validate', async (request) => {
    // The API server states its timeout (`?timeout=5s`); the answer must beat it.
    const result = await pipeline.handleValidate(request.body, request.query.timeout);
    recorder?.record('validate', request.body);
    metrics?.validated(result.decision, result.latencyUs / 1e6);
    return result.review;
  });
}
