// The fastify instance type the webhook is built on: HTTPS, with the default logger interface.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

export type WebhookApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The client CA of a server with mutual TLS, which a reloaded serving certificate must keep. */
    clientCa: string | undefined;
  }
  interface FastifyRequest {
    /** The body as it was sent, before JSON.parse: what an evaluation worker parses again (errors.ts). */
    bodyText: string;
  }
}
