// A real HTTPS webhook server on 127.0.0.1, built as `canopy serve` builds it, and a client that trusts only its CA.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { logSink } from './log-sink.js';
import type { AdmissionRequest } from '../../src/kubernetes/admission/index.js';
import type { RequestFacts } from '../../src/policy/translate/index.js';
import type { CompiledPolicySet } from '../../src/policy/set/index.js';
import type { AdmissionPipeline } from '../../src/pipeline/index.js';
import type { GuardOptions, WebhookApp } from '../../src/server/index.js';
import { startCanopy } from '../../src/app/index.js';
import { parseCanopyConfig, type CanopyConfig } from '../../src/operations/config/index.js';
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

/** The config `canopy serve` would read for these options: loopback, a free port, no limits unless asked. */
function configFor(options: StartOptions, clientCaFile: string | undefined): CanopyConfig {
  const guards = options.guards ?? {};
  return parseCanopyConfig(
    {
      host: '127.0.0.1',
      port: 0,
      ...(options.policies ? { policies: options.policies } : {}),
      // Nothing is written there: the certificate is given, and policies come from a directory or the test.
      stateDir: path.join(tmpdir(), 'canopy-test-server'),
      engine: { workers: options.workers ?? 0 },
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
      ...(options.recordRequests ? { recordRequests: options.recordRequests } : {}),
      // A test server takes what the test sends, unless the test is about the limits.
      limits: { maxInFlight: guards.maxInFlight ?? 100_000, perClientPerSecond: guards.perClientPerSecond ?? 0 },
      ...(guards.adminToken ? { admin: { token: guards.adminToken } } : {}),
      ...(clientCaFile ? { tls: { clientCaFile } } : {}),
    },
    'test server',
  );
}

/** `canopy serve`'s own composition (src/app), with a log sink, the test CA's certificate and stated facts. */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const { stream: sink, lines: logLines } = logSink();
  let clientCaFile: string | undefined;
  if (options.guards?.clientCa) {
    clientCaFile = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-client-ca-')), 'client-ca.crt');
    writeFileSync(clientCaFile, options.guards.clientCa);
  }
  const canopy = await startCanopy(configFor(options, clientCaFile), {
    logDestination: sink,
    servingCertificate: serving,
    // Without stated facts the request's own are all there is: no cluster, no registries.
    facts: options.facts ?? (async () => ({})),
    ...(options.readiness ? { readiness: options.readiness } : { readiness: () => undefined }),
    withoutPolicySource: !options.policies,
  });
  const { app, pipeline } = canopy;
  const url = `https://127.0.0.1:${canopy.port}`;

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
    close: () => canopy.close(),
  };
}
