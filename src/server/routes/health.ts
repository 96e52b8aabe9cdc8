// GET /healthz (the process is up) and GET /readyz (a validated, warmed-up policy set is active).
import type { WebhookApp } from '../app.js';
import { NO_POLICY_SET, type AdmissionPipeline } from '../../pipeline/index.js';

/** Why the server is not ready yet (caches still syncing, ...), or undefined when it is. */
export type ReadinessCheck = () => string | undefined;

export function healthRoutes(app: WebhookApp, pipeline: AdmissionPipeline, readiness?: ReadinessCheck): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const set = pipeline.policySet;
    if (!set) return reply.code(503).send({ status: 'not ready', reason: NO_POLICY_SET });
    const waiting = readiness?.();
    if (waiting) return reply.code(503).send({ status: 'not ready', reason: waiting });
    return { status: 'ready', revision: set.revision, policies: set.policies.size };
  });
}

/** GET /status: what is active, since when, and how its sources are doing. */
export function statusRoute(app: WebhookApp, pipeline: AdmissionPipeline, status?: () => Record<string, unknown>): void {
  app.get('/status', async () => {
    const set = pipeline.policySet;
    return {
      policySet: set ? { revision: set.revision, policies: set.policies.size, mutations: set.mutations.length } : null,
      ...(status?.() ?? {}),
    };
  });
}
