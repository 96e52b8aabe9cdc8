// POST /validate: the validating admission webhook.
import type { WebhookApp } from '../app.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { RequestRecorder } from '../../recording/index.js';

export function validateRoute(app: WebhookApp, pipeline: AdmissionPipeline, recorder?: RequestRecorder): void {
  app.post('/validate', async (request) => {
    const result = await pipeline.handleValidate(request.body);
    recorder?.record('validate', request.body);
    return result.review;
  });
}
