// POST /mutate: the mutating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { RequestRecorder } from '../../recording/index.js';

export function mutateRoute(app: WebhookApp, pipeline: AdmissionPipeline, recorder?: RequestRecorder): void {
  app.post('/mutate', async (request) => {
    const result = await pipeline.handleMutate(request.body);
    recorder?.record('mutate', request.body);
    return result.review;
  });
}
