// A bundle's audience and sanity, through the HTTP store `canopy bundle serve` runs: a bundle is taken
// only by webhooks of its channel and clusters its selector matches; one dated in the future is
// refused and cannot poison anti-rollback, across restarts; one whose own tests fail, an empty set and
// a set that denies the canary requests are refused, unless the signed manifest says it means it.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, BundleSync, createBundleStore, HttpBundleSource, inspectBundle, signBundle, verifyBundle, type BuildOptions } from '../src/sources/bundle/index.js';
import { parseCanopyConfig } from '../src/operations/config/parse.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import type { ClusterIdentity } from '../src/kubernetes/objects/fleet.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { runCanopy } from './helpers/cli.js';
import { copyPoliciesForBundles, STARTER_POLICIES } from './helpers/fixtures.js';
import { logSink } from './helpers/log-sink.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-audience-'));
const logger = createLogger(logSink().stream);
const pemOf = (key: KeyObject) => key.export({ type: key.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString();
const ed = generateKeyPairSync('ed25519');

const review = (file: string) => JSON.parse(readFileSync(path.join(STARTER_POLICIES, 'tests/reviews', file), 'utf8')) as unknown;
const allowsPrivilegedPod = (pipeline: AdmissionPipeline) => pipeline.review(review('privileged-pod.json')).decision.allowed;
const allowsPod = (pipeline: AdmissionPipeline) => pipeline.review(review('pod.json')).decision.allowed;

/** The starter policies, with files replaced or added, and some removed. */
function policies(extra: Record<string, string> = {}, remove: string[] = []): string {
  const dir = tempDir();
  copyPoliciesForBundles(dir);
  for (const file of remove) rmSync(path.join(dir, file));
  for (const [file, text] of Object.entries(extra)) writeFileSync(path.join(dir, file), text);
  return dir;
}

/** Only the schema, and these files. */
function bare(files: Record<string, string> = {}): string {
  const dir = tempDir();
  cpSync(path.join(STARTER_POLICIES, 'schema.cedarschema'), path.join(dir, 'schema.cedarschema'));
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(dir, file), text);
  return dir;
}

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

async function signed(dir: string, revision: string, createdAt: Date, options: BuildOptions = {}): Promise<Buffer> {
  const built = await buildBundle(dir, { revision, createdAt, ...options });
  return (await signBundle(built.bytes, pemOf(ed.privateKey))).bytes;
}

// A relaxed set: the privileged-container rule (and its tests) gone.
const RELAXED = () => policies({}, ['pod-security/baseline/privileged.cedar', 'pod-security/baseline/privileged.test.yaml']);
const DENY_ALL = '@id("lockdown.deny-all")\n@advice("Nothing may change.")\nforbid (principal, action, resource);\n';
const IDENTITY: ClusterIdentity = { name: 'prod-eu-1', region: 'eu-west-1', jurisdiction: 'DE', provider: 'aws', environment: 'prod', labels: { tier: 'critical' } };

describe('bundle audience and sanity, through the bundle store', () => {
  const storeDir = tempDir();
  let store: Awaited<ReturnType<typeof createBundleStore>>;
  let url = '';
  const publish = (bytes: Buffer) => writeFileSync(path.join(storeDir, 'policies.tar.gz'), bytes);
  const syncFor = (pipeline: AdmissionPipeline, options: { stateDir?: string; channel?: string; identity?: () => ClusterIdentity } = {}) =>
    new BundleSync(new HttpBundleSource(url, { token: 's3cret' }), [ed.publicKey], pipeline, {
      stateDir: options.stateDir ?? tempDir(),
      logger,
      intervalMs: 60_000,
      ...(options.channel ? { channel: options.channel } : {}),
      ...(options.identity ? { identity: options.identity } : {}),
    });

  beforeAll(async () => {
    store = await createBundleStore({ dir: storeDir, token: 's3cret', pollMs: 20 });
    url = `${await store.listen({ port: 0, host: '127.0.0.1' })}/policies.tar.gz`;
  });
  afterAll(async () => store.close());

  it('a prod webhook refuses a newer dev-channel bundle swapped into its store, and a privileged Pod stays denied', async () => {
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline, { channel: 'prod' });
    publish(await signed(policies(), 'prod-1', minutesAgo(30), { audience: { channel: 'prod' } }));
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('prod-1');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);

    publish(await signed(RELAXED(), 'dev-7', minutesAgo(20), { audience: { channel: 'dev' } }));
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toContain('revision dev-7 is not for this webhook: the bundle is for channel "dev", and this webhook takes only channel "prod" bundles');
    expect(pipeline.policySet?.revision).toBe('prod-1');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);

    // A bundle that names no channel is not a prod bundle either.
    publish(await signed(RELAXED(), 'anyone-8', minutesAgo(15)));
    await sync.check();
    expect(sync.status().lastCheck?.message).toContain('the bundle names no channel, and this webhook takes only channel "prod" bundles');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);

    // A webhook without a channel does not take a channel's bundle.
    const unchanneled = new AdmissionPipeline();
    const other = syncFor(unchanneled);
    publish(await signed(policies(), 'prod-2', minutesAgo(10), { audience: { channel: 'prod' } }));
    await other.check();
    expect(other.status().lastCheck?.message).toContain('this webhook has no bundle.channel');
    expect(unchanneled.policySet).toBeUndefined();

    // The next prod bundle is taken.
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('prod-2');
  });

  it('a bundle whose cluster selector does not match this cluster is refused, and taken once it matches', async () => {
    let identity: ClusterIdentity = IDENTITY;
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline, { channel: 'prod', identity: () => identity });
    publish(await signed(policies(), 'eu-1', minutesAgo(30), { audience: { channel: 'prod', clusters: { matchLabels: { region: 'eu-west-1', tier: 'critical' } } } }));
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('eu-1');

    const usOnly = { channel: 'prod', clusters: { matchLabels: { jurisdiction: 'US' }, matchExpressions: [{ key: 'environment', operator: 'In' as const, values: ['prod'] }] } };
    publish(await signed(RELAXED(), 'us-1', minutesAgo(20), { audience: usOnly }));
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toContain('revision us-1 is not for this webhook: the bundle is for other clusters: cluster prod-eu-1 does not match jurisdiction=US (the cluster has jurisdiction=DE)');
    expect(pipeline.policySet?.revision).toBe('eu-1');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);

    const notCritical = { channel: 'prod', clusters: { matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['critical'] }] } };
    publish(await signed(RELAXED(), 'relaxed-1', minutesAgo(15), { audience: notCritical }));
    await sync.check();
    expect(sync.status().lastCheck?.message).toContain('does not match tier NotIn (critical) (the cluster has tier=critical)');

    // The selector is judged against the identity as it is now: the same bundle in the store is taken once the cluster matches it.
    publish(await signed(policies(), 'us-2', minutesAgo(10), { audience: usOnly }));
    await sync.check();
    expect(sync.status().lastCheck?.message).toContain('revision us-2 is not for this webhook');
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    identity = { ...IDENTITY, name: 'prod-us-1', jurisdiction: 'US', region: 'us-east-1' };
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'activated' });
    expect(pipeline.policySet?.revision).toBe('us-2');

    // A webhook that cannot tell its cluster does not take a bundle for selected clusters.
    const blind = new AdmissionPipeline();
    const unknown = syncFor(blind, { channel: 'prod' });
    await unknown.check();
    expect(unknown.status().lastCheck?.message).toContain('does not know its cluster identity');
  });

  it('a bundle dated 2099 is refused, and legitimate bundles are still taken, after a restart too', async () => {
    const stateDir = tempDir();
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline, { stateDir });
    publish(await signed(policies(), 'legit-1', minutesAgo(60)));
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('legit-1');

    const future = await signed(RELAXED(), 'from-2099', new Date('2099-01-01T00:00:00Z'));
    publish(future);
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toMatch(/revision from-2099 was created 2099-01-01T00:00:00.000Z, more than 300 s in the future/);
    expect(pipeline.policySet?.revision).toBe('legit-1');

    publish(await signed(policies(), 'legit-2', minutesAgo(30)));
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('legit-2');

    // A restart: the persisted bundle is legit-2, and the next legitimate one is taken.
    const restarted = new AdmissionPipeline();
    const again = syncFor(restarted, { stateDir });
    await again.start();
    again.stop();
    expect(again.status().active).toMatchObject({ revision: 'legit-2' });
    publish(await signed(policies(), 'legit-3', minutesAgo(10)));
    await again.check();
    expect(restarted.policySet?.revision).toBe('legit-3');

    // A 2099 bundle persisted on disk (by a webhook before this check) is refused at start and does not block later bundles.
    const poisoned = tempDir();
    mkdirSync(path.join(poisoned, 'bundle'), { recursive: true });
    writeFileSync(path.join(poisoned, 'bundle', 'active.tar.gz'), future);
    const fresh = new AdmissionPipeline();
    const third = syncFor(fresh, { stateDir: poisoned });
    await third.start();
    third.stop();
    expect(third.status().active).toMatchObject({ revision: 'legit-3', from: 'store' });
    expect(fresh.policySet?.revision).toBe('legit-3');
  });

  it('a bundle carries its policy tests, and one whose own tests fail is refused, naming the case', async () => {
    const good = await signed(policies(), 'tested-1', minutesAgo(30));
    const files = (await verifyBundle(good, [ed.publicKey])).files;
    expect([...files.keys()]).toEqual(expect.arrayContaining(['pod-security/baseline/privileged.test.yaml', 'baseline/namespace-team.test.yaml', 'mutations/default-resources.test.yaml', 'tests/reviews/pod.json', 'tests/reviews/pod-without-resources.json']));
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline);
    publish(good);
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('tested-1');

    // The privileged rule gutted, its tests kept: they fail.
    const gutted = policies({ 'pod-security/baseline/privileged.cedar': '@id("pod-security.baseline.privileged")\n@advice("x")\nforbid (principal, action, resource is k8s::Workload) when { false };\n' });
    publish(await signed(gutted, 'gutted-1', minutesAgo(20)));
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toMatch(/^revision gutted-1 fails its own tests \(\d+ of \d+ cases\): "the upstream fixture restricted\/fail\/privileged0\.yaml is denied" \(pod-security\/baseline\/privileged\.test\.yaml:\d+\): expected denied \[pod-security\.baseline\.privileged, pod-security\.restricted\.privilege-escalation\], got \[pod-security\.restricted\.privilege-escalation\]/);
    expect(pipeline.policySet?.revision).toBe('tested-1');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);
  });

  it('an empty policy set is refused, unless its manifest says allowEmpty', async () => {
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline);
    publish(await signed(policies(), 'full-1', minutesAgo(30)));
    await sync.check();

    publish(await signed(bare(), 'empty-1', minutesAgo(20)));
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toContain('revision empty-1 has no validating policies: refusing an empty set');
    expect(pipeline.policySet?.revision).toBe('full-1');
    expect(allowsPrivilegedPod(pipeline)).toBe(false);

    const meant = await signed(bare(), 'empty-2', minutesAgo(10), { allowEmpty: true });
    expect((await inspectBundle(meant)).manifest.allowEmpty).toBe(true);
    publish(meant);
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('empty-2');
  });

  it('a deny-everything policy set is refused for denying the canary requests, unless its manifest says allowCanaryDenials', async () => {
    const pipeline = new AdmissionPipeline();
    const sync = syncFor(pipeline);
    publish(await signed(policies(), 'normal-1', minutesAgo(30)));
    await sync.check();

    publish(await signed(bare({ 'lockdown.cedar': DENY_ALL }), 'lockdown-1', minutesAgo(20)));
    await sync.check();
    expect(sync.status().lastCheck).toMatchObject({ result: 'refused' });
    expect(sync.status().lastCheck?.message).toContain('revision lockdown-1 denies the canary request ConfigMap default/canopy-canary (denied by lockdown.deny-all)');
    expect(pipeline.policySet?.revision).toBe('normal-1');
    expect(allowsPod(pipeline)).toBe(true);

    publish(await signed(bare({ 'lockdown.cedar': DENY_ALL }), 'lockdown-2', minutesAgo(10), { allowCanaryDenials: true }));
    await sync.check();
    expect(pipeline.policySet?.revision).toBe('lockdown-2');
    expect(allowsPod(pipeline)).toBe(false);
  });

  it('configured canaries replace the built-in ones', async () => {
    const pipeline = new AdmissionPipeline();
    const sync = new BundleSync(new HttpBundleSource(url, { token: 's3cret' }), [ed.publicKey], pipeline, {
      stateDir: tempDir(),
      logger,
      canaries: [{ object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'no-team' } } }],
    });
    publish(await signed(policies(), 'ns-1', minutesAgo(10)));
    await sync.check();
    expect(sync.status().lastCheck?.message).toContain('denies the canary request Namespace no-team (denied by baseline.namespace-team)');
  });
});

describe('bundle audience settings and the command line', () => {
  it('parses bundle.channel, bundle.maxClockSkewSeconds and bundle.canaries', () => {
    const config = parseCanopyConfig(
      { bundle: { url: 'https://store/p.tar.gz', publicKeys: ['x'], channel: 'prod', maxClockSkewSeconds: 60, canaries: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } }, { object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }, namespaceLabels: { team: 'a' } }] } },
      'test',
    );
    expect(config.bundle).toMatchObject({ channel: 'prod', maxClockSkewSeconds: 60, canaries: [{ object: { kind: 'ConfigMap' } }, { object: { kind: 'Pod' }, namespaceLabels: { team: 'a' } }] });
    expect(parseCanopyConfig({ bundle: { url: 'https://store/p.tar.gz' } }, 'test').bundle?.maxClockSkewSeconds).toBe(300);
    expect(() => parseCanopyConfig({ bundle: { url: 'https://store/p.tar.gz', canaries: [{ name: 'x' }] } }, 'test')).toThrow('bundle.canaries[0] must be a Kubernetes object');
  });

  it('canopy bundle build --channel --cluster-selector --allow-empty --allow-canary-denials signs them into the manifest', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.tar.gz');
    const built = await runCanopy(['bundle', 'build', STARTER_POLICIES, '-o', file, '--revision', 'r1', '--channel', 'prod', '--cluster-selector', 'region=eu-west-1,tier=critical', '--allow-empty', '--allow-canary-denials']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/built .*b\.tar\.gz: revision r1, \d+ files \(\d+ test files\), for channel prod, clusters/);
    const { manifest } = await inspectBundle(readFileSync(file));
    expect(manifest).toMatchObject({ audience: { channel: 'prod', clusters: { matchLabels: { region: 'eu-west-1', tier: 'critical' } } }, allowEmpty: true, allowCanaryDenials: true });
    const inspected = await runCanopy(['bundle', 'inspect', file]);
    expect(inspected.stdout).toContain('audience:  channel prod, clusters {"matchLabels":{"region":"eu-west-1","tier":"critical"}}');
    const yamlSelector = await runCanopy(['bundle', 'build', STARTER_POLICIES, '-o', file, '--cluster-selector', '{matchExpressions: [{key: jurisdiction, operator: In, values: [DE, FR]}]}']);
    expect(yamlSelector.code, yamlSelector.stderr).toBe(0);
    expect((await inspectBundle(readFileSync(file))).manifest.audience).toEqual({ clusters: { matchExpressions: [{ key: 'jurisdiction', operator: 'In', values: ['DE', 'FR'] }] } });
    const bad = await runCanopy(['bundle', 'build', STARTER_POLICIES, '-o', file, '--cluster-selector', '{matchExpressions: [{key: region, operator: Near}]}']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('matchExpressions');
  });
});
