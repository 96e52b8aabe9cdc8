// POST /validate: the validating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';

export function validateRoute(app: WebhookApp, pipeline: AdmissionPipeline): void {
  app.post('/validate', async (request) => pipeline.review(request.body).review);
}
