// POST /mutate: the mutating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { CanopyMetrics } from '../../metrics/index.js';
import type { RequestRecorder } from '../../recording/index.js';

export function mutateRoute(app: WebhookApp, pipeline: AdmissionPipeline, recorder?: RequestRecorder, metrics?: CanopyMetrics): void {
  app.post<{ Querystring: { timeout?: string } }>('/mutate', async (request) => {
    // The API server states its timeout (`?timeout=5s`); the answer must beat it.
    const result = await pipeline.handleMutate(request.body, request.query.timeout);
    recorder?.record('mutate', request.body);
    metrics?.mutated(result.decision, result.latencyUs / 1e6);
    return result.review;
  });
}
