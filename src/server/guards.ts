// Who may call what, and how much, as hooks the plugins install on their own routes (webhooks.ts,
// admin.ts): fastify's encapsulation decides which routes a guard covers, never a list of URLs.
// The webhooks can require a client certificate (the API server presents one through its admission
// kubeconfig) and are protected from floods: a cap on requests judged at once and an optional rate per
// client address, both answered 429 before the body is read. /healthz and /readyz are never limited or
// authenticated: a kubelet probe that fails restarts a replica that was only busy. /status needs a
// bearer token (@fastify/bearer-auth), or a caller on this host.
import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';

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

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

function refuse(reply: FastifyReply, status: 401 | 403 | 429, error: string, message: string): FastifyReply {
  if (status === 429) reply.header('retry-after', '1');
  return reply.code(status).send({ error, message });
}

/** The client certificate check, per request: the handshake cannot require one, or probes would fail. */
export const clientCertificateRequired: Guard = async (request, reply) => {
  const socket = request.raw.socket as TLSSocket;
  if (socket.authorized) return undefined;
  const why = socket.getPeerCertificate?.()?.subject ? `its certificate is not accepted (${String(socket.authorizationError)})` : 'it presented no certificate';
  return refuse(reply, 401, 'Unauthorized', `${request.url.split('?')[0]} requires a client certificate signed by the configured client CA (tls.clientCaFile); ${why}`);
};

/** At most `max` requests in progress; past that, 429 before the body is read. */
export function inFlightLimit(max: number): Guard {
  let inFlight = 0;
  return async (request, reply) => {
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
    return undefined;
  };
}

/** @fastify/rate-limit's settings: per client address, in a one-second window, said the house way. */
export function perClientRate(perSecond: number) {
  return {
    max: perSecond,
    timeWindow: 1000,
    errorResponseBuilder: (_request: FastifyRequest, context: { max: number; after: string }) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `more than ${context.max} webhook requests per second from this address (limits.perClientPerSecond); try again in ${context.after}`,
    }),
  };
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** GET /status without admin.token: callers on this host only. */
export const loopbackOnly: onRequestAsyncHookHandler = async (request, reply) => {
  if (LOOPBACK.test(request.socket.remoteAddress ?? '')) return;
  return refuse(reply, 403, 'Forbidden', 'GET /status answers callers on this host only, unless admin.token (CANOPY_ADMIN_TOKEN) is set and sent as a bearer token');
};

/** @fastify/bearer-auth's settings for one token: compared in constant time, refused with our JSON error. */
export function bearerToken(token: string, message: string) {
  const refusal = { error: 'Unauthorized', message };
  return { keys: new Set([token]), errorResponse: () => refusal };
}
