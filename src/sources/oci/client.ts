// An OCI distribution client: resolve a tag to a digest, fetch manifests and blobs (verifying their
// sha256 when fetched by digest), and push them. Always sends the OCI and Docker manifest Accept types;
// anonymous, basic and bearer-token auth; a deadline on every request; redirects only to the same scheme.
// Requests go over the one HTTP transport (sources/http), with a ceiling of connections per registry.
import { createHash } from 'node:crypto';
import { headerValue, HttpError, HttpTooLargeError, HttpTransport, type ResponseHeaders } from '../http/index.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface RegistryAccess {
  /** host[:port], as in image references. */
  host: string;
  /** Plain HTTP (a local or test registry). */
  insecure?: boolean;
  username?: string;
  password?: string;
}

export class OciError extends CanopyError {
  constructor(
    readonly registry: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super('oci', `registry ${registry}: ${message}`, options);
  }
}

interface Response {
  status: number;
  headers: ResponseHeaders;
  body: Buffer;
}

export interface Manifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const MAX_BODY = 16 * 1024 * 1024;
/** Connections open at once to one registry (host and port); more requests wait for one of them. */
export const DEFAULT_MAX_CONNECTIONS_PER_REGISTRY = 16;
/** Idle kept-alive connections close after this, as Node's global agent's did. */
const KEEP_ALIVE_MS = 5000;

export class OciClient {
  private readonly access = new Map<string, RegistryAccess>();
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly transport: HttpTransport;
  /** Requests sent, by registry: what caching saves is visible. */
  readonly requests = new Map<string, number>();

  constructor(
    registries: RegistryAccess[] = [],
    /** For one whole exchange, headers and body: a registry trickling bytes must not hold a caller. */
    private readonly timeoutMs = 5000,
    /** The largest answer read: manifests are kilobytes; a bundle source raises it to the bundle's own limit. */
    private readonly maxBodyBytes = MAX_BODY,
    /** Connections kept alive and open at once per registry: thousands of look-ups cannot open thousands of sockets. */
    maxConnectionsPerRegistry = DEFAULT_MAX_CONNECTIONS_PER_REGISTRY,
  ) {
    for (const registry of registries) this.access.set(registry.host, registry);
    this.transport = new HttpTransport({ connectionsPerOrigin: maxConnectionsPerRegistry, keepAliveMs: KEEP_ALIVE_MS });
  }

  /** Closes the connections to every registry; requests in flight are cut. */
  async close(): Promise<void> {
    await this.transport.destroy();
  }

  private base(registry: string): string {
    return `${this.access.get(registry)?.insecure ? 'http' : 'https'}://${registry}`;
  }

  /**
   * One request, following up to 3 redirects, all within one deadline (from `startedAt`): a request
   * waiting for one of the registry's connections waits within it too.
   */
  private async send(registry: string, method: string, url: string, headers: Record<string, string>, body?: Buffer, redirects = 0, startedAt = Date.now()): Promise<Response> {
    this.requests.set(registry, (this.requests.get(registry) ?? 0) + 1);
    const target = new URL(url);
    let answer: Response;
    try {
      answer = await this.transport.exchange({ method, url: target, headers, ...(body ? { body } : {}), timeoutMs: this.timeoutMs, startedAt, maxBodyBytes: this.maxBodyBytes, accept: () => true });
    } catch (error) {
      throw this.failure(registry, `${method} ${target.pathname}`, error);
    }
    const location = headerValue(answer.headers, 'location');
    if (answer.status < 300 || answer.status >= 400 || !location) return answer;
    let next: URL;
    try {
      next = new URL(location, target);
    } catch {
      throw new OciError(registry, `${method} ${target.pathname}: a redirect to an address that is not a URL`);
    }
    if (next.protocol !== target.protocol) throw new OciError(registry, `refusing a redirect from ${target.protocol} to ${next.protocol}`);
    if (redirects >= 3) throw new OciError(registry, 'too many redirects');
    // Credentials are for the registry: a redirect to another host (a CDN, presigned storage) gets none.
    const { Authorization: _dropped, ...rest } = headers;
    return this.send(registry, method, next.href, next.host === target.host ? headers : rest, body, redirects + 1, startedAt);
  }

  /** A failed exchange in this client's words: `registry HOST: GET /v2/...: no answer within 5000 ms`. */
  private failure(registry: string, what: string, error: unknown): OciError {
    if (error instanceof HttpTooLargeError) return new OciError(registry, `${what}: the answer is larger than ${error.limit} bytes`, undefined, { cause: error });
    if (error instanceof HttpError) return new OciError(registry, `${what}: ${error.detail}`, undefined, { cause: error });
    return new OciError(registry, `${what}: ${messageOf(error)}`, undefined, { cause: error });
  }

  private basic(registry: string): string | undefined {
    const access = this.access.get(registry);
    return access?.username !== undefined ? `Basic ${Buffer.from(`${access.username}:${access.password ?? ''}`).toString('base64')}` : undefined;
  }

  /** A request with the registry's auth: basic when configured, and the bearer-token challenge. */
  private async call(registry: string, method: string, path: string, scope: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Response> {
    const url = /^https?:/.test(path) ? path : `${this.base(registry)}${path}`;
    const cached = this.tokens.get(`${registry} ${scope}`);
    const auth = cached && cached.expires > Date.now() ? `Bearer ${cached.token}` : this.basic(registry);
    const first = await this.send(registry, method, url, { ...headers, ...(auth ? { Authorization: auth } : {}) }, body);
    const challenge = headerValue(first.headers, 'www-authenticate') ?? '';
    if (first.status !== 401 || !/^Bearer /i.test(challenge)) return first;
    const token = await this.token(registry, challenge, scope);
    return this.send(registry, method, url, { ...headers, Authorization: `Bearer ${token}` }, body);
  }

  private async token(registry: string, challenge: string, scope: string): Promise<string> {
    const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    if (!params['realm']) throw new OciError(registry, 'bearer challenge without a realm');
    const realm = new URL(params['realm']);
    if (realm.protocol !== 'https:' && !this.access.get(registry)?.insecure) throw new OciError(registry, `refusing a token realm that is not https: ${realm.origin}`);
    if (params['service']) realm.searchParams.set('service', params['service']);
    realm.searchParams.set('scope', params['scope'] ?? scope);
    const basic = this.basic(registry);
    const answer = await this.send(registry, 'GET', realm.href, basic ? { Authorization: basic } : {});
    if (answer.status !== 200) throw new OciError(registry, `token endpoint answered ${answer.status}`, answer.status);
    const parsed = JSON.parse(answer.body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new OciError(registry, 'token endpoint gave no token');
    this.tokens.set(`${registry} ${scope}`, { token, expires: Date.now() + ((parsed.expires_in ?? 60) - 5) * 1000 });
    return token;
  }

  /** A manifest by tag or digest; a digest fetch is checked against the body's sha256. */
  async manifest(registry: string, repository: string, reference: string): Promise<Manifest> {
    const answer = await this.call(registry, 'GET', `/v2/${repository}/manifests/${reference}`, `repository:${repository}:pull`, { Accept: MANIFEST_TYPES.join(', ') });
    if (answer.status === 404) throw new OciError(registry, `${repository}:${reference} not found`, 404);
    if (answer.status !== 200) throw new OciError(registry, `GET manifest ${repository}:${reference} answered ${answer.status}`, answer.status);
    const digest = sha256(answer.body);
    if (reference.startsWith('sha256:') && digest !== reference) throw new OciError(registry, `manifest ${repository}@${reference} has digest ${digest}`);
    const header = headerValue(answer.headers, 'docker-content-digest');
    if (header?.startsWith('sha256:') && header !== digest) throw new OciError(registry, `manifest ${repository}:${reference}: the Docker-Content-Digest header does not match its body`);
    return { digest, mediaType: headerValue(answer.headers, 'content-type') ?? '', body: answer.body };
  }

  /** The digest a tag points at: HEAD when the registry names it, else the manifest's own sha256. */
  async resolve(registry: string, repository: string, tag: string): Promise<string> {
    const head = await this.call(registry, 'HEAD', `/v2/${repository}/manifests/${tag}`, `repository:${repository}:pull`, { Accept: MANIFEST_TYPES.join(', ') });
    if (head.status === 404) throw new OciError(registry, `${repository}:${tag} not found`, 404);
    const header = headerValue(head.headers, 'docker-content-digest');
    if (head.status === 200 && header !== undefined && /^sha256:[a-f0-9]{64}$/.test(header)) return header;
    return (await this.manifest(registry, repository, tag)).digest;
  }

  async blob(registry: string, repository: string, digest: string): Promise<Buffer> {
    const answer = await this.call(registry, 'GET', `/v2/${repository}/blobs/${digest}`, `repository:${repository}:pull`);
    if (answer.status !== 200) throw new OciError(registry, `GET blob ${repository}@${digest} answered ${answer.status}`, answer.status);
    if (sha256(answer.body) !== digest) throw new OciError(registry, `blob ${repository}@${digest} does not match its digest`);
    return answer.body;
  }

  async pushBlob(registry: string, repository: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const scope = `repository:${repository}:pull,push`;
    const start = await this.call(registry, 'POST', `/v2/${repository}/blobs/uploads/`, scope);
    const location = headerValue(start.headers, 'location');
    if (start.status !== 202 || !location) throw new OciError(registry, `starting an upload answered ${start.status}`, start.status);
    const url = new URL(location, this.base(registry));
    url.searchParams.set('digest', digest);
    const put = await this.call(registry, 'PUT', url.href, scope, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) }, data);
    if (put.status !== 201) throw new OciError(registry, `uploading ${digest} answered ${put.status}`, put.status);
    return digest;
  }

  async pushManifest(registry: string, repository: string, reference: string, manifest: Buffer, mediaType: string): Promise<string> {
    const put = await this.call(registry, 'PUT', `/v2/${repository}/manifests/${reference}`, `repository:${repository}:pull,push`, { 'Content-Type': mediaType, 'Content-Length': String(manifest.length) }, manifest);
    if (put.status !== 201) throw new OciError(registry, `pushing manifest ${repository}:${reference} answered ${put.status}: ${put.body.toString('utf8').slice(0, 200)}`, put.status);
    return sha256(manifest);
  }
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface ArtifactLayer {
  mediaType: string;
  data: Buffer;
  annotations?: Record<string, string>;
}

/** Pushes blobs and an OCI image manifest naming them; returns the manifest digest. */
export async function pushArtifact(
  client: OciClient,
  registry: string,
  repository: string,
  reference: string,
  artifact: { config: { mediaType: string; data: Buffer }; layers: ArtifactLayer[]; artifactType?: string },
): Promise<string> {
  const configDigest = await client.pushBlob(registry, repository, artifact.config.data);
  const layers = [];
  for (const layer of artifact.layers) {
    const digest = await client.pushBlob(registry, repository, layer.data);
    layers.push({ mediaType: layer.mediaType, digest, size: layer.data.length, ...(layer.annotations ? { annotations: layer.annotations } : {}) });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(artifact.artifactType ? { artifactType: artifact.artifactType } : {}),
    config: { mediaType: artifact.config.mediaType, digest: configDigest, size: artifact.config.data.length },
    layers,
  };
  return client.pushManifest(registry, repository, reference, Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
}
