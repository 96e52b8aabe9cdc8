// Where a webhook fetches its bundle from: an HTTP(S) store (ETag / If-None-Match, optional long poll,
// bearer token), or an OCI registry (the bundle as an artifact; the manifest digest plays the ETag).
// Both go over the one HTTP transport (sources/http): one deadline for the whole exchange, body included,
// and the bundle's size cap applied as the answer arrives.
import { headerValue, HttpError, HttpNetworkError, HttpStatusError, HttpTimeoutError, HttpTooLargeError, HttpTransport } from '../http/index.js';
import { OciClient, pushArtifact, type RegistryAccess } from '../oci/index.js';
import { LIMITS } from './archive.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export const BUNDLE_LAYER = 'application/vnd.canopy.bundle.v1.tar+gzip';
export const BUNDLE_CONFIG = 'application/vnd.canopy.bundle.config.v1+json';

export type FetchResult = { changed: false } | { changed: true; etag: string; bytes: Buffer };

export interface BundleSource {
  readonly description: string;
  /** The bundle, unless it is still the one `etag` names. Rejects when the store cannot be reached. */
  fetch(etag: string | undefined): Promise<FetchResult>;
  /** Closes its connections; the sync that polls it is stopping. */
  close(): Promise<void>;
}

/**
 * The store answered, but not with anything that can be a bundle (over the size cap): the check is a
 * refusal, with this reason, not an unreachable store.
 */
export class StoreAnswerRefused extends CanopyError {
  constructor(message: string) {
    super('bundle-store-refused', message);
  }
}

/** A store that did not answer, or not in full, within the deadline. */
class StoreTimeout extends CanopyError {
  constructor(message: string) {
    super('bundle-store-timeout', message);
  }
}

export class HttpBundleSource implements BundleSource {
  private readonly transport: HttpTransport;

  constructor(
    private readonly url: string,
    private readonly options: { token?: string; ca?: string; timeoutMs?: number; longPollSeconds?: number } = {},
  ) {
    this.transport = new HttpTransport(options.ca ? { tls: { ca: options.ca } } : {});
  }

  get description(): string {
    return this.url;
  }

  async fetch(etag: string | undefined): Promise<FetchResult> {
    const url = new URL(this.url);
    if (this.options.token && url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new Error('refusing to send the bearer token over plain http: use an https:// store');
    }
    const wait = this.options.longPollSeconds ?? 0;
    if (etag && wait > 0) url.searchParams.set('wait', String(wait));
    const timeoutMs = (this.options.timeoutMs ?? 10_000) + (etag ? wait * 1000 : 0);
    const headers: Record<string, string> = { ...(etag ? { 'If-None-Match': etag } : {}), ...(this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {}) };
    let answer;
    try {
      answer = await this.transport.exchange({ method: 'GET', url, headers, timeoutMs, maxBodyBytes: LIMITS.totalBytes, accept: (status) => status === 200 || status === 304 });
    } catch (error) {
      throw storeFailure(error, timeoutMs);
    }
    if (answer.status === 304) return { changed: false };
    return { changed: true, etag: headerValue(answer.headers, 'etag') ?? '', bytes: answer.body };
  }

  /** Closes the connection kept to the store. */
  async close(): Promise<void> {
    await this.transport.destroy();
  }
}

/** A failed fetch in the words of /status: too large is a refusal; a deadline, a status or a network failure, an unreachable store. */
function storeFailure(error: unknown, timeoutMs: number): Error {
  if (error instanceof HttpTooLargeError) {
    return new StoreAnswerRefused(
      error.announced !== undefined
        ? `the store answered with ${error.announced} bytes, over the limit of ${error.limit}: not a bundle`
        : `the store sent more than ${error.limit} bytes: not a bundle`,
    );
  }
  if (error instanceof HttpTimeoutError) {
    if (!error.answered) return new StoreTimeout(`the store did not answer within ${timeoutMs} ms`);
    return new StoreTimeout(`the store did not send the whole bundle within ${timeoutMs} ms (${error.received ?? 0}${error.expected !== undefined ? ` of ${error.expected}` : ''} bytes)`);
  }
  if (error instanceof HttpStatusError) return new Error(`the store answered ${error.status}`, { cause: error });
  if (error instanceof HttpNetworkError && error.answered) return new Error(`the store broke off its answer: ${error.detail}`, { cause: error });
  return new Error(`the store cannot be reached: ${error instanceof HttpError ? error.detail : messageOf(error)}`, { cause: error });
}

/** oci://REGISTRY/REPOSITORY:TAG */
export function parseOciUrl(url: string): { registry: string; repository: string; tag: string } {
  const match = /^oci:\/\/([^/]+)\/(.+?)(?::([\w][\w.-]{0,127}))?$/.exec(url);
  if (!match) throw new Error(`"${url}" is not oci://REGISTRY/REPOSITORY:TAG`);
  return { registry: (match[1] ?? '').toLowerCase(), repository: match[2] ?? '', tag: match[3] ?? 'latest' };
}

export class OciBundleSource implements BundleSource {
  private readonly target: ReturnType<typeof parseOciUrl>;
  private readonly client: OciClient;

  constructor(
    private readonly url: string,
    access: RegistryAccess[] = [],
    timeoutMs = 10_000,
  ) {
    this.target = parseOciUrl(url);
    // A bundle's blob may be as large as a bundle may be (archive.ts); image manifests stay at the client's default.
    this.client = new OciClient(access, timeoutMs, LIMITS.totalBytes);
  }

  get description(): string {
    return this.url;
  }

  async fetch(etag: string | undefined): Promise<FetchResult> {
    const { registry, repository, tag } = this.target;
    const digest = await this.client.resolve(registry, repository, tag);
    if (digest === etag) return { changed: false };
    const manifest = await this.client.manifest(registry, repository, digest);
    const layer = (JSON.parse(manifest.body.toString('utf8')) as { layers?: { mediaType?: string; digest?: string }[] }).layers?.find((l) => l.mediaType === BUNDLE_LAYER);
    if (!layer?.digest) throw new Error(`${this.url} is not a Canopy bundle (no ${BUNDLE_LAYER} layer)`);
    return { changed: true, etag: digest, bytes: await this.client.blob(registry, repository, layer.digest) };
  }

  /** Closes the connections kept to the registry. */
  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Pushes a bundle as an OCI artifact; returns the manifest digest. */
export async function pushBundle(bytes: Buffer, url: string, access: RegistryAccess[] = []): Promise<string> {
  const { registry, repository, tag } = parseOciUrl(url);
  const client = new OciClient(access);
  try {
    return await pushArtifact(client, registry, repository, tag, {
      artifactType: BUNDLE_CONFIG,
      config: { mediaType: BUNDLE_CONFIG, data: Buffer.from('{}') },
      layers: [{ mediaType: BUNDLE_LAYER, data: bytes, annotations: { 'org.opencontainers.image.title': 'bundle.tar.gz' } }],
    });
  } finally {
    await client.close();
  }
}

export function bundleSource(url: string, options: { token?: string; ca?: string; registries?: RegistryAccess[]; longPollSeconds?: number } = {}): BundleSource {
  if (url.startsWith('oci://')) return new OciBundleSource(url, options.registries ?? []);
  if (/^https?:\/\//.test(url)) return new HttpBundleSource(url, { ...(options.token ? { token: options.token } : {}), ...(options.ca ? { ca: options.ca } : {}), ...(options.longPollSeconds ? { longPollSeconds: options.longPollSeconds } : {}) });
  throw new Error(`"${url}" is neither an http(s):// store nor an oci:// registry`);
}
