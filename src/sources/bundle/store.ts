// `canopy bundle serve DIR`: the small central store. GET /<file> answers with an ETag (the file's
// SHA-256); a matching If-None-Match gets 304; `?wait=SECONDS` with a matching ETag holds the request
// until the file changes or the wait ends (long polling); a configured bearer token is required.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import bearerAuth from '@fastify/bearer-auth';

export interface StoreOptions {
  dir: string;
  token?: string;
  tls?: { cert: string; key: string };
  /** How often a long poll looks for a change. */
  pollMs?: number;
  maxWaitSeconds?: number;
}

const etagOf = (data: Buffer) => `"${createHash('sha256').update(data).digest('hex')}"`;

export async function createBundleStore(options: StoreOptions): Promise<FastifyInstance> {
  // The HTTPS instance has the same routes and lifecycle; only its raw server type differs.
  const app = options.tls ? (Fastify({ https: options.tls }) as unknown as FastifyInstance) : Fastify();
  const maxWait = options.maxWaitSeconds ?? 60;
  // The token, compared in constant time by @fastify/bearer-auth, guards every route of the store.
  if (options.token) {
    const refusal = { error: 'Unauthorized', message: 'a bearer token is required' };
    await app.register(bearerAuth, { keys: new Set([options.token]), errorResponse: () => refusal });
  }
  app.get<{ Params: { file: string }; Querystring: { wait?: string } }>('/:file', async (request, reply) => {
    const name = request.params.file;
    if (name.includes('/') || name.startsWith('.')) return reply.code(404).send({ error: 'Not Found', message: 'no such bundle' });
    const file = path.join(options.dir, name);
    const read = async () => {
      try {
        if (!(await stat(file)).isFile()) return undefined;
        return await readFile(file);
      } catch {
        return undefined;
      }
    };
    let data = await read();
    if (!data) return reply.code(404).send({ error: 'Not Found', message: `no bundle ${name}` });
    const known = request.headers['if-none-match'];
    const wait = Math.min(Math.max(Number(request.query.wait ?? 0) || 0, 0), maxWait);
    const deadline = Date.now() + wait * 1000;
    let etag = etagOf(data);
    while (known === etag && Date.now() < deadline && !request.raw.destroyed) {
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
      const next = await read();
      if (next && !next.equals(data)) {
        data = next;
        etag = etagOf(data);
      }
    }
    reply.header('etag', etag).header('cache-control', 'no-cache');
    if (known === etag) return reply.code(304).send();
    return reply.type('application/gzip').send(data);
  });
  await app.ready();
  return app;
}
