// The transport against real servers on 127.0.0.1: plain HTTP for deadlines, caps, statuses and streams,
// HTTPS with a test CA for trust and client certificates. Every wait is bounded; every deadline under
// test is far from both the server's pace and the test's own limit.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpMalformedError, HttpNetworkError, HttpRequestError, HttpStatusError, HttpTimeoutError, HttpTooLargeError } from './errors.js';
import { HttpTransport } from './transport.js';
import { createCertificateAuthority, issueClientCertificate, issueServingCertificate } from '../tls/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  origin: string;
  /** Connections open at the most at once. */
  readonly peakConnections: number;
  close: () => Promise<void>;
}

const servers: TestServer[] = [];
const transports: HttpTransport[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.destroy()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(handler: Handler, tls?: { cert: string; key: string; ca?: string }): Promise<TestServer> {
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
    : createHttpServer(handler);
  const sockets = new Set<Socket>();
  let peak = 0;
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    peak = Math.max(peak, sockets.size);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client refused during the handshake resets the connection: not a failure of the test server.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const started: TestServer = {
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    get peakConnections() {
      return peak;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  servers.push(started);
  return started;
}

function transport(options: ConstructorParameters<typeof HttpTransport>[0] = {}): HttpTransport {
  const made = new HttpTransport(options);
  transports.push(made);
  return made;
}

/** What `work` rejected with, and how long it took from its start; fails rather than hanging past `ms`. */
async function failureOf(start: () => Promise<unknown>, ms = 10_000): Promise<{ error: unknown; took: number }> {
  const started = Date.now();
  const work = start();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, limit]);
  } catch (error) {
    if (error instanceof Error && error.message === `still running after ${ms} ms`) throw error;
    return { error, took: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected a failure, got an answer');
}

const DEADLINE_MS = 300;

describe('the deadline of an exchange', () => {
  it('ends a request to a server that never answers, saying no answer came', async () => {
    const silent = await serve(() => undefined);
    const { error, took } = await failureOf(() => transport().exchange({ method: 'GET', url: `${silent.origin}/bundle`, timeoutMs: DEADLINE_MS, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as HttpTimeoutError).answered).toBe(false);
    expect((error as HttpTimeoutError).code).toBe('http-timeout');
    expect((error as Error).message).toBe(`GET ${silent.origin}/bundle: no answer within ${DEADLINE_MS} ms`);
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
  });

  it('covers the body: a server trickling bytes, each well within any idle timeout, is given up on time, saying how much arrived', async () => {
    const trickling = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const { error, took } = await failureOf(() => transport().exchange({ method: 'GET', url: `${trickling.origin}/slow`, timeoutMs: DEADLINE_MS, maxBodyBytes: 1_000_000 }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    const timeout = error as HttpTimeoutError;
    expect(timeout.answered).toBe(true);
    expect(timeout.received).toBeGreaterThan(0);
    expect(timeout.received).toBeLessThan(100_000);
    expect(timeout.expected).toBe(100_000);
    expect(timeout.detail).toMatch(new RegExp(`^the answer was not complete \\(\\d+ bytes\\) within ${DEADLINE_MS} ms$`));
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
  });

  it('counts from startedAt, so that a redirect followed stays within the first request’s deadline', async () => {
    const server = await serve((_req, res) => void setTimeout(() => res.end('late'), 400));
    const started = Date.now() - 5000;
    const { error, took } = await failureOf(() => transport().exchange({ method: 'GET', url: server.origin, timeoutMs: 5200, startedAt: started, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect(took).toBeLessThan(5000);
  });
});

describe('the body cap', () => {
  it('refuses an answer that announces more than the cap, before reading it', async () => {
    const big = await serve((_req, res) => res.writeHead(200, { 'content-length': String(4 * 1024 * 1024) }).end(Buffer.alloc(4 * 1024 * 1024)));
    const { error } = await failureOf(() => transport().exchange({ method: 'GET', url: big.origin, timeoutMs: 10_000, maxBodyBytes: 64 * 1024 }));
    expect(error).toBeInstanceOf(HttpTooLargeError);
    expect((error as HttpTooLargeError).announced).toBe(4 * 1024 * 1024);
    expect((error as Error).message).toBe(`GET ${big.origin}/: the answer announces ${4 * 1024 * 1024} bytes, over the limit of ${64 * 1024}`);
  });

  it('stops reading an endless answer without a Content-Length once past the cap, and cuts its connection', async () => {
    let cut = false;
    const endless = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 0x41);
      const timer = setInterval(() => res.write(chunk), 2);
      res.on('close', () => {
        clearInterval(timer);
        cut = true;
      });
    });
    const { error } = await failureOf(() => transport().exchange({ method: 'GET', url: endless.origin, timeoutMs: 10_000, maxBodyBytes: 256 * 1024 }));
    expect(error).toBeInstanceOf(HttpTooLargeError);
    expect((error as HttpTooLargeError).announced).toBeUndefined();
    expect((error as HttpTooLargeError).detail).toBe(`the answer is larger than ${256 * 1024} bytes`);
    for (let waited = 0; !cut && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(cut).toBe(true);
  });

  it('reads an answer of exactly the cap', async () => {
    const exact = await serve((_req, res) => res.end(Buffer.alloc(1000, 0x42)));
    const answer = await transport().exchange({ method: 'GET', url: exact.origin, timeoutMs: 10_000, maxBodyBytes: 1000 });
    expect(answer.body.length).toBe(1000);
  });
});

describe('statuses', () => {
  it('fails a status the caller does not accept with the status and the start of the body', async () => {
    const down = await serve((_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`the registry is down for maintenance\n${'.'.repeat(100_000)}`));
    const { error } = await failureOf(() => transport().exchange({ method: 'GET', url: `${down.origin}/v2/`, timeoutMs: 10_000, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpStatusError);
    const refused = error as HttpStatusError;
    expect(refused.status).toBe(503);
    expect(refused.code).toBe('http-status');
    expect(refused.excerpt.startsWith('the registry is down for maintenance')).toBe(true);
    expect(refused.excerpt.length).toBeLessThanOrEqual(201);
    expect(refused.body.length).toBeLessThanOrEqual(64 * 1024);
    expect(refused.message.startsWith(`GET ${down.origin}/v2/: answered 503: the registry is down for maintenance`)).toBe(true);
  });

  it('hands back a status the caller accepts, with its headers', async () => {
    const unchanged = await serve((_req, res) => res.writeHead(304, { etag: '"abc"' }).end());
    const answer = await transport().exchange({ method: 'GET', url: unchanged.origin, timeoutMs: 10_000, maxBodyBytes: 1024, accept: (status) => status === 200 || status === 304 });
    expect(answer.status).toBe(304);
    expect(answer.headers['etag']).toBe('"abc"');
  });

  it('says a request cannot be sent (a header with a newline) apart from a network failure', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const { error } = await failureOf(() => transport().exchange({ method: 'GET', url: server.origin, headers: { Authorization: 'Bearer a\nb' }, timeoutMs: 10_000, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpRequestError);
    expect((error as Error).message).toMatch(/header/);
  });
});

describe('TLS', () => {
  const ca = createCertificateAuthority('transport test CA');
  const serving = issueServingCertificate(ca, { hosts: ['127.0.0.1'] });

  it('trusts a server whose certificate a given CA signed, and refuses it without that CA', async () => {
    const server = await serve((_req, res) => res.end('trusted'), serving);
    const trusting = await transport({ tls: { ca: ca.cert } }).exchange({ method: 'GET', url: server.origin, timeoutMs: 10_000, maxBodyBytes: 1024 });
    expect(trusting.body.toString()).toBe('trusted');

    const { error } = await failureOf(() => transport().exchange({ method: 'GET', url: server.origin, timeoutMs: 10_000, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect((error as HttpNetworkError).answered).toBe(false);
    expect((error as Error).message).toMatch(/certificate/i);
  });

  it('skips verification only when told to (insecure-skip-tls-verify)', async () => {
    const server = await serve((_req, res) => res.end('unverified'), serving);
    const answer = await transport({ tls: { insecure: true } }).exchange({ method: 'GET', url: server.origin, timeoutMs: 10_000, maxBodyBytes: 1024 });
    expect(answer.body.toString()).toBe('unverified');
  });

  it('presents a client certificate and key to a server that requires one', async () => {
    const clients = createCertificateAuthority('transport test client CA');
    const identity = issueClientCertificate(clients, 'canopy-test-client');
    const server = await serve((req, res) => res.end((req.socket as TLSSocket).getPeerCertificate().subject.CN), { ...serving, ca: clients.cert });
    const answer = await transport({ tls: { ca: ca.cert, cert: identity.cert, key: identity.key } }).exchange({ method: 'GET', url: server.origin, timeoutMs: 10_000, maxBodyBytes: 1024 });
    expect(answer.body.toString()).toBe('canopy-test-client');
    const { error } = await failureOf(() => transport({ tls: { ca: ca.cert } }).exchange({ method: 'GET', url: server.origin, timeoutMs: 10_000, maxBodyBytes: 1024 }));
    expect(error).toBeInstanceOf(HttpNetworkError);
  });
});

describe('a stream of JSON lines (a watch)', () => {
  const STREAM = { method: 'GET', timeoutMs: 10_000, maxDurationMs: 20_000, maxLineBytes: 1024 } as const;

  it('hands over each value as its line completes, whatever the chunks, and ends with null when the server ends it', async () => {
    let finish: () => void = () => undefined;
    const watch = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"n":1}}\n{"type":"MOD');
      setTimeout(() => res.write('IFIED","object":{"n":2}}\n\n'), 50);
      finish = () => res.end('{"type":"DELETED","object":{"n":3}}');
    });
    const values: unknown[] = [];
    const stream = await transport().streamJsonLines({ ...STREAM, url: `${watch.origin}/api/v1/namespaces?watch=true` }, (value) => {
      values.push(value);
      if (values.length === 2) finish();
    });
    expect(await stream.ended).toBeNull();
    expect(values).toEqual([
      { type: 'ADDED', object: { n: 1 } },
      { type: 'MODIFIED', object: { n: 2 } },
      { type: 'DELETED', object: { n: 3 } },
    ]);
  });

  it('ends with null on abort(), closing the connection', async () => {
    let closed = false;
    const watch = await serve((_req, res) => {
      res.writeHead(200).write('{"type":"ADDED","object":{}}\n');
      res.on('close', () => (closed = true));
    });
    const values: unknown[] = [];
    const stream = await transport().streamJsonLines({ ...STREAM, url: watch.origin }, (value) => values.push(value));
    for (let waited = 0; values.length === 0 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    stream.abort();
    expect(await stream.ended).toBeNull();
    for (let waited = 0; !closed && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(true);
    expect(values).toHaveLength(1);
  });

  it('ends with an error on a line that is not JSON, or longer than the cap, rather than skipping it', async () => {
    const garbled = await serve((_req, res) => res.writeHead(200).end('{"type":"ADDED","object":{}}\n<html>502</html>\n'));
    const values: unknown[] = [];
    const stream = await transport().streamJsonLines({ ...STREAM, url: garbled.origin }, (value) => values.push(value));
    const error = await stream.ended;
    expect(error).toBeInstanceOf(HttpMalformedError);
    expect(error?.message).toMatch(/a line of the stream is not JSON/);
    expect(values).toHaveLength(1);

    const long = await serve((_req, res) => res.writeHead(200).end(`{"object":"${'x'.repeat(5000)}"}\n`));
    const tooLong = await (await transport().streamJsonLines({ ...STREAM, url: long.origin }, () => undefined)).ended;
    expect(tooLong?.message).toMatch(/a line of the stream is longer than 1024 bytes/);
  });

  it('is not opened on a refused status: rejects with the status and what the server said', async () => {
    const gone = await serve((_req, res) => res.writeHead(410, { 'content-type': 'application/json' }).end('{"kind":"Status","code":410,"message":"too old resource version"}'));
    const { error } = await failureOf(() => transport().streamJsonLines({ ...STREAM, url: gone.origin }, () => undefined));
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).status).toBe(410);
    expect((error as HttpStatusError).body).toContain('too old resource version');
  });

  it('is given up once open longer than maxDurationMs: a connection gone silent does not hold a watch for ever', async () => {
    const silent = await serve((_req, res) => void res.writeHead(200).write('{"type":"BOOKMARK","object":{}}\n'));
    const stream = await transport().streamJsonLines({ ...STREAM, url: silent.origin, maxDurationMs: DEADLINE_MS }, () => undefined);
    const { error } = await failureOf(() => stream.ended.then((ended) => Promise.reject(ended ?? new Error('ended cleanly'))));
    expect(error).toBeInstanceOf(HttpTimeoutError);
  });
});

describe('connections', () => {
  it('opens at most connectionsPerOrigin connections to one origin, however many requests wait', async () => {
    const slow = await serve((_req, res) => void setTimeout(() => res.end('ok'), 50));
    const pooled = transport({ connectionsPerOrigin: 3 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => pooled.exchange({ method: 'GET', url: slow.origin, timeoutMs: 10_000, maxBodyBytes: 1024 })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
    expect(slow.peakConnections).toBeGreaterThan(0);
    expect(slow.peakConnections).toBeLessThanOrEqual(3);
  });

  it('destroy() cuts what is in flight, and later requests fail saying the transport was closed', async () => {
    const silent = await serve(() => undefined);
    const closing = transport();
    const inFlight = failureOf(() => closing.exchange({ method: 'GET', url: silent.origin, timeoutMs: 20_000, maxBodyBytes: 1024 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await closing.destroy();
    const { error, took } = await inFlight;
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect(took).toBeLessThan(10_000);
    const { error: later } = await failureOf(() => closing.exchange({ method: 'GET', url: silent.origin, timeoutMs: 1000, maxBodyBytes: 1024 }));
    expect(later).toBeInstanceOf(HttpRequestError);
    expect((later as Error).message).toMatch(/closed/);
  });
});
