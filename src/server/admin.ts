// The admin plugin: GET /healthz (the process is up), GET /readyz (a validated, warmed-up policy set is
// active and nothing else holds it back), GET /metrics (Prometheus text) and GET /status (what is active,
// since when, how its sources are doing; behind the admin token, or for callers on this host). No webhook guard reaches these routes.
import type { Server } from 'node:https';
import type { FastifyPluginAsync } from 'fastify';
import { NO_POLICY_SET, type AdmissionPipeline } from '../pipeline/index.js';
import type { CanopyMetrics } from '../operations/metrics/index.js';
import bearerAuth from '@fastify/bearer-auth';
import { bearerToken, loopbackOnly } from './guards.js';

/** Why the server is not ready yet (caches still syncing, shutting down, ...), or undefined when it is. */
export type ReadinessCheck = () => string | undefined;

export interface AdminPluginOptions {
  pipeline: AdmissionPipeline;
  readiness: ReadinessCheck;
  metrics?: CanopyMetrics | undefined;
  /** What GET /status adds: bundle sync, directory reloads, fleet caches. */
  status?: (() => Record<string, unknown>) | undefined;
  /** The bearer token GET /status requires; without one, /status answers loopback callers only. */
  adminToken?: string | undefined;
}

export const adminPlugin: FastifyPluginAsync<AdminPluginOptions, Server> = async (app, { pipeline, readiness, metrics, status, adminToken }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const set = pipeline.policySet;
    if (!set) return reply.code(503).send({ status: 'not ready', reason: NO_POLICY_SET });
    const waiting = readiness();
    if (waiting) return reply.code(503).send({ status: 'not ready', reason: waiting });
    return { status: 'ready', revision: set.revision, policies: set.policies.size };
  });
  if (metrics) {
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics.text();
      return reply.type(contentType).send(body);
    });
  }
  // /status in a context of its own, so that its guard (the token, or loopback only) covers it alone.
  await app.register(async (statusContext) => {
    if (adminToken !== undefined) await statusContext.register(bearerAuth, bearerToken(adminToken, 'GET /status requires the bearer token set in admin.token'));
    else statusContext.addHook('onRequest', loopbackOnly);
    statusContext.get('/status', async () => {
      const set = pipeline.policySet;
      return {
        policySet: set ? { revision: set.revision, policies: set.policies.size, mutations: set.mutations.length } : null,
        ...(status?.() ?? {}),
      };
    });
  });
};
