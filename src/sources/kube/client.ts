// A small Kubernetes API client: GET with a deadline, paginated LIST, WATCH, server-side apply, and the
// create / replace / JSON Patch the TLS bootstrap needs. Raw JSON paths rather than typed clients,
// because Canopy reads a handful of kinds (some of them custom: ClusterProperty, ClusterProfile, kcp's
// LogicalCluster) and keeps only a few fields of each. Requests go over the one HTTP transport
// (sources/http); @kubernetes/client-node only parses the kubeconfig and gives each request its
// credentials, as it keeps them current (a service account's token file re-read, an exec plugin run).
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { clientNode } from './client-node.js';
import { HttpError, HttpStatusError, HttpTransport, type JsonLineStream, type TlsSettings } from '../http/index.js';
import { CanopyError, inBackground, messageOf } from '../../operations/errors/index.js';

export interface KubeConnection {
  kubeconfig?: string;
  context?: string;
}

export class KubeApiError extends CanopyError {
  /** What the API server said (its Status message) when it refused with an HTTP status. */
  readonly serverMessage: string | undefined;

  constructor(
    message: string,
    readonly statusCode?: number,
    options: { serverMessage?: string; cause?: unknown } = {},
  ) {
    super('kube-api', message, { cause: options.cause });
    this.serverMessage = options.serverMessage;
  }
}

/** A kubeconfig file, the in-cluster service account, or the default kubeconfig, in that order. */
export function loadKubeConfig(connection: KubeConnection): KubeConfig {
  const config = new (clientNode().KubeConfig)();
  try {
    if (connection.kubeconfig) config.loadFromFile(connection.kubeconfig);
    else if (process.env['KUBERNETES_SERVICE_HOST']) config.loadFromCluster();
    else config.loadFromDefault();
    if (connection.context) config.setCurrentContext(connection.context);
  } catch (error) {
    throw new KubeApiError(`cannot load the kubeconfig: ${messageOf(error)}`);
  }
  if (!config.getCurrentCluster()) throw new KubeApiError('the kubeconfig has no current cluster');
  return config;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: Record<string, unknown> };

/** One operation of a JSON Patch (RFC 6902). */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/**
 * The largest answer read. A LIST page holds 500 objects, each at most etcd's 1.5 MiB and mostly a few
 * KiB: this leaves room for large pages while a broken proxy streaming without end stops somewhere.
 */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/** How long the API server keeps a watch open; it then ends it and the reflector resumes from where it was. */
const WATCH_SECONDS = 300;
/** A watch still open this long after the server should have ended it sits on a dead connection. */
const WATCH_GRACE_MS = 60_000;
/** Time to open a watch (connect and headers); its events may then take minutes. */
const WATCH_OPEN_MS = 30_000;
/** One watch event holds one object: etcd keeps them under 1.5 MiB by default. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/** A transport for one set of TLS settings, and the request headers (credentials) of the moment. */
interface Connection {
  transport: HttpTransport;
  headers: Record<string, string>;
}

export class KubeClient {
  readonly server: string;
  private current: { key: string; transport: HttpTransport } | undefined;
  /** Transports of earlier TLS settings, closing once their requests (watches included) end. */
  private readonly retired = new Set<HttpTransport>();

  constructor(readonly config: KubeConfig) {
    this.server = config.getCurrentCluster()?.server ?? '';
  }

  /** Creates or updates an object with server-side apply (field manager "canopy"). */
  async apply<T>(path: string, object: unknown, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('PATCH', `${path}?fieldManager=canopy&force=true`, timeoutMs, { data: object, contentType: 'application/apply-patch+yaml' });
  }

  /** Creates an object in a collection (POST); a name already taken is a KubeApiError with status 409. */
  async create<T>(collectionPath: string, object: unknown, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('POST', collectionPath, timeoutMs, { data: object, contentType: 'application/json' });
  }

  /** Replaces an object (PUT); given its metadata.resourceVersion, a change made meanwhile is a 409. */
  async replace<T>(path: string, object: unknown, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('PUT', path, timeoutMs, { data: object, contentType: 'application/json' });
  }

  /** Applies a JSON Patch; the API server refuses one whose `test` operation fails (422). */
  async jsonPatch<T>(path: string, operations: readonly JsonPatchOperation[], timeoutMs = 10_000): Promise<T> {
    return this.request<T>('PATCH', path, timeoutMs, { data: operations, contentType: 'application/json-patch+json' });
  }

  /** GET a path; rejects with KubeApiError (with the HTTP status) or on the deadline. */
  async getJson<T>(path: string, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('GET', path, timeoutMs);
  }

  /** One exchange within `timeoutMs`, its answer parsed as JSON; every failure is a KubeApiError. */
  private async request<T>(method: string, path: string, timeoutMs: number, body?: { data: unknown; contentType: string }): Promise<T> {
    const where = `${method} ${path}`;
    const { transport, headers } = await this.connection(where);
    let text: string;
    try {
      const answer = await transport.exchange({
        method,
        url: this.server + path,
        headers: { ...headers, Accept: 'application/json', ...(body ? { 'Content-Type': body.contentType } : {}) },
        ...(body ? { body: Buffer.from(JSON.stringify(body.data)) } : {}),
        timeoutMs,
        maxBodyBytes: MAX_ANSWER_BYTES,
      });
      text = answer.body.toString('utf8');
    } catch (error) {
      throw kubeError(where, error);
    }
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new KubeApiError(`${where}: not JSON: ${messageOf(error)}`);
    }
  }

  /**
   * LIST page by page (limit / continue), for callers that stream rather than hold everything. The path
   * may carry a query of its own (`?fieldSelector=metadata.name%3Dde-1`); the pages' parameters join it.
   */
  async *pages<T>(path: string, pageSize = 500, timeoutMs = 30_000): AsyncGenerator<T[], string> {
    let next = '';
    let resourceVersion = '';
    const [base = path, given = ''] = path.split('?', 2);
    do {
      const query = new URLSearchParams(given);
      query.set('limit', String(pageSize));
      if (next) query.set('continue', next);
      const page = await this.getJson<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(`${base}?${query}`, timeoutMs);
      yield page.items ?? [];
      resourceVersion = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue ?? '';
    } while (next);
    return resourceVersion;
  }

  /** LIST with pagination (limit / continue), so a large cluster is read in pages. */
  async list<T>(path: string, pageSize = 500, timeoutMs = 30_000): Promise<ListResult<T>> {
    const items: T[] = [];
    const pages = this.pages<T>(path, pageSize, timeoutMs);
    for (;;) {
      const page = await pages.next();
      if (page.done) return { items, resourceVersion: page.value };
      items.push(...page.value);
    }
  }

  /**
   * WATCH from a resource version; `done` is called once, with the error that ended it or null. A query
   * in the path is kept. A watch the API server refuses (410, 403) calls `done` before this returns,
   * with the HTTP status as `statusCode`; abort() ends it with an error named AbortError.
   */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    done: (error: (Error & { statusCode?: number }) | null) => void,
  ): Promise<{ abort: () => void }> {
    const where = `GET ${path} (watch)`;
    const { transport, headers } = await this.connection(where);
    let stream: JsonLineStream;
    try {
      stream = await transport.streamJsonLines(
        {
          method: 'GET',
          url: watchUrl(this.server + path, resourceVersion),
          headers: { ...headers, Accept: 'application/json' },
          timeoutMs: WATCH_OPEN_MS,
          maxDurationMs: WATCH_SECONDS * 1000 + WATCH_GRACE_MS,
          maxLineBytes: MAX_EVENT_BYTES,
        },
        (value) => onEvent(watchEvent(where, value)),
      );
    } catch (error) {
      done(watchRefusal(where, error));
      return { abort: () => undefined };
    }
    let aborted = false;
    const ended = stream.ended.then((error) => done(aborted ? abortError() : error ? kubeError(where, error) : null));
    // `done` is the caller's: what it throws has nowhere to go but a warning, rather than an unhandled rejection.
    inBackground(ended, (error) => process.emitWarning(`the handler of a watch on ${path} failed: ${messageOf(error)}`));
    return {
      abort: () => {
        aborted = true;
        stream.abort();
      },
    };
  }

  /** Closes every connection, ending requests and watches in flight: for a process or test that is done. */
  async close(): Promise<void> {
    const transports = [...this.retired, ...(this.current ? [this.current.transport] : [])];
    this.retired.clear();
    this.current = undefined;
    await Promise.all(transports.map((transport) => transport.destroy()));
  }

  /**
   * The transport and headers for the next request, from the kubeconfig as it is now: a token file or an
   * exec plugin may have renewed the credentials, and a client certificate file may have been rotated
   * (then a new transport connects with it, and the old one closes once its requests are over).
   */
  private async connection(where: string): Promise<Connection> {
    const options: RequestOptions = {};
    try {
      await this.config.applyToHTTPSOptions(options);
    } catch (error) {
      throw new KubeApiError(`${where}: cannot use the kubeconfig's credentials: ${messageOf(error)}`, undefined, { cause: error });
    }
    const tls = tlsOf(options);
    const proxy = this.config.getCurrentCluster()?.proxyUrl;
    const key = fingerprint(tls, proxy);
    const current = this.current?.key === key ? this.current : this.replaceTransport({ key, transport: new HttpTransport({ tls, ...(proxy ? { proxy } : {}) }) });
    return { transport: current.transport, headers: headersOf(options) };
  }

  private replaceTransport(next: { key: string; transport: HttpTransport }): { key: string; transport: HttpTransport } {
    const previous = this.current?.transport;
    this.current = next;
    if (previous) {
      this.retired.add(previous);
      inBackground(
        previous.close().finally(() => this.retired.delete(previous)),
        () => undefined, // closing what is no longer used cannot fail in a way anyone could act on
      );
    }
    return next;
  }
}

/** The watch's URL: the path's own query kept, the watch's parameters added (as client-node's Watch did). */
function watchUrl(address: string, resourceVersion: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return address; // the transport says it is not a URL
  }
  url.searchParams.set('watch', 'true');
  url.searchParams.set('resourceVersion', resourceVersion);
  url.searchParams.set('allowWatchBookmarks', 'true');
  url.searchParams.set('timeoutSeconds', String(WATCH_SECONDS));
  return url.href;
}

/** A line of the watch as an event; anything else ends the watch, which resumes from the last resource version. */
function watchEvent(where: string, value: unknown): WatchEvent {
  const event = value as { type?: unknown; object?: unknown } | null;
  if (typeof event?.type !== 'string' || typeof event.object !== 'object' || event.object === null) {
    throw new KubeApiError(`${where}: the API server sent something that is not a watch event: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return { type: event.type as WatchEvent['type'], object: event.object as Record<string, unknown> };
}

/** A watch that could not open: a refusal carries its status, and its reason phrase as the message ("Forbidden"), as before. */
function watchRefusal(where: string, error: unknown): KubeApiError {
  if (error instanceof HttpStatusError) {
    return new KubeApiError(STATUS_CODES[error.status] ?? `HTTP ${error.status}`, error.status, { serverMessage: statusMessage(error.body), cause: error });
  }
  return kubeError(where, error);
}

function abortError(): Error {
  const error = new Error('the watch was stopped');
  error.name = 'AbortError';
  return error;
}

/** A failure of the transport in the words of this client: `GET /path: 403: <the API server's message>`. */
function kubeError(where: string, error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof HttpStatusError) {
    const serverMessage = statusMessage(error.body);
    return new KubeApiError(`${where}: ${error.status}: ${serverMessage}`, error.status, { serverMessage, cause: error });
  }
  return new KubeApiError(`${where}: ${error instanceof HttpError ? error.detail : messageOf(error)}`, undefined, { cause: error });
}

/** The message of a Kubernetes Status object, else the start of the text. */
function statusMessage(body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown } | null)?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not a Status object: keep the text
  }
  return body.slice(0, 200);
}

const pem = (value: unknown): string | Buffer | undefined => (typeof value === 'string' || Buffer.isBuffer(value) ? value : undefined);

/** The TLS settings client-node put into request options: the cluster's CA, the user's certificate and key. */
function tlsOf(options: RequestOptions): TlsSettings {
  const ca = Array.isArray(options.ca) ? options.ca : pem(options.ca);
  const cert = pem(options.cert);
  const key = pem(options.key);
  return {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(options.rejectUnauthorized === false ? { insecure: true } : {}),
    ...(options.servername ? { servername: options.servername } : {}),
  };
}

/** Identifies TLS settings and proxy without keeping a copy of the key in a string. */
function fingerprint(tls: TlsSettings, proxy: string | undefined): string {
  const hash = createHash('sha256');
  const parts = [...[tls.ca ?? []].flat(), '|', tls.cert ?? '', '|', tls.key ?? '', '|', String(tls.insecure ?? false), tls.servername ?? '', proxy ?? ''];
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

/** The headers client-node set (Authorization, Impersonate-User), and a username and password as Basic auth. */
function headersOf(options: RequestOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const given = options.headers && !Array.isArray(options.headers) ? options.headers : {};
  for (const [name, value] of Object.entries(given)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  const hasAuthorization = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
  // As Node's request did with `auth`: a bearer token already set wins.
  if (options.auth && !hasAuthorization) headers['Authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  return headers;
}
