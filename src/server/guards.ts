// Who may call what, and how much. The webhooks (/validate, /mutate) can require a client certificate
// (the API server presents one through its admission kubeconfig) and are protected from floods: a cap on
// requests judged at once and an optional rate per client address, both answered 429 before the body is
// read. /healthz and /readyz are never limited or authenticated: a kubelet probe that fails restarts a
// replica that was only busy. /status needs a bearer token, or a caller on this host.
import type { TLSSocket } from 'node:tls';
import rateLimit from '@fastify/rate-limit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebhookApp } from './app.js';
import { tokenMatches } from './bearer.js';

const WEBHOOK_ROUTES = new Set(['/validate', '/mutate']);

export interface GuardOptions {
  /** Mutual TLS: the webhooks answer only callers whose certificate this CA signed. */
  clientCa?: string;
  /** Webhook requests judged at once; more are answered 429 at once. */
  maxInFlight?: number;
  /** Webhook requests per second from one client address; 0 or absent: no limit. */
  perClientPerSecond?: number;
  /** The bearer token GET /status requires; without one, /status answers loopback callers only. */
  adminToken?: string;
}

function refuse(reply: FastifyReply, status: 401 | 403 | 429, error: string, message: string): FastifyReply {
  if (status === 429) reply.header('retry-after', '1');
  return reply.code(status).send({ error, message });
}

function isWebhook(request: FastifyRequest): boolean {
  return WEBHOOK_ROUTES.has(request.routeOptions.url ?? '');
}

/** The client certificate check, per request: the handshake cannot require one, or probes would fail. */
function requireClientCertificate(app: WebhookApp): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isWebhook(request)) return;
    const socket = request.raw.socket as TLSSocket;
    if (socket.authorized) return;
    const why = socket.getPeerCertificate?.()?.subject ? `its certificate is not accepted (${String(socket.authorizationError)})` : 'it presented no certificate';
    return refuse(reply, 401, 'Unauthorized', `${request.url.split('?')[0]} requires a client certificate signed by the configured client CA (tls.clientCaFile); ${why}`);
  });
}

/** At most `max` webhook requests in progress; past that, 429 before the body is read. */
function limitInFlight(app: WebhookApp, max: number): void {
  let inFlight = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (!isWebhook(request)) return;
    if (inFlight >= max) return refuse(reply, 429, 'Too Many Requests', `${max} webhook requests are being judged already (limits.maxInFlight); try again`);
    inFlight += 1;
    // Freed once, when the answer is done or the connection goes: a pipelined request whose connection
    // closes before its turn never gets a response 'close', and its slot must not leak.
    const socket = request.raw.socket;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight -= 1;
      socket.off('close', release);
    };
    reply.raw.once('close', release);
    socket.once('close', release);
  });
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

function protectStatus(app: WebhookApp, token: string | undefined): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== '/status') return;
    if (token !== undefined) {
      if (tokenMatches(request.headers.authorization, token)) return;
      reply.header('www-authenticate', 'Bearer');
      return refuse(reply, 401, 'Unauthorized', 'GET /status requires the bearer token set in admin.token');
    }
    if (LOOPBACK.test(request.socket.remoteAddress ?? '')) return;
    return refuse(reply, 403, 'Forbidden', 'GET /status answers callers on this host only, unless admin.token (CANOPY_ADMIN_TOKEN) is set and sent as a bearer token');
  });
}

export async function installGuards(app: WebhookApp, options: GuardOptions): Promise<void> {
  if (options.clientCa) requireClientCertificate(app);
  if (options.maxInFlight) limitInFlight(app, options.maxInFlight);
  protectStatus(app, options.adminToken);
  const perSecond = options.perClientPerSecond ?? 0;
  if (perSecond > 0) {
    // @fastify/rate-limit counts per client address in a one-second window, in the onRequest hook.
    await app.register(rateLimit, {
      max: perSecond,
      allowList: (request) => !isWebhook(request),
      timeWindow: 1000,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        error: 'Too Many Requests',
        message: `more than ${context.max} webhook requests per second from this address (limits.perClientPerSecond); try again in ${context.after}`,
      }),
    });
  }
}
