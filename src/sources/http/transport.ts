// The one HTTP transport under every client of Canopy's that talks to a server: the Kubernetes API, OCI
// registries, bundle stores. Built on undici, for its pools of kept-alive connections per origin with a
// ceiling, and for cancelling a request at any stage through an AbortSignal, which lets one deadline
// cover a whole exchange (connecting, the headers and the body): an idle timeout alone is reset by
// every byte, so a peer that trickles its answer would hold the caller for ever.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { describeRequest, HttpError, HttpMalformedError, HttpNetworkError, HttpRequestError, HttpStatusError, HttpTimeoutError, HttpTooLargeError } from './errors.js';
import { undici } from './undici.js';
import { messageOf } from '../../operations/errors/index.js';

/** Whom to trust and who to be, as a kubeconfig or a store's settings say. */
export interface TlsSettings {
  /** PEM CA certificates trusted instead of Node's bundled ones. */
  ca?: string | Buffer | (string | Buffer)[];
  /** A client certificate and its key (PEM), for servers that authenticate clients by certificate. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Do not verify the server's certificate (a kubeconfig's insecure-skip-tls-verify). */
  insecure?: boolean;
  /** The name the server's certificate must carry, when it is not the URL's host (tls-server-name). */
  servername?: string;
}

export interface TransportOptions {
  tls?: TlsSettings;
  /** Connections open at once to one origin (scheme, host, port); more requests wait for one. Unlimited when absent. */
  connectionsPerOrigin?: number;
  /** How long an idle connection is kept for the next request (undici's default, 4 s, when absent). */
  keepAliveMs?: number;
  /** An http:// or https:// proxy every request goes through (a kubeconfig's proxy-url). */
  proxy?: string;
}

export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface HttpRequest {
  method: string;
  url: string | URL;
  headers?: Readonly<Record<string, string>>;
  body?: Buffer | string;
  /** The deadline for the whole exchange: connecting, the headers and the body. */
  timeoutMs: number;
  /** When the deadline's clock started (default: now), so that a redirect followed stays within the first request's deadline. */
  startedAt?: number;
  /** The largest body read; a larger one fails with HttpTooLargeError, and no more of it is read. */
  maxBodyBytes: number;
  /** The statuses that are answers; any other fails with HttpStatusError. Default: 2xx. */
  accept?: (status: number) => boolean;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: Buffer;
}

export interface StreamRequest {
  method: string;
  url: string | URL;
  headers?: Readonly<Record<string, string>>;
  /** The deadline to open the stream: connecting and the headers. */
  timeoutMs: number;
  /** How long the stream may stay open in all: one whose connection went silent without closing is given up then. */
  maxDurationMs: number;
  /** The longest line accepted; a longer one ends the stream with HttpMalformedError. */
  maxLineBytes: number;
  /** The statuses that open the stream; any other fails with HttpStatusError. Default: 2xx. */
  accept?: (status: number) => boolean;
}

/** An open stream of newline-delimited JSON values. */
export interface JsonLineStream {
  /** Settles once the stream is over: null when the peer ended it or abort() was called, else what ended it. Never rejects. */
  readonly ended: Promise<Error | null>;
  /** Ends the stream and closes its connection; `ended` settles with null. */
  abort(): void;
}

/** How much of an answer with a refused status is read, for its message and structured errors. */
export const ERROR_BODY_BYTES = 64 * 1024;
/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/** One value of a header: the first when the answer repeated it. */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A setting the transport cannot use (a SOCKS proxy), or a transport closed: the request is never sent. */
class Unusable extends Error {}

/** What a stream's consumer threw: it ends the stream as it is, not as a network failure. */
class ConsumerFailure extends Error {
  constructor(readonly thrown: unknown) {
    super(messageOf(thrown), { cause: thrown });
  }
}

/** What has arrived of an answer, for the message of a deadline that passed. */
interface Progress {
  /** Body bytes so far; undefined until the status and headers arrived. */
  received: number | undefined;
  /** The Content-Length announced, if any. */
  expected: number | undefined;
}

/** One AbortSignal, cut by a deadline or by the caller, remembering which. */
class Cutoff {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  reason: 'deadline' | 'abort' | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** (Re)sets the deadline to the time `at` (ms since the epoch). */
  arm(at: number): void {
    this.disarm();
    const delay = Math.max(0, at - Date.now());
    if (Number.isFinite(delay)) this.timer = setTimeout(() => this.cut('deadline'), Math.min(delay, MAX_TIMER_MS));
  }

  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  cut(reason: 'deadline' | 'abort'): void {
    if (this.reason) return;
    this.reason = reason;
    this.disarm();
    this.controller.abort();
  }
}

export class HttpTransport {
  private dispatcherValue: Dispatcher | undefined;
  private closed = false;

  constructor(private readonly options: TransportOptions = {}) {}

  /** One request and its whole answer, within the request's deadline and body cap. */
  async exchange(request: HttpRequest): Promise<HttpResponse> {
    const { url, described } = target(request.method, request.url);
    const cutoff = new Cutoff();
    cutoff.arm((request.startedAt ?? Date.now()) + request.timeoutMs);
    const progress: Progress = { received: undefined, expected: undefined };
    let answer: Dispatcher.ResponseData | undefined;
    try {
      answer = await this.send(url, request, cutoff.signal);
      progress.received = 0;
      progress.expected = contentLength(answer.headers);
      if (!(request.accept ?? isSuccess)(answer.statusCode)) throw await statusError(described, answer, progress);
      if (progress.expected !== undefined && progress.expected > request.maxBodyBytes) throw new HttpTooLargeError(described, request.maxBodyBytes, progress.expected);
      const body = await readCapped(answer.body, request.maxBodyBytes, progress, described);
      return { status: answer.statusCode, headers: answer.headers, body };
    } catch (error) {
      throw failure(error, described, cutoff, request.timeoutMs, progress);
    } finally {
      cutoff.disarm();
      release(answer);
    }
  }

  /**
   * Opens a stream of newline-delimited JSON values (a Kubernetes watch) and hands each to `onValue` as
   * it arrives. Resolves once the stream is open; rejects, with an HttpError, when it cannot be opened.
   */
  async streamJsonLines(request: StreamRequest, onValue: (value: unknown) => void): Promise<JsonLineStream> {
    const { url, described } = target(request.method, request.url);
    const cutoff = new Cutoff();
    const openedAt = Date.now();
    cutoff.arm(openedAt + request.timeoutMs);
    const progress: Progress = { received: undefined, expected: undefined };
    let answer: Dispatcher.ResponseData | undefined;
    try {
      answer = await this.send(url, request, cutoff.signal);
      progress.received = 0;
      if (!(request.accept ?? isSuccess)(answer.statusCode)) throw await statusError(described, answer, progress);
    } catch (error) {
      cutoff.disarm();
      release(answer);
      throw failure(error, described, cutoff, request.timeoutMs, progress);
    }
    cutoff.arm(openedAt + request.maxDurationMs);
    const body = answer.body;
    const ended = readLines(body, request.maxLineBytes, onValue, progress, described).then(
      () => null,
      (error: unknown) => {
        if (cutoff.reason === 'abort') return null;
        if (error instanceof ConsumerFailure) return error.thrown instanceof Error ? error.thrown : error;
        return failure(error, described, cutoff, request.maxDurationMs, progress);
      },
    );
    return {
      ended: ended.finally(() => {
        cutoff.disarm();
        if (!body.readableEnded) body.destroy();
      }),
      abort: () => cutoff.cut('abort'),
    };
  }

  /** Closes every connection once the requests in flight are answered; later requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.dispatcherValue?.close();
  }

  /** Closes every connection now, failing the requests in flight (streams included). */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.dispatcherValue?.destroy();
  }

  private send(url: URL, request: { method: string; headers?: Readonly<Record<string, string>>; body?: Buffer | string }, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.dispatcher().request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: { ...request.headers },
      body: request.body ?? null,
      signal,
      // The caller's deadline covers both; undici's own timers (300 s each by default) would only blur it.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  private dispatcher(): Dispatcher {
    if (this.closed) throw new Unusable('the HTTP transport was closed');
    this.dispatcherValue ??= createDispatcher(this.options);
    return this.dispatcherValue;
  }
}

/** An Agent (a pool per origin), or a ProxyAgent when the settings name a proxy. */
function createDispatcher(options: TransportOptions): Dispatcher {
  const { Agent, ProxyAgent } = undici();
  const connect = connectOptions(options.tls);
  const pools = {
    connections: options.connectionsPerOrigin ?? null,
    ...(options.keepAliveMs !== undefined ? { keepAliveTimeout: options.keepAliveMs } : {}),
  };
  if (!options.proxy) return new Agent({ ...pools, connect });
  const proxy = new URL(options.proxy);
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new Unusable(`only http:// and https:// proxies are supported, not ${proxy.protocol}//`);
  return new ProxyAgent({ ...pools, uri: proxy.href, requestTls: connect });
}

function connectOptions(tls: TlsSettings | undefined): Record<string, unknown> {
  return {
    ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls?.key !== undefined ? { key: tls.key } : {}),
    ...(tls?.insecure ? { rejectUnauthorized: false } : {}),
    ...(tls?.servername ? { servername: tls.servername } : {}),
  };
}

function target(method: string, url: string | URL): { url: URL; described: string } {
  try {
    const parsed = new URL(url);
    return { url: parsed, described: describeRequest(method, parsed) };
  } catch (error) {
    throw new HttpRequestError(`${method} (an address that is not a URL)`, error);
  }
}

function contentLength(headers: ResponseHeaders): number | undefined {
  const value = headerValue(headers, 'content-length');
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Frees the connection of an answer whose body was not read to its end. */
function release(answer: Dispatcher.ResponseData | undefined): void {
  if (answer && !answer.body.readableEnded) answer.body.destroy();
}

/** What ended an exchange, as an HttpError: the deadline first, as whatever else happened was its consequence. */
function failure(error: unknown, described: string, cutoff: Cutoff, timeoutMs: number, progress: Progress): Error {
  if (error instanceof HttpError) return error;
  if (cutoff.reason === 'deadline') return new HttpTimeoutError(described, timeoutMs, progress.received, progress.expected);
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  if (error instanceof Unusable || code === 'UND_ERR_INVALID_ARG') return new HttpRequestError(described, error);
  return new HttpNetworkError(described, progress.received !== undefined, error);
}

/** The body, read until it ends or passes `limit` bytes: then reading stops, and the connection is closed. */
async function readCapped(body: Readable, limit: number, progress: Progress, described: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    progress.received = size;
    if (size > limit) throw new HttpTooLargeError(described, limit, undefined);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** A refused status with the start of its body, read within the same deadline. */
async function statusError(described: string, answer: Dispatcher.ResponseData, progress: Progress): Promise<HttpStatusError> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    progress.received = size;
    if (size >= ERROR_BODY_BYTES) break;
  }
  const text = Buffer.concat(chunks, size).subarray(0, ERROR_BODY_BYTES).toString('utf8');
  return new HttpStatusError(described, answer.statusCode, text);
}

/** Splits bytes into lines at "\n", without holding more than `maxBytes` of one line. */
class LineSplitter {
  private pieces: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly tooLong: () => Error,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      this.take(chunk.subarray(start, end));
      this.flush();
      start = end + 1;
    }
    this.take(chunk.subarray(start));
  }

  /** Hands over the line held, if any: at a newline, and at the end of the stream. */
  flush(): void {
    if (this.size === 0) return;
    const line = Buffer.concat(this.pieces, this.size);
    this.pieces = [];
    this.size = 0;
    this.onLine(line);
  }

  private take(part: Buffer): void {
    if (part.length === 0) return;
    this.size += part.length;
    if (this.size > this.maxBytes) throw this.tooLong();
    this.pieces.push(part);
  }
}

/**
 * Reads a stream's lines as JSON values until it ends. A line that is not JSON ends the stream with an
 * error rather than being skipped: a watch that lost an event would keep a cache wrong without saying so.
 */
async function readLines(body: Readable, maxLineBytes: number, onValue: (value: unknown) => void, progress: Progress, described: string): Promise<void> {
  const lines = new LineSplitter(
    maxLineBytes,
    (line) => {
      const text = line.toString('utf8').trim();
      if (!text) return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new HttpMalformedError(described, `a line of the stream is not JSON: ${messageOf(error)}`);
      }
      try {
        onValue(value);
      } catch (error) {
        throw new ConsumerFailure(error);
      }
    },
    () => new HttpMalformedError(described, `a line of the stream is longer than ${maxLineBytes} bytes`),
  );
  for await (const chunk of body as AsyncIterable<Buffer>) {
    progress.received = (progress.received ?? 0) + chunk.length;
    lines.push(chunk);
  }
  lines.flush();
}
