// Supply chain against a real OCI registry: Debian's docker-registry on 127.0.0.1, images and cosign
// signatures pushed by the test with node:crypto keys, requests through /mutate and /validate over HTTPS.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAdmissionReview } from '../src/kubernetes/admission/index.js';
import { OciClient, pushImage, signImage } from '../src/sources/oci/index.js';
import { ImageEnricher, lookUpImages } from '../src/facts/supply-chain/index.js';
import type { RequestFacts } from '../src/policy/translate/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { patched, type MutationResponse } from './helpers/patch.js';
import { registryAvailable, startRegistry, type TestRegistry } from './helpers/registry.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;
const DEADLINE_MS = 1500;

const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const trusted = keyPair();
const untrusted = keyPair();
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

const review = (namespace: string, image: string, name = 'app'): Json =>
  admissionReview({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'app', image, resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } }] },
  });

describe('supply chain against a real registry', () => {
  let registry: TestRegistry;
  let doomed: TestRegistry;
  let hanging: Server;
  let hangingHost: string;
  let client: OciClient;
  let server: TestServer;
  const digests: Record<string, string> = {};

  beforeAll(async () => {
    if (!registryAvailable()) throw new Error("these tests need Debian's docker-registry: apt-get install docker-registry");
    registry = await startRegistry();
    doomed = await startRegistry();
    hanging = createServer(() => {}); // accepts connections and never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingHost = `127.0.0.1:${(hanging.address() as { port: number }).port}`;
    const access = [registry, doomed].map((r) => ({ host: r.host, insecure: true })).concat([{ host: hangingHost, insecure: true }]);
    client = new OciClient(access, DEADLINE_MS);
    const host = registry.host;
    for (const repo of ['signed/app', 'unsigned/app', 'untrusted/app', 'otherdigest/app', 'burst/app']) {
      digests[repo] = await pushImage(client, host, repo, '1.0', `content of ${repo}`);
    }
    digests['doomed'] = await pushImage(client, doomed.host, 'signed/app', '1.0', 'doomed');
    await signImage(client, host, 'signed/app', digests['signed/app'] ?? '', trusted.privateKey);
    await signImage(client, host, 'burst/app', digests['burst/app'] ?? '', trusted.privateKey);
    await signImage(client, host, 'untrusted/app', digests['untrusted/app'] ?? '', untrusted.privateKey);
    await signImage(client, host, 'otherdigest/app', digests['otherdigest/app'] ?? '', trusted.privateKey, { payloadDigest: digests['signed/app'] ?? '' });
    await signImage(client, doomed.host, 'signed/app', digests['doomed'] ?? '', trusted.privateKey);

    const policies = mkdtempSync(path.join(tmpdir(), 'canopy-supply-'));
    cpSync(STARTER_POLICIES, policies, { recursive: true });
    const key = pem(trusted.publicKey).trim().split('\n').map((line) => `        ${line}`).join('\n');
    writeFileSync(
      path.join(policies, 'data/supply-chain.yaml'),
      [
        'allowedSources:',
        `  default: [${host}, ${doomed.host}, "${hangingHost}", docker.io/library/]`,
        'requireDigest:',
        '  classes: [public]',
        'trust:',
        `  - repositories: ["${host}/*", "${doomed.host}/*", "${hangingHost}/*"]`,
        '    keys:',
        '      - |',
        key,
      ].join('\n'),
    );
    // The models pack approves oci:// models from this registry (and its images rules are the above).
    writeFileSync(path.join(policies, 'packs/models/data/models.yaml'), `approvedSources: ["oci://${host}/"]\n`);
    // Namespace "secure" holds public data (no sovereignty limits) for which this data requires digests.
    const labels: Record<string, Record<string, string>> = { secure: { 'canopy.io/data-class': 'public' } };
    const enricher = new ImageEnricher(client, { deadlineMs: DEADLINE_MS });
    server = await startServer({
      policies,
      facts: async (request, set) => {
        const facts: RequestFacts = { namespaceLabels: labels[request.namespace] ?? {} };
        return { ...facts, ...(await lookUpImages(enricher, set, request, facts)) };
      },
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await registry?.stop();
    await doomed?.stop();
    hanging?.close();
  });

  /** Mutate, apply the patch, validate: what the API server does. */
  async function admit(body: Json): Promise<{ allowed: boolean; message: string; image: string }> {
    const request = body['request'] as Json;
    const mutation = ((await server.post('/mutate', JSON.stringify(body))).json() as { response: MutationResponse }).response;
    if (!mutation.allowed) return { allowed: false, message: mutation.status?.message ?? '', image: '' };
    const object = patched(request['object'] as Json, mutation);
    const validation = ((await server.post('/validate', JSON.stringify({ ...body, request: { ...request, object } }))).json() as { response: MutationResponse }).response;
    const image = (((object['spec'] as Json)['containers'] as Json[])[0] as Json)['image'] as string;
    return { allowed: validation.allowed, message: validation.status?.message ?? '', image };
  }

  /** A KServe InferenceService loading an oci:// model (a modelcar), as KServe's docs write one. */
  const inferenceService = (namespace: string, storageUri: string): Json =>
    admissionReview({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'iris', namespace },
      spec: { predictor: { model: { modelFormat: { name: 'sklearn' }, storageUri } } },
    });

  /** Mutate, apply the patch, validate; the model's storageUri as it would be stored. */
  async function admitModel(body: Json): Promise<{ allowed: boolean; message: string; storageUri: unknown }> {
    const request = body['request'] as Json;
    const mutation = ((await server.post('/mutate', JSON.stringify(body))).json() as { response: MutationResponse }).response;
    if (!mutation.allowed) return { allowed: false, message: mutation.status?.message ?? '', storageUri: undefined };
    const object = patched(request['object'] as Json, mutation);
    const validation = ((await server.post('/validate', JSON.stringify({ ...body, request: { ...request, object } }))).json() as { response: MutationResponse }).response;
    const model = ((object['spec'] as Json)['predictor'] as Json)['model'] as Json;
    return { allowed: validation.allowed, message: validation.status?.message ?? '', storageUri: model['storageUri'] };
  }

  it('resolves an oci:// model like an image: a signed one is admitted, pinned to its digest where digests are required', async () => {
    const result = await admitModel(inferenceService('secure', `oci://${registry.host}/signed/app:1.0`));
    expect(result.message).toBe('');
    expect(result.allowed).toBe(true);
    expect(result.storageUri).toBe(`oci://${registry.host}/signed/app:1.0@${digests['signed/app']}`);
  });

  it('denies an unsigned or wrongly signed oci:// model, with the reason', async () => {
    const unsigned = await admitModel(inferenceService('team', `oci://${registry.host}/unsigned/app:1.0`));
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.message).toContain(`[models.signatures] InferenceService iris runs images or models that are not signed by a trusted key: ${registry.host}/unsigned/app:1.0: it is not signed.`);
    const untrustedModel = await admitModel(inferenceService('team', `oci://${registry.host}/untrusted/app:1.0`));
    expect(untrustedModel.message).toContain('no signature verifies with a trusted key');
  });

  it('admits a signed image and pins it to its digest where digests are required', async () => {
    const result = await admit(review('secure', `${registry.host}/signed/app:1.0`));
    expect(result.message).toBe('');
    expect(result.allowed).toBe(true);
    expect(result.image).toBe(`${registry.host}/signed/app:1.0@${digests['signed/app']}`);
  });

  it.each([
    ['an unsigned image', 'unsigned/app', 'it is not signed'],
    ['an image signed by an untrusted key', 'untrusted/app', 'no signature verifies with a trusted key'],
  ])('denies %s, with the reason', async (_what, repository, reason) => {
    const result = await admit(review('team', `${registry.host}/${repository}:1.0`));
    expect(result.allowed).toBe(false);
    expect(result.message).toContain(`[supply-chain.signatures] These images are not signed by a trusted key: ${registry.host}/${repository}:1.0: ${reason}.`);
  });

  it('denies an image whose signature is for a different digest', async () => {
    const result = await admit(review('team', `${registry.host}/otherdigest/app:1.0`));
    expect(result.message).toContain(`its signature is for ${digests['signed/app']}, not for ${digests['otherdigest/app']}`);
  });

  it('denies a wrongly signed image: a digest reference with no signature at all', async () => {
    const result = await admit(review('team', `${registry.host}/unsigned/app@${digests['signed/app']}`));
    expect(result.allowed).toBe(false);
    expect(result.message).toContain('[supply-chain.signatures]');
  });

  it('denies a registry outside the allow-list, and latest', async () => {
    const foreign = await admit(review('team', 'quay.io/someone/tool:2'));
    expect(foreign.message).toContain('[supply-chain.allowed-sources] Images quay.io/someone/tool:2 do not come from an allowed source here');
    const latest = await admit(review('team', 'nginx'));
    expect(latest.message).toContain('[supply-chain.no-latest]');
    expect(latest.message).not.toContain('allowed-sources');
  });

  it('denies clearly, naming image and registry, when a registry has stopped or does not answer', async () => {
    await doomed.stop();
    const stopped = await admit(review('team', `${doomed.host}/signed/app:1.0`));
    expect(stopped.allowed).toBe(false);
    expect(stopped.message).toContain(`${doomed.host}/signed/app:1.0: `);
    expect(stopped.message).toContain(`registry ${doomed.host}`);

    const slow = await admit(review('team', `${hangingHost}/slow/app:1.0`));
    expect(slow.allowed).toBe(false);
    expect(slow.message).toContain(`${hangingHost}/slow/app:1.0: registry ${hangingHost}`);
    expect(slow.message).toMatch(/did not answer within|no answer within/);
  });

  it('says why an image is still unpinned: not through the pinning mutation, or a tag Canopy could not resolve', async () => {
    const post = async (body: Json) => ((await server.post('/validate', JSON.stringify(body))).json() as { response: MutationResponse }).response;
    // Validated without /mutate (no mutating webhook installed): the tag resolves, nothing pinned it.
    const skipped = await post(review('secure', `${registry.host}/unsigned/app:1.0`));
    expect(skipped.allowed).toBe(false);
    const advice = `[supply-chain.digest-required] Images must be pinned to a digest here; these are not: ${registry.host}/unsigned/app:1.0.`;
    expect(skipped.status?.message).toContain(`${advice} Pin them (image@sha256:…), or send the request through Canopy's mutating webhook`);
    expect(skipped.status?.message).not.toContain('none');
    // A tag the registry does not have: the reason is named.
    const missing = await admit(review('secure', `${registry.host}/unsigned/app:9.9`));
    expect(missing.allowed).toBe(false);
    expect(missing.message).toMatch(new RegExp(`Canopy could not resolve their digests: ${registry.host.replace(/\./g, '\\.')}/unsigned/app:9\\.9 \\(.+\\)\\.`));
  });

  it('looks an image up once for a burst of 50 pods', async () => {
    const before = client.requests.get(registry.host) ?? 0;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => server.post('/validate', JSON.stringify(review('team', `${registry.host}/burst/app:1.0`, `burst-${i}`)))),
    );
    expect(answers.every((a) => (a.json() as { response: { allowed: boolean } }).response.allowed)).toBe(true);
    // One look-up: resolve the tag (HEAD), fetch the signature manifest, fetch its payload.
    expect((client.requests.get(registry.host) ?? 0) - before).toBe(3);
  });

  it('reports each look-up to the metrics: fetched (miss) the first time, from the cache (hit) after', async () => {
    const seen: string[] = [];
    const enricher = new ImageEnricher(client, { deadlineMs: DEADLINE_MS, onLookup: (enricher, result) => seen.push(`${enricher} ${result}`) });
    const request = parseAdmissionReview(review('secure', `${registry.host}/signed/app:1.0`));
    const facts: RequestFacts = { namespaceLabels: { 'canopy.io/data-class': 'public' } };
    await lookUpImages(enricher, server.pipeline.policySet, request, facts);
    await lookUpImages(enricher, server.pipeline.policySet, request, facts);
    expect(seen).toEqual(['image-digest miss', 'image-signature miss', 'image-digest hit', 'image-signature hit']);
  });
});
