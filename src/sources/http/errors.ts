// What an HTTP exchange can fail with, one class and one code each, so that a client above the transport
// (Kubernetes, OCI, a bundle store) can say what went wrong in its own words without parsing messages.
// `detail` is the failure alone ("no answer within 400 ms"); the message adds which request it was.
import { CanopyError, messageOf } from '../../operations/errors/index.js';

/** A request as messages name it: method, origin and path; never the query or credentials in the URL. */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

export abstract class HttpError extends CanopyError {
  constructor(
    code: string,
    /** `GET https://host/path`, as describeRequest writes it. */
    readonly request: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${request}: ${detail}`, options);
  }
}

/** The deadline passed: before the answer's headers (`received` undefined), or while its body arrived. */
export class HttpTimeoutError extends HttpError {
  constructor(
    request: string,
    readonly timeoutMs: number,
    /** Body bytes received when the deadline passed; undefined when no answer had begun. */
    readonly received: number | undefined,
    /** What the answer's Content-Length announced, if it did. */
    readonly expected: number | undefined,
  ) {
    super('http-timeout', request, received === undefined ? `no answer within ${timeoutMs} ms` : `the answer was not complete (${received} bytes) within ${timeoutMs} ms`);
  }

  /** Whether the peer had begun to answer (its status and headers arrived). */
  get answered(): boolean {
    return this.received !== undefined;
  }
}

/** The answer is larger than the caller's cap: announced so (`announced`), or found so while reading. */
export class HttpTooLargeError extends HttpError {
  constructor(
    request: string,
    readonly limit: number,
    readonly announced: number | undefined,
  ) {
    super('http-too-large', request, announced === undefined ? `the answer is larger than ${limit} bytes` : `the answer announces ${announced} bytes, over the limit of ${limit}`);
  }
}

/** How much of an error answer's text the message shows; the error keeps more, for structured errors. */
const EXCERPT_CHARS = 200;

/** An answer with a status the caller does not accept: the status, and the start of what the peer said. */
export class HttpStatusError extends HttpError {
  constructor(
    request: string,
    readonly status: number,
    /** The start of the answer's body, as text (at most ERROR_BODY_BYTES): a Kubernetes Status, an HTML page. */
    readonly body: string,
  ) {
    const excerpt = excerptOf(body);
    super('http-status', request, `answered ${status}${excerpt ? `: ${excerpt}` : ''}`);
  }

  /** The first line or so of the body, for a message. */
  get excerpt(): string {
    return excerptOf(this.body);
  }
}

function excerptOf(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat;
}

/** The connection failed or broke: refused, reset, a TLS certificate not trusted, closed mid-answer. */
export class HttpNetworkError extends HttpError {
  constructor(
    request: string,
    /** Whether the answer had begun (status and headers) when the connection failed. */
    readonly answered: boolean,
    cause: unknown,
  ) {
    super('http-network', request, causeOf(cause), { cause });
  }
}

/** The request cannot be sent as given: a header value with a newline, a URL or proxy that is not usable. */
export class HttpRequestError extends HttpError {
  constructor(request: string, cause: unknown) {
    super('http-request', request, causeOf(cause), { cause });
  }
}

/** A stream of JSON lines carried something else: a line that is not JSON, or one longer than the cap. */
export class HttpMalformedError extends HttpError {
  constructor(request: string, detail: string) {
    super('http-malformed', request, detail);
  }
}

/**
 * The message of a low-level failure. Node reports a connection that failed on every address of a
 * name (IPv4 and IPv6) as an AggregateError with an empty message: its parts say what happened.
 */
function causeOf(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    const parts = [...new Set(error.errors.map((part) => messageOf(part)))];
    if (parts.length > 0) return parts.join('; ');
  }
  const message = messageOf(error);
  if (message) return message;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return code || 'unknown error';
}
