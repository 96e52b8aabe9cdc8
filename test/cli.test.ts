// The `canopy` binary as a user runs it: exit codes, messages, certificates, and `serve` end to end.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCanopy, runCanopyProcess } from './helpers/cli.js';
import { FIXTURE_DIR, REPO_ROOT, STARTER_POLICIES } from './helpers/fixtures.js';
import { FakeKube } from './helpers/fake-kube.js';
import { policyDir } from './helpers/policy-dir.js';
import { httpsCall, killServers, startServe } from './helpers/serve.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-cli-'));
const FIXTURE_POD = `${FIXTURE_DIR}012-Pod-CREATE.json`;
const FIXTURE_NAMESPACE = `${FIXTURE_DIR}064-Namespace-CREATE.json`;

describe('canopy eval', () => {
  it('prints a readable verdict per file and the reason for a denial', async () => {
    const result = await runCanopy(['eval', FIXTURE_POD, FIXTURE_NAMESPACE]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`ALLOW ${FIXTURE_POD}: CREATE Pod team-a/web`);
    expect(result.stdout).toContain(`DENY  ${FIXTURE_NAMESPACE}: CREATE Namespace scratch`);
    expect(result.stdout).toContain('[baseline.namespace-team] Add a non-empty team label');
    expect(result.stdout).toContain('2 judged: 1 allowed, 1 denied; 0 unreadable');
  });

  it('reads standard input for "-"', async () => {
    const result = await runCanopyProcess(['eval', '--json', '-'], { input: readFileSync(FIXTURE_POD, 'utf8') });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ response: { allowed: true } });
  });

  it('ends quietly, exit 2, when the reader of its output stops reading before it finished (canopy eval … | head -1)', async () => {
    const proc = spawn(process.execPath, [`${REPO_ROOT}bin/canopy.js`, 'eval', ...Array.from({ length: 40 }, () => FIXTURE_NAMESPACE)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    // Like `head -1`: read the first chunk, then close the pipe.
    proc.stdout.once('data', () => proc.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(code).toBe(2);
  });

  it('exits 2 on unreadable input, says why, and still judges the other files', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'broken.json'), '{ not json');
    writeFileSync(path.join(dir, 'pod.json'), JSON.stringify({ kind: 'Pod', apiVersion: 'v1' }));
    const result = await runCanopyProcess(['eval', '--json', `${dir}/missing.json`, `${dir}/broken.json`, `${dir}/pod.json`, FIXTURE_POD]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${dir}/missing.json: cannot read: ENOENT`);
    expect(result.stderr).toContain(`${dir}/broken.json: not JSON:`);
    expect(result.stderr).toContain(`${dir}/pod.json: not a valid AdmissionReview v1: kind must be "AdmissionReview", got "Pod"`);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 when the policies cannot be used', async () => {
    const dir = policyDir({ 'bad.cedar': 'forbid (principal, action, resource) when { nope };' });
    const result = await runCanopy(['eval', '--policies', dir, FIXTURE_POD]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${dir}/bad.cedar:1:45: failed to parse policies from string: invalid variable: nope`);
  });
});

describe('the examples README points to', () => {
  it('allow the plain pod, deny the privileged one, and patch the one without resources', async () => {
    const examples = ['pod', 'privileged-pod', 'pod-without-resources'].map((name) => `examples/admission-reviews/${name}.json`);
    const result = await runCanopy(['eval', '--mutate', '--json', ...examples]);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as {
      mutation: { response: { patch?: string } };
      validation: { response: { allowed: boolean; status?: { message: string } } };
    });
    expect(lines.map((line) => line.validation.response.allowed)).toEqual([true, false, true]);
    expect(lines[1]?.validation.response.status?.message).toContain('[pod-security.baseline.privileged]');
    expect(lines.map((line) => line.mutation.response.patch !== undefined)).toEqual([false, false, true]);
    expect(result.code).toBe(1);
  });
});

describe('canopy eval --mutate', () => {
  const DEPLOYMENT = `${FIXTURE_DIR}021-Deployment-CREATE.json`;

  it('shows the patch, the mutated object, and the validation of the mutated object', async () => {
    const result = await runCanopy(['eval', '--mutate', DEPLOYMENT, FIXTURE_NAMESPACE]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`MUTATE ${DEPLOYMENT}: CREATE Deployment team-a/api: patched by [mutations.default-resources]`);
    expect(result.stdout).toContain('"path": "/spec/template/spec/containers/0/resources/limits/memory"');
    expect(result.stdout).toMatch(/mutated object:\n\{\n  "kind": "Deployment"/);
    expect(result.stdout).toContain(`ALLOW ${DEPLOYMENT}`);
    expect(result.stdout).toContain(`MUTATE ${FIXTURE_NAMESPACE}: CREATE Namespace scratch: no patch`);
    expect(result.stdout).toContain(`DENY  ${FIXTURE_NAMESPACE}`);
  });

  it('prints one JSON line per file with the mutation response, the object and the validation', async () => {
    const result = await runCanopy(['eval', '--mutate', '--json', DEPLOYMENT]);
    expect(result.code).toBe(0);
    const line = JSON.parse(result.stdout) as {
      mutation: { response: { patchType: string } };
      object: { spec: { template: { spec: { containers: { resources: unknown }[] } } } };
      validation: { response: { allowed: boolean } };
    };
    expect(line.mutation.response.patchType).toBe('JSONPatch');
    expect(line.object.spec.template.spec.containers[0]?.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    expect(line.validation.response.allowed).toBe(true);
  });
});

describe('canopy validate', () => {
  it('exits 0 for the starter policies and says what it found', async () => {
    const result = await runCanopy(['validate', STARTER_POLICIES]);
    expect(result.code).toBe(0);
    // The base set's 35 policies and 3 mutations, and each shipped pack (all on by default) with its rules by mode.
    expect(result.stdout).toMatch(
      /valid \(57 policies, 4 mutations; packs: best-practices \(8 enforce, 7 warn\), cloud-resources \(2 enforce\), kubevirt \(1 enforce\), models \(4 enforce, 1 mutating\); revision sha256:[0-9a-f]{16}\)/,
    );
  });

  it('exits 1 with file:line:column for a policy that does not validate', async () => {
    const dir = policyDir({
      'rules.cedar': '@id("x")\n@advice("y")\nforbid (principal, action, resource is k8s::Workload)\nwhen { resource.privileged };\n',
    });
    const result = await runCanopy(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${dir}/rules.cedar:4:8: for policy \`x\`, attribute \`privileged\` on entity type \`k8s::Workload\` not found`);
  });

  it('exits 1 with file:line:column for a policy Cedar proves can never match', async () => {
    const dir = policyDir({
      'ok.cedar': '@id("ok")\n@advice("y")\nforbid (principal, action, resource is k8s::Workload)\nwhen { resource.hostNetwork };\n',
      'rules.cedar': [
        '// A Namespace is never a Workload: this rule guards nothing.',
        '@id("never")',
        '@advice("y")',
        'forbid (principal, action, resource is k8s::Namespace)',
        'when { resource is k8s::Workload };',
        '',
        '@id("off")',
        '@advice("y")',
        'forbid (principal, action, resource is k8s::Workload)',
        'when { false };',
        '',
      ].join('\n'),
    });
    const result = await runCanopy(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${dir}: 2 policies can never match (Cedar proves their condition false for every valid request):`);
    expect(result.stderr).toContain(`${dir}/rules.cedar:2:1: for policy \`never\`, policy is impossible: the policy expression evaluates to false for all valid requests (it can never match`);
    expect(result.stderr).toContain(`${dir}/rules.cedar:7:1: for policy \`off\`, policy is impossible`);
    expect(result.stdout).not.toContain('valid (');
    expect(result.stdout).not.toContain('warning:');
  });

  it('prints other validator warnings and still exits 0', async () => {
    // A string mixing Latin and Cyrillic letters ("pаypal") is a warning, not an error.
    const dir = policyDir({
      'rules.cedar': '@id("mixed")\n@advice("y")\nforbid (principal, action, resource is k8s::Workload)\nwhen { resource.name == "p\u0430ypal" };\n',
    });
    const result = await runCanopy(['validate', dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`warning: ${dir}/rules.cedar:4:25: for policy \`mixed\`, string`);
    expect(result.stdout).toContain('contains mixed scripts');
    expect(result.stdout).toContain(`${dir}: valid (1 policy, 0 mutations`);
    expect(result.stderr).toBe('');
  });

  it('defaults to ./policies', async () => {
    const result = await runCanopyProcess(['validate'], { cwd: REPO_ROOT });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('./policies: valid');
  });
});

describe('canopy certs', () => {
  it('writes a CA and a serving certificate for the names given, prints the caBundle, and keeps the CA', async () => {
    const out = tempDir();
    const first = await runCanopy(['certs', '--out', out, '--dns', 'canopy.canopy-system.svc', '--dns', '10.0.0.7']);
    expect(first.code).toBe(0);
    const caPem = readFileSync(path.join(out, 'ca.crt'), 'utf8');
    expect(Buffer.from(first.stdout.trim(), 'base64').toString('utf8')).toBe(caPem);
    const ca = new X509Certificate(caPem);
    const serving = new X509Certificate(readFileSync(path.join(out, 'tls.crt')));
    expect(ca.ca).toBe(true);
    expect(serving.checkIssued(ca) && serving.verify(ca.publicKey)).toBe(true);
    expect(serving.subjectAltName).toBe('DNS:canopy.canopy-system.svc, IP Address:10.0.0.7');
    expect(serving.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(readFileSync(path.join(out, 'tls.key')))))).toBe(true);

    const second = await runCanopy(['certs', '--out', out, '--dns', 'other.example']);
    expect(second.stdout).toBe(first.stdout);
    expect(new X509Certificate(readFileSync(path.join(out, 'tls.crt'))).subjectAltName).toBe('DNS:other.example');
  });
});

describe('canopy --help', () => {
  it.each([
    [[], ['serve', 'eval', 'validate', 'fmt', 'test', 'impact', 'bundle', 'audit', 'certs']],
    [['audit'], ['--context', '--all-contexts', '--manifests', '--kinds', '--format', '--fail-on', '--apply-reports', '--decisions']],
    [['bundle'], ['build', 'sign', 'verify', 'inspect', 'serve', 'push']],
    [['serve'], ['mutating', '--port', '--host', '--policies', '--tls-cert', '--tls-key', '--state-dir', '--record-requests', '--bundle', '--bundle-pub', '--bootstrap-tls', '--drain-timeout', '--deadline', '--tls-client-ca', '--max-in-flight', '--admin-token', 'CANOPY_TLS_BOOTSTRAP_SECRET_NAME', 'A flag overrides the environment']],
    [['fmt'], ['--check', "Cedar's formatter"]],
    [['test'], ['--junit', '--coverage', '*.test.yaml']],
    [['impact'], ['--from', '--to', '--requests', '--policies-path', '--format', 'git revision']],
    [['eval'], ['--policies', '--json', '--mutate', 'exit 0 all allowed']],
    [['validate'], ['strict mode', 'exit 0 valid']],
    [['certs'], ['--out', '--dns', '--client', 'caBundle']],
  ])('canopy %j --help explains itself', async (command, words) => {
    const result = await (command.length === 0 ? runCanopyProcess : runCanopy)([...command, '--help']);
    expect(result.code).toBe(0);
    for (const word of words) expect(result.stdout).toContain(word);
  });
});

describe('canopy serve', () => {
  afterEach(killServers);

  const start = (args: string[]) => startServe(args);
  const getReady = async (port: number, ca: string) => httpsCall(port, ca, 'GET', '/readyz');

  it('generates a CA and certificate on first start, reuses them on the next, and stops cleanly on SIGTERM', async () => {
    const state = tempDir();
    const first = await start(['--state-dir', state]);
    expect(first.stderr()).toContain(`CA certificate ${state}/tls/ca.crt (generated)`);
    expect(first.stderr()).toMatch(
      /policy set sha256:[0-9a-f]{16} \(57 policies, 4 mutations; packs: best-practices \(8 enforce, 7 warn\), cloud-resources \(2 enforce\), kubevirt \(1 enforce\), models \(4 enforce, 1 mutating\); from \.\/policies\) is active; reloaded when its files change/,
    );
    expect(first.stderr()).toContain('try it: curl --cacert');
    const caPem = readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8');
    const ready = await getReady(first.port, caPem);
    expect(ready.status).toBe(200);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start(['--state-dir', state]);
    expect(second.stderr()).toContain(`CA certificate ${state}/tls/ca.crt (reused)`);
    expect(readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8')).toBe(caPem);
    expect((await getReady(second.port, caPem)).status).toBe(200);
  });

  it('serves a certificate given with --tls-cert and --tls-key', async () => {
    const out = tempDir();
    expect((await runCanopy(['certs', '--out', out, '--dns', 'localhost'])).code).toBe(0);
    const server = await start(['--tls-cert', `${out}/tls.crt`, '--tls-key', `${out}/tls.key`]);
    expect(server.stderr()).toContain(`serving certificate ${out}/tls.crt`);
    expect((await getReady(server.port, readFileSync(`${out}/ca.crt`, 'utf8'))).status).toBe(200);
  });

  it('reads its cluster from --config and --kubeconfig, and is ready only once the caches have synced', async () => {
    const kube = new FakeKube();
    kube.put('/api/v1/namespaces', { metadata: { name: 'payments', labels: { 'canopy.io/data-class': 'restricted' } } });
    kube.collection('/api/v1/nodes');
    kube.collection('/api/v1/pods');
    kube.collection('/apis/about.k8s.io/v1alpha1/clusterproperties');
    kube.hang.add('/apis/storage.k8s.io/v1/storageclasses');
    await kube.start();
    try {
      const config = path.join(tempDir(), 'canopy.yaml');
      writeFileSync(config, 'cluster:\n  name: de-1\n  region: eu-central-1\n  jurisdiction: DE\n');
      const state = tempDir();
      const server = await start(['--config', config, '--kubeconfig', kube.kubeconfig(), '--state-dir', state]);
      expect(server.stderr()).toContain(
        'cluster de-1 (from config): region eu-central-1 (from config), jurisdiction DE (from config); reading namespaces, nodes and storage classes from the API server; watching ClusterProperty objects for identity changes',
      );
      const ca = readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8');
      const waiting = await getReady(server.port, ca);
      expect(waiting.status).toBe(503);
      expect(JSON.parse(waiting.body)).toEqual({ status: 'not ready', reason: 'waiting for the storageclasses cache to sync' });
    } finally {
      await kube.stop();
    }
  });

  it('takes the cluster identity from flags too, over the config file', async () => {
    const config = path.join(tempDir(), 'canopy.yaml');
    writeFileSync(config, 'cluster:\n  name: from-file\n  region: eu-west-3\n  jurisdiction: FR\n');
    const server = await start(['--config', config, '--cluster-name', 'from-flag', '--jurisdiction', 'de', '--state-dir', tempDir()]);
    expect(server.stderr()).toContain('cluster from-flag (from config): region eu-west-3 (from config), jurisdiction DE (from config); not connected to a cluster');
  });

  it('refuses to start with a config it cannot use', async () => {
    const config = path.join(tempDir(), 'canopy.yaml');
    writeFileSync(config, 'cluster:\n  jurisdiction: Germany\n');
    const result = await runCanopyProcess(['serve', '--port', '0', '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`refusing to start: ${config}: cluster.jurisdiction must be an ISO 3166-1 alpha-2 code (DE, FR, US) or EU`);
  });

  it('refuses to start on an unknown config key or a value of the wrong type, naming it', async () => {
    const config = path.join(tempDir(), 'canopy.yaml');
    writeFileSync(config, 'prot: 8443\n');
    const unknown = await runCanopyProcess(['serve', '--port', '0', '--config', config]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`refusing to start: ${config}: prot: unknown key (the config takes port, host,`);
    // What a Service named canopy injects into its pods when service links are on.
    const injected = await runCanopyProcess(['serve', '--port', '0'], { env: { CANOPY_PORT: 'tcp://10.96.0.12:443' } });
    expect(injected.code).toBe(1);
    expect(injected.stderr).toContain('refusing to start: CANOPY_PORT: port must be a whole number from 0 to 65535 (got "tcp://10.96.0.12:443")');
  });

  it('refuses to start with policies that do not validate', async () => {
    const dir = policyDir({ 'bad.cedar': '@id("x")\n@advice("y")\nforbid (principal, action, resource) when { resource.nope };\n' });
    const result = await runCanopyProcess(['serve', '--port', '0', '--policies', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refusing to start');
    expect(result.stderr).toContain(`${dir}/bad.cedar:3:`);
  });
});
