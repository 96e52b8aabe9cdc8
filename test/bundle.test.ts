// Policy bundles: format and verification, the HTTP and OCI stores, and a webhook's sync: decisions
// change when a new revision is published; bad bundles are refused while the old set keeps serving;
// a restart with the store down serves the persisted bundle; a reload under load fails no request.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBundle,
  BundleSync,
  createBundleStore,
  HttpBundleSource,
  OciBundleSource,
  PolicyDirectoryWatcher,
  pushBundle,
  readArchive,
  signBundle,
  verifyBundle,
  writeArchive,
} from '../src/sources/bundle/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { runCanopy } from './helpers/cli.js';
import { copyPoliciesForBundles, fixture, STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { registryAvailable, startRegistry } from './helpers/registry.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-bundle-'));
const logger = createLogger(logSink().stream);
const pemOf = (key: KeyObject) => key.export({ type: key.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString();
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ed25519');

// v2 adds a rule that denies the captured ConfigMap app-config (fixture 28); v1 allows it.
const NO_APP_CONFIG = '@id("example.no-app-config")\n@advice("Name it something else.")\nforbid (principal, action == k8s::Action::"create", resource is k8s::Resource)\nwhen { resource.kind == "ConfigMap" && resource.name == "app-config" };\n';
function policies(extra: Record<string, string> = {}): string {
  const dir = tempDir();
  copyPoliciesForBundles(dir);
  for (const [file, text] of Object.entries(extra)) writeFileSync(path.join(dir, file), text);
  return dir;
}

async function signedBundle(revision: string, createdAt: Date, extra: Record<string, string> = {}, key = ed.privateKey): Promise<Buffer> {
  const built = await buildBundle(policies(extra), { revision, createdAt, sourceCommit: `commit-${revision}` });
  return (await signBundle(built.bytes, pemOf(key))).bytes;
}

/** Rewrites one file of a signed bundle without re-signing it. */
async function tampered(bytes: Buffer, file: string, text: string): Promise<Buffer> {
  const contents = await readArchive(bytes);
  contents.set(file, Buffer.from(text));
  return writeArchive(contents);
}

const allowsAppConfig = (pipeline: AdmissionPipeline) => pipeline.review(fixture(28)).decision.allowed;

describe('the bundle format', () => {
  it.each([
    ['Ed25519', ed],
    ['ECDSA P-256', ec],
  ])('builds, signs (%s) and verifies, naming every file with its hash', async (_name, pair) => {
    const bytes = await signedBundle('r1', new Date('2026-01-01T00:00:00Z'), {}, pair.privateKey);
    const verified = await verifyBundle(bytes, [pair.publicKey]);
    expect(verified.manifest).toMatchObject({ revision: 'r1', createdAt: '2026-01-01T00:00:00.000Z', sourceCommit: 'commit-r1' });
    expect(verified.files.get('schema.cedarschema')).toBe(readFileSync(path.join(STARTER_POLICIES, 'schema.cedarschema'), 'utf8'));
    expect([...verified.files.keys()]).toContain('data/budgets.yaml');
  });

  it('refuses an unsigned bundle, a wrong key, a tampered file and a file the manifest does not name', async () => {
    const unsigned = (await buildBundle(STARTER_POLICIES)).bytes;
    await expect(verifyBundle(unsigned, [ed.publicKey])).rejects.toThrow('the bundle is not signed');
    const bytes = await signedBundle('r1', new Date());
    await expect(verifyBundle(bytes, [stranger.publicKey])).rejects.toThrow(/signed by key [0-9a-f]{16}, which is not trusted/);
    await expect(verifyBundle(await tampered(bytes, 'pod-security/baseline/privileged.cedar', '// nothing'), [ed.publicKey])).rejects.toThrow('pod-security/baseline/privileged.cedar does not match its signed SHA-256');
    await expect(verifyBundle(await tampered(bytes, 'baseline/extra.cedar', NO_APP_CONFIG), [ed.publicKey])).rejects.toThrow('baseline/extra.cedar is in the bundle but not in the signed file list');
  });

  it('refuses absolute paths, paths that climb out, and links', async () => {
    const { pack } = await import('tar-stream');
    const { gzipSync } = await import('node:zlib');
    const archive = async (header: { name: string; type?: 'symlink' | 'file'; linkname?: string }) => {
      const p = pack();
      const chunks: Buffer[] = [];
      p.on('data', (c: unknown) => chunks.push(c as Buffer));
      const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
      if (header.type === 'symlink') p.entry(header);
      else p.entry({ ...header, size: 1 }, 'x');
      p.finalize();
      await done;
      return gzipSync(Buffer.concat(chunks));
    };
    await expect(readArchive(await archive({ name: '/etc/passwd' }))).rejects.toThrow('absolute path');
    await expect(readArchive(await archive({ name: 'a/../../evil' }))).rejects.toThrow('climbs out');
    await expect(readArchive(await archive({ name: 'link', type: 'symlink', linkname: '/etc/passwd' }))).rejects.toThrow('only plain files');
    await expect(readArchive(Buffer.from('not a bundle'))).rejects.toThrow('not a gzipped tar');
  });
});

describe('canopy bundle', () => {
  it('builds, signs, verifies and inspects from the command line', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'key.pem'), pemOf(ed.privateKey));
    writeFileSync(path.join(dir, 'pub.pem'), pemOf(ed.publicKey));
    writeFileSync(path.join(dir, 'other.pem'), pemOf(stranger.publicKey));
    const file = path.join(dir, 'b.tar.gz');
    expect((await runCanopy(['bundle', 'build', STARTER_POLICIES, '-o', file, '--revision', 'v7', '--commit', 'abc'])).code).toBe(0);
    expect((await runCanopy(['bundle', 'verify', file, '--pub', path.join(dir, 'pub.pem')])).stderr).toContain('the bundle is not signed');
    expect((await runCanopy(['bundle', 'sign', file, '--key', path.join(dir, 'key.pem')])).code).toBe(0);
    const ok = await runCanopy(['bundle', 'verify', file, '--pub', path.join(dir, 'pub.pem')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/valid, revision v7, signed by key [0-9a-f]{16}/);
    expect((await runCanopy(['bundle', 'verify', file, '--pub', path.join(dir, 'other.pem')])).code).toBe(1);
    const inspect = await runCanopy(['bundle', 'inspect', file]);
    expect(inspect.stdout).toContain('revision:  v7');
    expect(inspect.stdout).toContain('commit:    abc');
    expect(inspect.stdout).toMatch(/signature: key [0-9a-f]{16} \(ed25519\)/);
    const invalid = await runCanopy(['bundle', 'build', policies({ 'bad.cedar': 'forbid (principal, action, resource) when { nope };' }), '-o', path.join(dir, 'x.tar.gz')]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('bad.cedar:1:45');
  });
});

describe('syncing from an HTTP store', () => {
  const storeDir = tempDir();
  let store: Awaited<ReturnType<typeof createBundleStore>>;
  let url = '';
  const publish = (bytes: Buffer) => writeFileSync(path.join(storeDir, 'policies.tar.gz'), bytes);

  beforeAll(async () => {
    store = await createBundleStore({ dir: storeDir, token: 's3cret', pollMs: 20 });
    url = `${await store.listen({ port: 0, host: '127.0.0.1' })}/policies.tar.gz`;
  });
  afterAll(async () => store.close());

  it('activates a new revision, refuses bad ones with the reason while the old one serves, and survives a restart with the store down', async () => {
    const stateDir = tempDir();
    const pipeline = new AdmissionPipeline();
    const sync = new BundleSync(new HttpBundleSource(url, { token: 's3cret' }), [ed.publicKey], pipeline, { stateDir, logger });
    expect(pipeline.ready).toBe(false);

    const v1 = await signedBundle('v1', new Date('2026-11-01T00:00:00Z'));
    publish(v1);
    await sync.check();
    expect(sync.status()).toMatchObject({ active: { revision: 'v1', from: 'store', sourceCommit: 'commit-v1' }, lastCheck: { result: 'activated' } });
    expect(pipeline.policySet?.revision).toBe('v1');
    expect(allowsAppConfig(pipeline)).toBe(true);

    await sync.check();
    expect(sync.status().lastCheck?.result).toBe('unchanged');

    const v2 = await signedBundle('v2', new Date('2026-11-02T00:00:00Z'), { 'no-app-config.cedar': NO_APP_CONFIG });
    const refusals: [string, Buffer, RegExp][] = [
      ['tampered', await tampered(v2, 'pod-security/baseline/privileged.cedar', '// gone'), /does not match its signed SHA-256/],
      ['wrong key', await signedBundle('v2', new Date('2026-11-02T00:00:00Z'), {}, stranger.privateKey), /which is not trusted/],
      ['unsigned', (await buildBundle(policies(), { revision: 'v2' })).bytes, /not signed/],
      ['older', await signedBundle('v0', new Date('2026-10-01T00:00:00Z')), /created 2026-10-01T00:00:00.000Z, before the active revision v1 .*refusing to roll back/],
    ];
    // A signed bundle whose policy does not validate: built from valid files, then one replaced and re-signed.
    const broken = await tampered((await buildBundle(policies(), { revision: 'v3', createdAt: new Date('2026-11-03T00:00:00Z') })).bytes, 'pod-security/baseline/privileged.cedar', '@id("x")\n@advice("y")\nforbid (principal, action, resource) when { resource.nope };\n');
    const contents = await readArchive(broken);
    const manifest = JSON.parse(contents.get('manifest.json')?.toString() ?? '{}') as { files: { path: string; sha256: string; size: number }[] };
    const { createHash } = await import('node:crypto');
    for (const f of manifest.files) {
      const data = contents.get(f.path) ?? Buffer.alloc(0);
      f.sha256 = createHash('sha256').update(data).digest('hex');
      f.size = data.length;
    }
    contents.set('manifest.json', Buffer.from(JSON.stringify({ ...manifest, revision: 'v3', createdAt: '2026-11-03T00:00:00.000Z' })));
    refusals.push(['invalid policy', (await signBundle(await writeArchive(contents), pemOf(ed.privateKey))).bytes, /baseline\/privileged\.cedar:3:.*attribute `nope`/]);

    for (const [what, bytes, reason] of refusals) {
      publish(bytes);
      await sync.check();
      expect(sync.status().lastCheck, what).toMatchObject({ result: 'refused' });
      expect(sync.status().lastCheck?.message, what).toMatch(reason);
      expect(pipeline.policySet?.revision, what).toBe('v1');
      expect(allowsAppConfig(pipeline), what).toBe(true);
    }

    publish(v2);
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('v2');
    expect(allowsAppConfig(pipeline)).toBe(false);

    // A restart while the store is down: the persisted bundle is re-verified and serves.
    const restarted = new AdmissionPipeline();
    const offline = new BundleSync(new HttpBundleSource('http://127.0.0.1:9/policies.tar.gz', { timeoutMs: 500 }), [ed.publicKey], restarted, { stateDir, logger, intervalMs: 60_000 });
    await offline.start();
    offline.stop();
    expect(restarted.policySet?.revision).toBe('v2');
    expect(offline.status()).toMatchObject({ active: { revision: 'v2', from: 'disk' }, lastCheck: { result: 'unreachable' } });
    expect(offline.status().lastCheck?.message).toContain('cannot be reached');
  });

  it('refuses a poll without the bearer token, and long-polls until a new bundle is published', async () => {
    const noToken = new HttpBundleSource(url);
    await expect(noToken.fetch(undefined)).rejects.toThrow('the store answered 401');
    publish(await signedBundle('lp1', new Date('2026-11-05T00:00:00Z')));
    const source = new HttpBundleSource(url, { token: 's3cret', longPollSeconds: 5 });
    const first = await source.fetch(undefined);
    expect(first.changed).toBe(true);
    const waiting = source.fetch(first.changed ? first.etag : undefined);
    const published = new Promise((resolve) => setTimeout(resolve, 300)).then(async () => publish(await signedBundle('lp2', new Date('2026-11-06T00:00:00Z'))));
    const next = await waiting;
    await published;
    expect(next.changed).toBe(true);
    if (next.changed) expect((await verifyBundle(next.bytes, [ed.publicKey])).manifest.revision).toBe('lp2');
  });

  it('reloads under steady load without failing a request', async () => {
    const stateDir = tempDir();
    publish(await signedBundle('load-1', new Date('2026-11-10T00:00:00Z')));
    const server = await startServer();
    const sync = new BundleSync(new HttpBundleSource(url, { token: 's3cret' }), [ed.publicKey], server.pipeline, { stateDir, logger });
    await sync.check();
    expect(server.pipeline.policySet?.revision).toBe('load-1');

    // The next revision is built and signed before the load (the publisher's work, not the webhook's):
    // built under the load it took seconds, and the reload then came after the load had ended.
    const next = await signedBundle('load-2', new Date('2026-11-11T00:00:00Z'), { 'no-app-config.cedar': NO_APP_CONFIG });
    const bodies = [12, 22, 28, 64, 16].map((n) => JSON.stringify(fixture(n)));
    const results: { status: number; ok: boolean; appConfigAllowed?: boolean }[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = w; !stop; i++) {
        const body = bodies[i % bodies.length] ?? '';
        const answer = await server.post('/validate', body);
        const parsed = answer.json() as { response?: { uid?: string; allowed?: boolean } };
        const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
        results.push({ status: answer.status, ok: parsed.response?.uid === uid && typeof parsed.response.allowed === 'boolean', ...(body === bodies[2] ? { appConfigAllowed: parsed.response?.allowed === true } : {}) });
      }
    };
    // Counted in requests, not seconds: a busy machine answers fewer per second, and the reload must come
    // with many requests before, during and after it however fast the machine is.
    const answered = async (count: number) => {
      while (results.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    const load = Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    await answered(150);
    publish(next);
    await sync.check();
    const atReload = results.length;
    await answered(atReload + 150);
    stop = true;
    await load;
    await server.close();

    expect(sync.status().active?.revision).toBe('load-2');
    expect(atReload).toBeGreaterThanOrEqual(150);
    expect(results.length - atReload).toBeGreaterThanOrEqual(150);
    expect(results.filter((r) => r.status !== 200 || !r.ok)).toEqual([]);
    const appConfig = results.filter((r) => r.appConfigAllowed !== undefined).map((r) => r.appConfigAllowed);
    expect(appConfig[0]).toBe(true);
    expect(appConfig.at(-1)).toBe(false);
  });
});

describe('syncing from an OCI registry', () => {
  it('pulls a bundle pushed as an OCI artifact, and the next revision', async () => {
    if (!registryAvailable()) throw new Error("this test needs Debian's docker-registry: apt-get install docker-registry");
    const registry = await startRegistry();
    try {
      const access = [{ host: registry.host, insecure: true }];
      const target = `oci://${registry.host}/canopy/policies:prod`;
      await pushBundle(await signedBundle('oci-1', new Date('2026-11-12T00:00:00Z')), target, access);
      const pipeline = new AdmissionPipeline();
      const sync = new BundleSync(new OciBundleSource(target, access), [ed.publicKey], pipeline, { stateDir: tempDir(), logger });
      await sync.check();
      expect(pipeline.policySet?.revision).toBe('oci-1');
      await sync.check();
      expect(sync.status().lastCheck?.result).toBe('unchanged');
      await pushBundle(await signedBundle('oci-2', new Date('2026-11-13T00:00:00Z'), { 'no-app-config.cedar': NO_APP_CONFIG }), target, access);
      await sync.check();
      expect(pipeline.policySet?.revision).toBe('oci-2');
      expect(allowsAppConfig(pipeline)).toBe(false);
    } finally {
      await registry.stop();
    }
  });

  it('canopy bundle push applies --insecure to a registry whatever the case of its name', async () => {
    if (!registryAvailable()) throw new Error("this test needs Debian's docker-registry: apt-get install docker-registry");
    const registry = await startRegistry();
    try {
      const file = path.join(tempDir(), 'bundle.tgz');
      writeFileSync(file, await signedBundle('cli-push', new Date('2026-11-14T00:00:00Z')));
      const port = registry.host.split(':')[1];
      const pushed = await runCanopy(['bundle', 'push', file, `oci://LOCALHOST:${port}/canopy/policies:cli`, '--insecure']);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.stderr).toMatch(/pushed .*bundle\.tgz to oci:\/\/LOCALHOST:\d+\/canopy\/policies:cli \(sha256:[0-9a-f]{64}\)/);
      const pipeline = new AdmissionPipeline();
      const target = `oci://${registry.host}/canopy/policies:cli`;
      await new BundleSync(new OciBundleSource(target, [{ host: registry.host, insecure: true }]), [ed.publicKey], pipeline, { stateDir: tempDir(), logger }).check();
      expect(pipeline.policySet?.revision).toBe('cli-push');
    } finally {
      await registry.stop();
    }
  });
});

describe('a local policy directory', () => {
  /** A watcher whose reads of the directory are counted, with a clock the test moves. */
  async function countedWatcher(dir: string, clock: { now: number }) {
    const pipeline = new AdmissionPipeline();
    const { loadPolicyDirectory, policyFilesOf } = await import('../src/policy/set/index.js');
    await pipeline.activate(await loadPolicyDirectory(dir));
    const counted = { reads: 0 };
    const read = (from: string) => {
      counted.reads += 1;
      return policyFilesOf(from);
    };
    const watcher = new PolicyDirectoryWatcher(dir, pipeline, logger, 60_000, { read, now: () => clock.now });
    await watcher.start();
    return { pipeline, watcher, counted };
  }

  it('reads its files again only when their names, sizes or times say one could have changed', async () => {
    const dir = policies();
    // An hour on, every file is older than the racy window: the files' stamps are trusted.
    const clock = { now: Date.now() + 3_600_000 };
    const { pipeline, watcher, counted } = await countedWatcher(dir, clock);
    expect(counted.reads).toBe(1);
    for (let check = 0; check < 3; check++) await watcher.check();
    expect(counted.reads).toBe(1);

    const file = path.join(dir, 'no-app-config.cedar');
    writeFileSync(file, NO_APP_CONFIG);
    await watcher.check();
    expect(counted.reads).toBe(2);
    expect(allowsAppConfig(pipeline)).toBe(false);
    await watcher.check();
    expect(counted.reads).toBe(2);

    // The same size, and the modification time put back (to the nanosecond): the change time still tells.
    const wholeSecond = Math.floor(Date.now() / 1000) - 60;
    utimesSync(file, wholeSecond, wholeSecond);
    await watcher.check();
    expect(counted.reads).toBe(3);
    const before = statSync(file, { bigint: true });
    writeFileSync(file, NO_APP_CONFIG.replace('"app-config"', '"app-confiG"'));
    utimesSync(file, wholeSecond, wholeSecond);
    const after = statSync(file, { bigint: true });
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
    await watcher.check();
    expect(counted.reads).toBe(4);
    expect(allowsAppConfig(pipeline)).toBe(true);

    // However still the files look, their content is compared once a minute.
    clock.now += 60_000;
    await watcher.check();
    expect(counted.reads).toBe(5);
    watcher.stop();
  });

  it('reads them every time while one of them is younger than its file system could tell apart', async () => {
    const dir = policies();
    const { pipeline, watcher, counted } = await countedWatcher(dir, { now: Date.now() });
    const revision = pipeline.policySet?.revision;
    await watcher.check();
    await watcher.check();
    watcher.stop();
    expect(counted.reads).toBe(3);
    expect(pipeline.policySet?.revision).toBe(revision);
  });

  it('reloads when its files change, and refuses a change that does not validate', async () => {
    const dir = policies();
    const pipeline = new AdmissionPipeline();
    const { loadPolicyDirectory } = await import('../src/policy/set/index.js');
    await pipeline.activate(await loadPolicyDirectory(dir));
    const watcher = new PolicyDirectoryWatcher(dir, pipeline, logger, 60_000);
    await watcher.start();
    const before = pipeline.policySet?.revision;
    writeFileSync(path.join(dir, 'no-app-config.cedar'), NO_APP_CONFIG);
    await watcher.check();
    expect(pipeline.policySet?.revision).not.toBe(before);
    expect(allowsAppConfig(pipeline)).toBe(false);
    const good = pipeline.policySet?.revision;
    writeFileSync(path.join(dir, 'no-app-config.cedar'), 'forbid (principal, action, resource) when { nope };');
    await watcher.check();
    watcher.stop();
    expect(watcher.status().lastReload).toMatchObject({ result: 'refused' });
    expect(pipeline.policySet?.revision).toBe(good);
  });
});
