// A real HTTPS webhook server on 127.0.0.1 and a client that trusts only its CA.
import { request as httpsRequest } from 'node:https';
import { logSink } from './log-sink.js';
import type { AdmissionRequest } from '../../src/kubernetes/admission/index.js';
import { createLogger } from '../../src/operations/decision-log/index.js';
import type { RequestFacts } from '../../src/policy/translate/index.js';
import { EvaluationPool } from '../../src/policy/engine/index.js';
import { loadPolicyDirectory, type CompiledPolicySet } from '../../src/policy/set/index.js';
import { AdmissionPipeline } from '../../src/pipeline/index.js';
import { RequestRecorder } from '../../src/operations/recording/index.js';
import { createServer, type GuardOptions, type WebhookApp } from '../../src/server/index.js';
import { createCertificateAuthority, issueServingCertificate } from '../../src/sources/tls/index.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => unknown;
}

export interface TestServer {
  app: WebhookApp;
  url: string;
  ca: string;
  pipeline: AdmissionPipeline;
  /** Every JSON line the server logged (decision records and others), in order. */
  logLines: Record<string, unknown>[];
  post: (path: string, body: string | Buffer, headers?: Record<string, string>, client?: ClientIdentity) => Promise<HttpResult>;
  get: (path: string, headers?: Record<string, string>) => Promise<HttpResult>;
  close: () => Promise<void>;
}

const ca = createCertificateAuthority('test CA');
const serving = issueServingCertificate(ca, { hosts: ['localhost', '127.0.0.1'] });

/** A client certificate and key to present (mutual TLS). */
export interface ClientIdentity {
  cert: string;
  key: string;
}

export interface StartOptions {
  policies?: string;
  bodyLimit?: number;
  recordRequests?: string;
  facts?: (request: AdmissionRequest, set: CompiledPolicySet | undefined) => Promise<RequestFacts>;
  readiness?: () => string | undefined;
  /** Evaluate in this many worker threads, as `canopy serve` does; in the test's thread without it. */
  workers?: number;
  /** The pipeline's deadline for each webhook request, in ms. */
  deadlineMs?: number;
  /** Mutual TLS, flood limits, the /status token. */
  guards?: GuardOptions;
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const { stream: sink, lines: logLines } = logSink();
  const logger = createLogger(sink);
  const pool = options.workers ? new EvaluationPool(options.workers) : undefined;
  const pipeline = new AdmissionPipeline({
    decisionLog: logger,
    ...(options.facts ? { facts: options.facts } : {}),
    ...(pool ? { pool } : {}),
    ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
  });
  if (options.policies) await pipeline.activate(await loadPolicyDirectory(options.policies));
  const recorder = options.recordRequests ? RequestRecorder.open(options.recordRequests, logger) : undefined;
  const app = await createServer({
    pipeline,
    logger,
    tls: serving,
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    ...(recorder ? { recorder } : {}),
    ...(options.readiness ? { readiness: options.readiness } : {}),
    ...(options.guards ? { guards: options.guards } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no port');
  const url = `https://127.0.0.1:${address.port}`;

  const send = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, client?: ClientIdentity) =>
    new Promise<HttpResult>((resolve, reject) => {
      const req = httpsRequest(
        `${url}${path}`,
        { method, ca: ca.cert, headers, timeout: 10_000, ...(client ? { cert: client.cert, key: client.key } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });

  return {
    app,
    url,
    ca: ca.cert,
    pipeline,
    logLines,
    post: (path, body, headers = { 'content-type': 'application/json' }, client) => send('POST', path, body, headers, client),
    get: (path, headers) => send('GET', path, undefined, headers),
    close: async () => {
      await app.close();
      await pool?.close();
    },
  };
}
