// A minimal Kubernetes API server on 127.0.0.1 for the benchmark, speaking the protocol Canopy's clients
// use (the same as test/helpers/fake-kube.ts, which the benchmark cannot import: it is TypeScript, and the
// benchmark runs the built dist/):
// - LIST of a collection: {kind: 'List', metadata: {resourceVersion, continue?}, items}, with limit/continue;
// - WATCH (`?watch=true&resourceVersion=N`): JSON lines of {type, object}, from N, kept open; 410 Gone once
//   N is older than the history kept;
// - GET of one object;
// - PUT of an object or of its status subresource (`.../NAME/status`: only the body's status is taken),
//   refused with 409 Conflict when the body's metadata.resourceVersion is not the stored one, as etcd's
//   compare-and-swap makes the API server refuse it.
// TLS with a CA of its own (certificates from dist/sources/tls), bearer-token auth, and a kubeconfig
// pointing at it. Counts the requests it answers, per method, and the conflicts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueServingCertificate } from '../dist/sources/tls/index.js';

const TOKEN = 'bench-token';
/** Watch events kept for watches that resume from an older resource version; older ones get 410 Gone. */
const HISTORY = 10_000;

let certificates;
/** One CA and serving certificate for every fake server of the process (RSA keys take a while to make). */
function tlsFiles() {
  if (!certificates) {
    const ca = createCertificateAuthority('canopy bench fake kube-apiserver CA');
    certificates = { ca, serving: issueServingCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] }) };
  }
  return certificates;
}

const status = (code, reason, message) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

/** A fieldSelector of `metadata.name=x` and `metadata.namespace=y` terms, as a test of an object. */
function fieldSelector(url) {
  const terms = (url.searchParams.get('fieldSelector') ?? '')
    .split(',')
    .filter(Boolean)
    .map((term) => term.split('=', 2));
  return (object) => terms.every(([field, value]) => (field === 'metadata.name' ? object.metadata?.name : field === 'metadata.namespace' ? object.metadata?.namespace : undefined) === value);
}

export class FakeKube {
  collections = new Map();
  events = [];
  rv = 100;
  /** Watches from a resource version at or below this one get 410 Gone (their events are no longer kept). */
  compactedThrough = 0;
  watches = new Set();
  sockets = new Set();
  server = undefined;
  url = '';
  /** Requests answered, per method (GET counts LISTs, WATCHes and GETs of one object). */
  counts = { GET: 0, PUT: 0, other: 0 };
  conflicts = 0;

  /** The collection at `collectionPath` (created empty: then LIST and WATCH answer it). */
  collection(collectionPath) {
    let found = this.collections.get(collectionPath);
    if (!found) {
      found = new Map();
      this.collections.set(collectionPath, found);
    }
    return found;
  }

  /** Creates or replaces an object in a collection (by metadata.name), stamping a new resourceVersion, and tells the watches. */
  put(collectionPath, object) {
    const collection = this.collection(collectionPath);
    const type = collection.has(object.metadata.name) ? 'MODIFIED' : 'ADDED';
    this.rv += 1;
    const stamped = { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } };
    collection.set(stamped.metadata.name, stamped);
    const event = { collection: collectionPath, rv: this.rv, type, object: stamped };
    this.events.push(event);
    if (this.events.length > 2 * HISTORY) {
      const dropped = this.events.splice(0, this.events.length - HISTORY);
      this.compactedThrough = dropped.at(-1).rv;
    }
    let line;
    for (const watch of this.watches) {
      if (watch.collection !== collectionPath || !watch.matches(stamped)) continue;
      line ??= `${JSON.stringify({ type, object: stamped })}\n`;
      watch.res.write(line);
    }
    return stamped;
  }

  async start() {
    const { serving } = tlsFiles();
    this.server = createServer({ cert: serving.cert, key: serving.key, keepAlive: true }, (req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  async stop() {
    for (const watch of this.watches) watch.res.end();
    this.watches.clear();
    const closed = new Promise((resolve) => this.server?.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** A kubeconfig file pointing at this server, trusting its CA, with token auth. */
  kubeconfig() {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-bench-kubeconfig-')), 'config');
    const authority = Buffer.from(tlsFiles().ca.cert).toString('base64');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${this.url}", certificate-authority-data: ${authority}}}]`,
        `users: [{name: canopy, user: {token: ${TOKEN}}}]`,
        'contexts: [{name: fake, context: {cluster: fake, user: canopy}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return file;
  }

  send(res, code, body) {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.counts[req.method === 'GET' || req.method === 'PUT' ? req.method : 'other'] += 1;
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return this.send(res, 401, status(401, 'Unauthorized', 'no token'));
    if (req.method === 'PUT') return this.replace(req, url, res);
    if (req.method !== 'GET') return this.send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not served here`));
    const collection = this.collections.get(url.pathname);
    if (collection && url.searchParams.get('watch') === 'true') return this.watch(url, res);
    if (collection) return this.list(collection, url, res);
    const parent = url.pathname.slice(0, url.pathname.lastIndexOf('/'));
    const object = this.collections.get(parent)?.get(decodeURIComponent(url.pathname.slice(parent.length + 1)));
    if (object) return this.send(res, 200, object);
    this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
  }

  /** PUT of an object or of its status subresource: 409 Conflict unless the body's resourceVersion is the stored one. */
  replace(req, url, res) {
    const subresource = url.pathname.endsWith('/status');
    const objectPath = subresource ? url.pathname.slice(0, -'/status'.length) : url.pathname;
    const parent = objectPath.slice(0, objectPath.lastIndexOf('/'));
    const name = decodeURIComponent(objectPath.slice(parent.length + 1));
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return this.send(res, 400, status(400, 'BadRequest', 'the body is not JSON'));
      }
      const stored = this.collections.get(parent)?.get(name);
      if (!stored) return this.send(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
      if (body?.metadata?.resourceVersion !== stored.metadata.resourceVersion) {
        this.conflicts += 1;
        return this.send(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on ${parent.split('/').pop()} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      this.send(res, 200, this.put(parent, subresource ? { ...stored, status: body.status } : body));
    });
  }

  list(collection, url, res) {
    const all = [...collection.values()].filter(fieldSelector(url));
    const limit = Number(url.searchParams.get('limit') ?? all.length) || all.length;
    const offset = Number(url.searchParams.get('continue') ?? '0');
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    this.send(res, 200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) }, items: all.slice(offset, offset + limit) });
  }

  watch(url, res) {
    const collection = url.pathname;
    const since = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (since < this.compactedThrough) return this.send(res, 410, status(410, 'Expired', `too old resource version: ${since} (${this.rv})`));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const matches = fieldSelector(url);
    for (const event of this.events) {
      if (event.collection === collection && event.rv > since && matches(event.object)) res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    }
    const open = { collection, res, matches };
    this.watches.add(open);
    res.on('close', () => this.watches.delete(open));
  }
}
