// The work one request can cause at registries is bounded (README "Supply chain"): a Pod naming more
// distinct images needing look-ups than supplyChain.maxLookupsPerRequest is denied, naming the limit,
// without any look-up; look-ups in flight are bounded over all requests with a fair share per tenant;
// connections per registry are bounded. Against a registry on 127.0.0.1 that answers slowly, through
// /validate and /mutate over HTTPS, with the enricher wired as `canopy serve` wires it.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciClient } from '../src/sources/oci/index.js';
import { ImageEnricher, lookUpImages, type EnricherOptions } from '../src/facts/supply-chain/index.js';
import type { RequestFacts } from '../src/policy/translate/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import type { MutationResponse } from './helpers/patch.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;
const DEADLINE_MS = 4000;
const LOOKUP_DEADLINE_MS = 2000;
const MAX_CONNECTIONS = 16;

/** An OCI registry on 127.0.0.1 that knows every tag and answers each manifest request after `delayMs`. */
class SlowRegistry {
  private server: Server | undefined;
  host = '';
  requests = 0;
  connections = 0;
  peakConnections = 0;
  private generation = 0;
  /** Manifest requests in flight, by the first path segment of the repository (a tenant's repositories). */
  private readonly inFlight = new Map<string, number>();
  readonly peakInFlight = new Map<string, number>();

  constructor(private readonly delayMs: number) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests += 1;
      const match = /^\/v2\/(([^/]+)\/.+)\/manifests\/([^/]+)$/.exec(req.url ?? '');
      if (!match) {
        res.writeHead(req.url === '/v2/' ? 200 : 404).end();
        return;
      }
      const group = match[2] ?? '';
      const now = (this.inFlight.get(group) ?? 0) + 1;
      this.inFlight.set(group, now);
      this.peakInFlight.set(group, Math.max(now, this.peakInFlight.get(group) ?? 0));
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { image: req.url } }));
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      setTimeout(() => {
        this.inFlight.set(group, (this.inFlight.get(group) ?? 1) - 1);
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': digest, 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      }, this.delayMs);
    });
    // Counted from the last reset: a previous test's clients may still hold idle keep-alive connections.
    this.server.on('connection', (socket) => {
      const generation = this.generation;
      this.connections += 1;
      this.peakConnections = Math.max(this.peakConnections, this.connections);
      socket.on('close', () => {
        if (generation === this.generation) this.connections -= 1;
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    this.host = `127.0.0.1:${address.port}`;
  }

  reset(): void {
    this.generation += 1;
    this.requests = 0;
    this.connections = 0;
    this.peakConnections = 0;
    this.peakInFlight.clear();
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const container = (name: string, image: string): Json => ({ name, image, resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } });

const pod = (namespace: string, name: string, images: string[], dryRun = false): Json =>
  admissionReview(
    { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: images.map((image, i) => container(`c${i}`, image)) } },
    { dryRun },
  );

type Review = { response: MutationResponse & { status?: { message?: string } } };

/** Namespaces holding public data (digests required there), of two tenants. */
const LABELS: Record<string, Record<string, string>> = {
  greedy: { 'canopy.io/data-class': 'public', 'canopy.io/tenant': 'greedy' },
  modest: { 'canopy.io/data-class': 'public', 'canopy.io/tenant': 'modest' },
};

describe('bounds on the registry look-ups requests cause', () => {
  let registry: SlowRegistry;
  let policies: string;
  let server: TestServer | undefined;
  let enricher: ImageEnricher;

  beforeAll(async () => {
    registry = new SlowRegistry(150);
    await registry.start();
    policies = mkdtempSync(path.join(tmpdir(), 'canopy-lookup-bounds-'));
    cpSync(STARTER_POLICIES, policies, { recursive: true });
    writeFileSync(path.join(policies, 'data/supply-chain.yaml'), [`allowedSources:`, `  default: [${registry.host}]`, 'requireDigest:', '  classes: [public]', 'trust: []'].join('\n'));
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  afterAll(async () => {
    await registry?.stop();
  });

  /** A webhook server with the enricher wired as `canopy serve` wires it. */
  async function serveWith(options: EnricherOptions): Promise<TestServer> {
    registry.reset();
    const client = new OciClient([{ host: registry.host, insecure: true }], LOOKUP_DEADLINE_MS, undefined, MAX_CONNECTIONS);
    enricher = new ImageEnricher(client, { deadlineMs: LOOKUP_DEADLINE_MS, ...options });
    return startServer({
      policies,
      deadlineMs: DEADLINE_MS,
      facts: async (request, set) => {
        const facts: RequestFacts = { namespaceLabels: LABELS[request.namespace] ?? {} };
        return { ...facts, ...(await lookUpImages(enricher, set, request, facts)) };
      },
    });
  }

  /** One ordinary Pod of tenant modest through /mutate: pinned to its digest, and how long it took. */
  async function ordinary(s: TestServer, tag: string): Promise<{ ms: number; response: Review['response'] }> {
    const started = performance.now();
    const answer = await s.post('/mutate', JSON.stringify(pod('modest', `ordinary-${tag}`, [`${registry.host}/modest/app:${tag}`])));
    const ms = performance.now() - started;
    return { ms, response: (answer.json() as Review).response };
  }

  it('denies a Pod with thousands of images, naming the limit, and keeps an ordinary request of another tenant within the deadline', async () => {
    server = await serveWith({});
    const s = server;
    const big = (r: number) =>
      pod(
        'greedy',
        `fan-out-${r}`,
        Array.from({ length: 6000 }, (_, i) => `${registry.host}/greedy/app:r${r}-${i}`),
        true,
      );
    const bodies = [0, 1, 2, 3].map((r) => JSON.stringify(big(r)));
    const inFlight = bodies.map((body) => s.post('/validate', body));
    // The ordinary request goes while the four are in flight.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const plain = await ordinary(s, '1.0');
    console.log(`ordinary request beside four 6,000-image requests: ${Math.round(plain.ms)} ms`);
    const answers = await Promise.all(inFlight);
    console.log(`registry requests ${registry.requests}; peak connections ${registry.peakConnections}`);
    expect(plain.response.allowed).toBe(true);
    expect(plain.response.patch).toBeDefined();
    expect(plain.ms).toBeLessThan(DEADLINE_MS);
    for (const answer of answers) {
      const response = (answer.json() as Review).response;
      expect(response.allowed).toBe(false);
      expect(response.status?.message).toContain('6000 distinct images here need a registry look-up');
      expect(response.status?.message).toContain('at most 64 for one request (supplyChain.maxLookupsPerRequest)');
    }
    // Only the ordinary request's image was looked up: the big ones made no request at all.
    expect(registry.requests).toBeLessThanOrEqual(2);
    expect(registry.peakConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
  }, 30_000);

  it('bounds look-ups in flight, gives each tenant its share, and another tenant is not queued behind', async () => {
    // Under the per-request limit, many requests of one tenant: 4 × 100 look-ups at 150 ms each.
    server = await serveWith({ maxLookupsPerRequest: 100, maxConcurrentLookups: 32, maxLookupsPerTenant: 8 });
    const s = server;
    const greedy = [0, 1, 2, 3].map((r) =>
      s.post('/validate', JSON.stringify(pod('greedy', `many-${r}`, Array.from({ length: 100 }, (_, i) => `${registry.host}/greedy/app:m${r}-${i}`)))),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const plain = await ordinary(s, '2.0');
    const answers = await Promise.all(greedy);

    console.log(`ordinary request beside 400 queued look-ups: ${Math.round(plain.ms)} ms; greedy peak in flight ${registry.peakInFlight.get('greedy')}`);
    expect(plain.response.allowed).toBe(true);
    // Its one look-up did not wait for the greedy tenant's queue (2 s of it), only for the registry.
    expect(plain.ms).toBeLessThan(LOOKUP_DEADLINE_MS);
    expect(registry.peakInFlight.get('greedy') ?? 0).toBeLessThanOrEqual(8);
    expect(enricher.limiter.peak).toBeLessThanOrEqual(32);
    expect(registry.peakConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
    // The greedy requests could not all be looked up by the look-up deadline: denied, saying why.
    const responses = answers.map((answer) => (answer.json() as Review).response);
    expect(responses.map((response) => response.allowed)).toEqual([false, false, false, false]);
    expect(responses.filter((response) => response.status?.message?.includes('still waiting for a slot (supplyChain.maxConcurrentLookups')).length).toBeGreaterThan(0);
    // What was waiting left the queue at the deadline; nothing piles up afterwards.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(enricher.limiter.waiting).toBe(0);
    expect(enricher.limiter.active).toBe(0);
  }, 30_000);

  it('opens at most maxConnectionsPerRegistry connections to one registry, however many look-ups run', async () => {
    registry.reset();
    const client = new OciClient([{ host: registry.host, insecure: true }], 10_000, undefined, 4);
    const digests = await Promise.all(Array.from({ length: 40 }, (_, i) => client.resolve(registry.host, 'direct/app', `t${i}`)));
    expect(new Set(digests).size).toBe(40);
    expect(registry.requests).toBe(40);
    expect(registry.peakConnections).toBeLessThanOrEqual(4);
  }, 30_000);
});
