// POST /mutate: the mutating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';

export function mutateRoute(app: WebhookApp, pipeline: AdmissionPipeline): void {
  app.post('/mutate', async (request) => pipeline.mutate(request.body).review);
}
