// Where a webhook fetches its bundle from: an HTTP(S) store (ETag / If-None-Match, optional long poll,
// bearer token), or an OCI registry (the bundle as an artifact; the manifest digest plays the ETag).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { OciClient, pushArtifact, type RegistryAccess } from '../oci/index.js';
import { LIMITS } from './archive.js';
import { CanopyError } from '../../operations/errors/index.js';

export const BUNDLE_LAYER = 'application/vnd.canopy.bundle.v1.tar+gzip';
export const BUNDLE_CONFIG = 'application/vnd.canopy.bundle.config.v1+json';

export type FetchResult = { changed: false } | { changed: true; etag: string; bytes: Buffer };

export interface BundleSource {
  readonly description: string;
  /** The bundle, unless it is still the one `etag` names. Rejects when the store cannot be reached. */
  fetch(etag: string | undefined): Promise<FetchResult>;
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
  constructor(
    private readonly url: string,
    private readonly options: { token?: string; ca?: string; timeoutMs?: number; longPollSeconds?: number } = {},
  ) {}

  get description(): string {
    return this.url;
  }

  fetch(etag: string | undefined): Promise<FetchResult> {
    const url = new URL(this.url);
    if (this.options.token && url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      return Promise.reject(new Error('refusing to send the bearer token over plain http: use an https:// store'));
    }
    const wait = this.options.longPollSeconds ?? 0;
    if (etag && wait > 0) url.searchParams.set('wait', String(wait));
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeout = (this.options.timeoutMs ?? 10_000) + (etag ? wait * 1000 : 0);
    const headers: Record<string, string> = { ...(etag ? { 'If-None-Match': etag } : {}), ...(this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {}) };
    return new Promise<FetchResult>((resolve, reject) => {
      // One deadline for the whole exchange, body included: a socket timeout alone is only reset by
      // every byte, so a store that trickles its answer would hold the check for ever.
      let answered = false;
      let size = 0;
      let expected = '';
      const deadline = setTimeout(() => {
        const what = answered ? `did not send the whole bundle within ${timeout} ms (${size}${expected ? ` of ${expected}` : ''} bytes)` : `did not answer within ${timeout} ms`;
        req.destroy(new StoreTimeout(`the store ${what}`));
      }, timeout);
      const settle = (outcome: () => void) => {
        clearTimeout(deadline);
        outcome();
      };
      const fail = (error: Error) =>
        settle(() => {
          if (error instanceof StoreAnswerRefused || error instanceof StoreTimeout) reject(error);
          else reject(new Error(answered ? `the store broke off its answer: ${error.message}` : `the store cannot be reached: ${error.message}`));
        });
      const req = send(url, { headers, ...(this.options.ca ? { ca: this.options.ca } : {}) }, (res) => {
        answered = true;
        expected = /^\d+$/.test(res.headers['content-length'] ?? '') ? String(res.headers['content-length']) : '';
        if (res.statusCode === 200 && Number(expected) > LIMITS.totalBytes) {
          req.destroy(new StoreAnswerRefused(`the store answered with ${expected} bytes, over the limit of ${LIMITS.totalBytes}: not a bundle`));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > LIMITS.totalBytes) req.destroy(new StoreAnswerRefused(`the store sent more than ${LIMITS.totalBytes} bytes: not a bundle`));
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () =>
          settle(() => {
            if (res.statusCode === 304) return resolve({ changed: false });
            if (res.statusCode !== 200) return reject(new Error(`the store answered ${res.statusCode}`));
            const next = res.headers.etag ?? '';
            resolve({ changed: true, etag: next, bytes: Buffer.concat(chunks) });
          }),
        );
      });
      req.on('error', fail);
      req.end();
    });
  }
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
}

/** Pushes a bundle as an OCI artifact; returns the manifest digest. */
export async function pushBundle(bytes: Buffer, url: string, access: RegistryAccess[] = []): Promise<string> {
  const { registry, repository, tag } = parseOciUrl(url);
  return pushArtifact(new OciClient(access), registry, repository, tag, {
    artifactType: BUNDLE_CONFIG,
    config: { mediaType: BUNDLE_CONFIG, data: Buffer.from('{}') },
    layers: [{ mediaType: BUNDLE_LAYER, data: bytes, annotations: { 'org.opencontainers.image.title': 'bundle.tar.gz' } }],
  });
}

export function bundleSource(url: string, options: { token?: string; ca?: string; registries?: RegistryAccess[]; longPollSeconds?: number } = {}): BundleSource {
  if (url.startsWith('oci://')) return new OciBundleSource(url, options.registries ?? []);
  if (/^https?:\/\//.test(url)) return new HttpBundleSource(url, { ...(options.token ? { token: options.token } : {}), ...(options.ca ? { ca: options.ca } : {}), ...(options.longPollSeconds ? { longPollSeconds: options.longPollSeconds } : {}) });
  throw new Error(`"${url}" is neither an http(s):// store nor an oci:// registry`);
}
