// The webhook plugin: POST /validate and POST /mutate, each a pipeline call, then the request's recording
// and metrics, then the AdmissionReview answer. Its guards (mutual TLS, requests in flight, the rate per
// client) are hooks of this plugin's own context, so they cover exactly these two routes.
import type { Server } from 'node:https';
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync } from 'fastify';
import type { AdmissionPipeline } from '../pipeline/index.js';
import type { CanopyMetrics } from '../operations/metrics/index.js';
import type { RequestRecorder } from '../operations/recording/index.js';
import { clientCertificateRequired, inFlightLimit, perClientRate, type GuardOptions } from './guards.js';

export interface WebhookPluginOptions {
  pipeline: AdmissionPipeline;
  recorder?: RequestRecorder | undefined;
  metrics?: CanopyMetrics | undefined;
  guards: Omit<GuardOptions, 'adminToken'>;
}

type Webhook = 'validate' | 'mutate';

export const webhookPlugin: FastifyPluginAsync<WebhookPluginOptions, Server> = async (app, { pipeline, recorder, metrics, guards }) => {
  if (guards.clientCa) app.addHook('onRequest', clientCertificateRequired);
  if (guards.maxInFlight) app.addHook('onRequest', inFlightLimit(guards.maxInFlight));
  // @fastify/rate-limit counts per client address in the onRequest hook of the routes of this context.
  if ((guards.perClientPerSecond ?? 0) > 0) await app.register(rateLimit, perClientRate(guards.perClientPerSecond ?? 0));

  /** One webhook route: `handle` judges the body within the API server's timeout, `observe` counts the answer. */
  const route = <R extends { review: unknown; latencyUs: number }>(webhook: Webhook, handle: (body: unknown, timeout: string | undefined, text: string) => Promise<R>, observe: (result: R) => void) =>
    app.post<{ Querystring: { timeout?: string } }>(`/${webhook}`, {
      // Answers refused before judging (not an AdmissionReview, too large, a guard's 4xx) never reach the
      // handler's own count.
      onResponse: async (_request, reply) => {
        if (reply.statusCode >= 400) metrics?.invalid(webhook, reply.elapsedTime / 1000);
      },
    }, async (request) => {
      // The API server states its timeout (`?timeout=5s`); the answer must beat it.
      const result = await handle(request.body, request.query.timeout, request.bodyText);
      recorder?.record(webhook, request.body);
      observe(result);
      return result.review;
    });
  route('validate', (body, timeout, text) => pipeline.handleValidate(body, timeout, text), (result) => metrics?.validated(result.decision, result.latencyUs / 1e6));
  route('mutate', (body, timeout) => pipeline.handleMutate(body, timeout), (result) => metrics?.mutated(result.decision, result.latencyUs / 1e6));
};
