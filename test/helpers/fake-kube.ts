// A small Kubernetes API server on 127.0.0.1 that speaks the real list/watch protocol: paginated LIST
// with resourceVersion, WATCH streams of JSON events from a resource version, clean drops, and
// 410 Gone (as an HTTP status or as an ERROR event) once history is compacted. Enough for Canopy's
// informers to be tested against the protocol rather than against a stub of the client.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPatch, type Operation } from 'rfc6902';
import { createCertificateAuthority, issueServingCertificate } from '../../src/sources/tls/index.js';

// The API server is reached over real TLS, as in a cluster: its certificate is signed by a test CA
// that the kubeconfig trusts.
const ca = createCertificateAuthority('fake kube-apiserver CA');
const serving = issueServingCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });

type Json = Record<string, unknown>;

interface Event {
  collection: string;
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
}

interface OpenWatch {
  collection: string;
  res: ServerResponse;
  /** The watch's fieldSelector, as a test of each event's object. */
  matches: (object: Json) => boolean;
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

/** A fieldSelector of `metadata.name=x` and `metadata.namespace=y` terms (what Canopy sends), as a test. */
function fieldSelector(url: URL): (object: Json) => boolean {
  const terms = (url.searchParams.get('fieldSelector') ?? '')
    .split(',')
    .filter(Boolean)
    .map((term) => term.split('=', 2) as [string, string]);
  return (object) => {
    const metadata = (object['metadata'] ?? {}) as Json;
    return terms.every(([field, value]) => (field === 'metadata.name' ? metadata['name'] : field === 'metadata.namespace' ? metadata['namespace'] : undefined) === value);
  };
}

export class FakeKube {
  private readonly collections = new Map<string, Map<string, Json>>();
  /** Single objects at their own path (ClusterProfile, kcp LogicalCluster). */
  private readonly singles = new Map<string, Json>();
  private events: Event[] = [];
  private rv = 100;
  private compactedThrough = 0;
  private readonly watches = new Set<OpenWatch>();
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  private stopping = false;
  /** PUTs refused with 409 Conflict because the object had changed since the writer read it. */
  conflicts = 0;
  /** Every request, as `METHOD path?query`. */
  readonly requests: string[] = [];
  /** How an expired resource version is refused. */
  goneAs: 'http' | 'event' = 'http';
  /** Paths whose GET never answers, to test deadlines. */
  readonly hang = new Set<string>();
  /** Paths answered with this HTTP status (403 Forbidden, 500) instead, LIST and WATCH included: a source that fails. */
  readonly refuse = new Map<string, number>();
  /** How long to wait before answering a path (0: at once), to hold requests in flight. */
  delay: (path: string) => number = () => 0;
  url = '';

  collection(collectionPath: string): Map<string, Json> {
    let found = this.collections.get(collectionPath);
    if (!found) {
      found = new Map();
      this.collections.set(collectionPath, found);
    }
    return found;
  }

  private record(collection: string, type: Event['type'], object: Json): void {
    this.rv += 1;
    const metadata: Json = { ...(object['metadata'] as Json), resourceVersion: String(this.rv) };
    const stamped = { ...object, metadata };
    const name = metadata['name'] as string;
    if (type === 'DELETED') this.collection(collection).delete(name);
    else this.collection(collection).set(name, stamped);
    const event: Event = { collection, rv: this.rv, type, object: stamped };
    this.events.push(event);
    for (const watch of this.watches) if (watch.collection === collection && watch.matches(stamped)) watch.res.write(`${JSON.stringify({ type, object: stamped })}\n`);
  }

  put(collection: string, object: Json): void {
    const name = (object['metadata'] as Json)['name'] as string;
    this.record(collection, this.collection(collection).has(name) ? 'MODIFIED' : 'ADDED', object);
  }

  remove(collection: string, name: string): void {
    const object = this.collection(collection).get(name);
    if (object) this.record(collection, 'DELETED', object);
  }

  putSingle(objectPath: string, object: Json): void {
    this.singles.set(objectPath, object);
  }

  /** Ends every open watch cleanly, as an API server restart or a load balancer would. */
  dropWatches(): void {
    for (const watch of this.watches) watch.res.end();
    this.watches.clear();
  }

  /** Forgets history: a watch from any resource version before now gets 410 Gone. */
  compact(): void {
    this.compactedThrough = this.rv;
    this.events = [];
  }

  get openWatches(): number {
    return this.watches.size;
  }

  count(prefix: string): number {
    return this.requests.filter((r) => r.startsWith(prefix)).length;
  }

  async start(): Promise<string> {
    this.server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => this.handle(req, res));
    // Every socket, TLS handshakes included: stop() must be able to cut them all.
    this.server.on('connection', (socket: import('node:net').Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    this.url = `https://127.0.0.1:${address.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.dropWatches();
    // Stop accepting first, then cut every socket (even one mid-handshake), so a client reconnecting
    // meanwhile cannot hold close() open.
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** A kubeconfig file pointing at this server. */
  kubeconfig(): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-kubeconfig-')), 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${this.url}", certificate-authority-data: ${Buffer.from(ca.cert).toString('base64')}}}]`,
        'users: [{name: canopy, user: {token: test-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: canopy}}]',
        'current-context: fake',
      ].join('\n'),
    );
    return file;
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.stopping) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (this.hang.has(url.pathname)) return; // never answers
    const wait = this.delay(url.pathname);
    if (wait > 0) {
      setTimeout(() => this.answer(req, url, res), wait);
      return;
    }
    this.answer(req, url, res);
  }

  private answer(req: IncomingMessage, url: URL, res: ServerResponse): void {
    if (req.headers.authorization !== 'Bearer test-token') return this.send(res, 401, status(401, 'Unauthorized', 'no token'));
    const refused = this.refuse.get(url.pathname);
    if (refused !== undefined) return this.send(res, refused, status(refused, refused === 403 ? 'Forbidden' : 'InternalError', `${req.method} ${url.pathname} refused (${refused})`));
    if (req.method === 'PATCH') return this.patch(req, url, res);
    if (req.method === 'POST') return this.create(req, url, res);
    if (req.method === 'PUT') return this.replace(req, url, res);
    const collection = this.collections.get(url.pathname);
    if (collection && url.searchParams.get('watch') === 'true') return this.watch(url, res);
    if (collection) return this.list(collection, url, res);
    const single = this.singles.get(url.pathname);
    if (single) return this.send(res, 200, single);
    const parent = url.pathname.slice(0, url.pathname.lastIndexOf('/'));
    const object = this.collections.get(parent)?.get(decodeURIComponent(url.pathname.slice(parent.length + 1)));
    if (object) return this.send(res, 200, object);
    this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
  }

  private body(req: IncomingMessage, then: (body: unknown) => void): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => then(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
  }

  /**
   * PATCH: a JSON Patch (application/json-patch+json) applied to the stored object, its `test`
   * operations checked (a failed one is 422, as the API server answers); any other patch type is
   * treated as server-side apply, as far as tests need it: the body becomes the object.
   */
  private patch(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const parent = url.pathname.slice(0, url.pathname.lastIndexOf('/'));
    const name = decodeURIComponent(url.pathname.slice(parent.length + 1));
    this.body(req, (body) => {
      if (req.headers['content-type'] === 'application/json-patch+json') {
        const stored = this.collections.get(parent)?.get(name);
        if (!stored) return this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
        const copy = structuredClone(stored);
        const errors = applyPatch(copy, body as Operation[]).filter((error) => error !== null);
        if (errors.length > 0) return this.send(res, 422, status(422, 'Invalid', `the patch does not apply: ${errors.map((e) => e.message).join('; ')}`));
        this.put(parent, copy);
        return this.send(res, 200, this.collection(parent).get(name));
      }
      const object = body as Json;
      this.put(parent, object);
      this.send(res, 200, this.collection(parent).get((object['metadata'] as Json)['name'] as string));
    });
  }

  /** POST to a collection: 409 AlreadyExists when the name is taken. */
  private create(req: IncomingMessage, url: URL, res: ServerResponse): void {
    this.body(req, (body) => {
      const object = body as Json;
      const name = (object['metadata'] as Json)['name'] as string;
      if (this.collection(url.pathname).has(name)) return this.send(res, 409, status(409, 'AlreadyExists', `${name} already exists`));
      this.put(url.pathname, object);
      this.send(res, 201, this.collection(url.pathname).get(name));
    });
  }

  /**
   * PUT an object, or its status subresource (`…/NAME/status`: only the body's status is taken, as the
   * API server does for a custom resource with the status subresource): 409 Conflict when the body's
   * resourceVersion is not the stored one, as etcd's compare-and-swap refuses it.
   */
  private replace(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const subresource = url.pathname.endsWith('/status');
    const objectPath = subresource ? url.pathname.slice(0, -'/status'.length) : url.pathname;
    const parent = objectPath.slice(0, objectPath.lastIndexOf('/'));
    const name = decodeURIComponent(objectPath.slice(parent.length + 1));
    this.body(req, (body) => {
      const object = body as Json;
      const stored = this.collections.get(parent)?.get(name);
      if (!stored) return this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
      const given = (object['metadata'] as Json | undefined)?.['resourceVersion'];
      if (given !== (stored['metadata'] as Json)['resourceVersion']) {
        this.conflicts += 1;
        return this.send(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on ${parent.split('/').pop() ?? 'objects'} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      this.put(parent, subresource ? { ...stored, status: object['status'] } : object);
      this.send(res, 200, this.collection(parent).get(name));
    });
  }

  private list(collection: Map<string, Json>, url: URL, res: ServerResponse): void {
    const all = [...collection.values()].filter(fieldSelector(url));
    const limit = Number(url.searchParams.get('limit') ?? all.length) || all.length;
    const offset = Number(url.searchParams.get('continue') ?? '0');
    const items = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    this.send(res, 200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) }, items });
  }

  private watch(url: URL, res: ServerResponse): void {
    const collection = url.pathname;
    const since = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (since < this.compactedThrough) {
      const gone = status(410, 'Expired', `too old resource version: ${since} (${this.rv})`);
      if (this.goneAs === 'http') return this.send(res, 410, gone);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const matches = fieldSelector(url);
    for (const event of this.events) {
      if (event.collection === collection && event.rv > since && matches(event.object)) res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    }
    const open: OpenWatch = { collection, res, matches };
    this.watches.add(open);
    res.on('close', () => this.watches.delete(open));
  }
}

/** A kubeconfig with one context per server, named as given; the first is the current context. */
export function kubeconfigFor(servers: Record<string, string>): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-kubeconfig-')), 'config');
  const names = Object.keys(servers);
  const authority = Buffer.from(ca.cert).toString('base64');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      ...names.map((name) => `  - {name: ${name}, cluster: {server: "${servers[name]}", certificate-authority-data: ${authority}}}`),
      'users: [{name: canopy, user: {token: test-token}}]',
      'contexts:',
      ...names.map((name) => `  - {name: ${name}, context: {cluster: ${name}, user: canopy}}`),
      `current-context: ${names[0] ?? ''}`,
    ].join('\n'),
  );
  return file;
}

/** Polls until `check` holds, failing after `timeoutMs`: for state that an informer reaches asynchronously. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
