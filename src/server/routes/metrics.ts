// GET /metrics: Prometheus text format; POST /validate and /mutate answers refused before judging
// (HTTP 4xx: not an AdmissionReview, too large) are counted here, as the routes never see them.
import type { WebhookApp } from '../app.js';
import type { CanopyMetrics } from '../../operations/metrics/index.js';

const WEBHOOKS = { '/validate': 'validate', '/mutate': 'mutate' } as const;

export function metricsRoute(app: WebhookApp, metrics: CanopyMetrics): void {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.text();
    return reply.type(contentType).send(body);
  });
  app.addHook('onResponse', async (request, reply) => {
    // The API server adds ?timeout=10s to the path; only the path says which webhook this was.
    const webhook = WEBHOOKS[request.url.split('?')[0] as keyof typeof WEBHOOKS];
    if (webhook && reply.statusCode >= 400) metrics.invalid(webhook, reply.elapsedTime / 1000);
  });
}
