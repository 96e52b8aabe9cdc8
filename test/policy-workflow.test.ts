// The policy-as-code workflow a security team runs on a pull request: fmt, test, coverage, impact,
// and the request recording that impact replays.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runPolicyTests } from '../src/policy/tests/index.js';
import { REDACTED } from '../src/operations/recording/index.js';
import { runCanopy } from './helpers/cli.js';
import { FIXTURE_DIR, PACK_MUTATION_IDS, PACK_POLICY_IDS, SHIPPED_MUTATION_IDS, SHIPPED_POLICY_IDS, STARTER_POLICIES, fixture } from './helpers/fixtures.js';
import { startServer } from './helpers/https.js';
import { policyDir } from './helpers/policy-dir.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-workflow-'));

/** A copy of the shipped policies, changed by `edit`. */
function changedPolicies(edit: (dir: string) => void): string {
  const dir = tempDir();
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  edit(dir);
  return dir;
}


const FORBID = '@id("a")\n@advice("x")\nforbid (principal, action, resource is k8s::Workload) when { resource.hostNetwork };\n';

describe('canopy fmt', () => {
  it('finds the shipped policies formatted', async () => {
    const result = await runCanopy(['fmt', '--check', STARTER_POLICIES]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('policy files are formatted');
  });

  it('--check lists an unformatted file and exits 1; fmt then rewrites it', async () => {
    const formatted = '@id("a")\n@advice("x")\nforbid (\n  principal,\n  action,\n  resource is k8s::Workload\n)\nwhen { resource.hostNetwork };\n';
    const dir = policyDir({ 'ok.cedar': formatted });
    const messy = '@id("b")\n@advice("y")\nforbid(principal,action,resource is k8s::Workload)when{resource.hostPID};\n';
    writeFileSync(path.join(dir, 'messy.cedar'), messy);
    const check = await runCanopy(['fmt', '--check', dir]);
    expect(check.code).toBe(1);
    expect(check.stdout).toBe(`not formatted: ${dir}/messy.cedar\n`);
    expect(readFileSync(path.join(dir, 'messy.cedar'), 'utf8')).toBe(messy);

    const format = await runCanopy(['fmt', dir]);
    expect(format.code).toBe(0);
    expect(readFileSync(path.join(dir, 'messy.cedar'), 'utf8')).toBe(formatted.replace('"a"', '"b"').replace('"x"', '"y"').replace('hostNetwork', 'hostPID'));
    expect(readFileSync(path.join(dir, 'ok.cedar'), 'utf8')).toBe(formatted);
    expect((await runCanopy(['fmt', '--check', dir])).code).toBe(0);
  });
});

describe('canopy test', () => {
  it('passes on the shipped policies, and every shipped policy has a matching and a non-matching case', async () => {
    const result = await runCanopy(['test', STARTER_POLICIES]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\d+ cases in \d+ files: \d+ passed, 0 failed/);
    const suite = await runPolicyTests(STARTER_POLICIES, { coverage: true });
    expect(suite.coverage?.map((c) => c.id).sort()).toEqual([...SHIPPED_POLICY_IDS, ...SHIPPED_MUTATION_IDS, ...PACK_POLICY_IDS, ...PACK_MUTATION_IDS].sort());
    for (const entry of suite.coverage ?? []) {
      expect(entry.matched, `${entry.id} matched`).toBeGreaterThan(0);
      expect(entry.notMatched, `${entry.id} not matched`).toBeGreaterThan(0);
    }
  });

  it('fails with a clear difference on a wrong expectation, and writes JUnit XML', async () => {
    const dir = policyDir({
      'a.cedar': FORBID,
      'a.test.yaml': [
        'cases:',
        '  - name: host network is denied',
        '    object: {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}, spec: {hostNetwork: true, containers: [{name: c, image: i}]}}',
        '    expect: {allowed: false, denied: [a]}',
        '  - name: wrongly expected to be allowed',
        '    object: {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}, spec: {hostNetwork: true, containers: [{name: c, image: i}]}}',
        '    expect: {allowed: true, warnings: [a]}',
      ].join('\n'),
    });
    const junit = path.join(tempDir(), 'junit.xml');
    const result = await runCanopy(['test', dir, '--junit', junit]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✓ host network is denied');
    expect(result.stdout).toContain('✗ wrongly expected to be allowed');
    expect(result.stdout).toContain('a.test.yaml:5: expected allowed, got denied');
    expect(result.stdout).toContain('a.test.yaml:5: expected warnings [a], got [none]');
    expect(result.stdout).toContain('got: denied; denied by [a]; warnings [none]; mutations [none]');
    expect(result.stdout).toContain('2 cases in 1 files: 1 passed, 1 failed');
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuites name="canopy test" tests="2" failures="1" errors="0">');
    expect(xml).toMatch(/<testcase classname="a.test.yaml" name="wrongly expected to be allowed">\s*<failure message="expected allowed, got denied">/);
  });

  it('--coverage names the policies no case matches and exits 1, also in JUnit XML', async () => {
    const dir = policyDir({
      'a.cedar': FORBID,
      'b.cedar': '@id("b")\n@advice("y")\nforbid (principal, action, resource is k8s::Workload) when { resource.hostPID };\n',
      'c.cedar': '@id("c")\n@advice("z")\nforbid (principal, action, resource is k8s::Workload) when { resource.hostIPC };\n',
      'a.test.yaml': [
        'cases:',
        '  - name: a ConfigMap is no workload',
        '    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: n}}',
        '    expect: {allowed: true}',
        '  - name: a plain pod is in the scope of all three and matches none',
        '    object: {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}, spec: {containers: [{name: c, image: i}]}}',
        '    expect: {allowed: true}',
        '  - name: host IPC is denied',
        '    object: {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}, spec: {hostIPC: true, containers: [{name: c, image: i}]}}',
        '    expect: {allowed: false, denied: [c]}',
      ].join('\n'),
    });
    // Every case passes: only coverage fails the run.
    const junit = path.join(tempDir(), 'junit.xml');
    const result = await runCanopy(['test', dir, '--coverage', '--junit', junit]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('a (policy): 0 / 2  NO MATCHING CASE');
    expect(result.stdout).toContain('c (policy): 1 / 1\n');
    expect(result.stdout).toContain('✗ no case matches 2 policies: a, b (add a case where each denies, warns, audits or mutates)');
    expect(result.stdout).toContain('3 cases in 1 files: 3 passed, 0 failed; 2 policies without a matching case');
    expect(result.stderr).toContain('canopy test: --coverage: no case matches a, b');
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuites name="canopy test" tests="6" failures="2" errors="0">');
    expect(xml).toMatch(/<testsuite name="coverage" tests="3" failures="2">\s*<testcase classname="coverage" name="a">\s*<failure message="no case matches policy a \(2 in its scope, none matching\)">/);
    expect(xml).toContain('<testcase classname="coverage" name="c"></testcase>');

    // Without --coverage the same suite passes; with a case for a and b, --coverage passes too.
    expect((await runCanopy(['test', dir])).code).toBe(0);
    writeFileSync(
      path.join(dir, 'b.test.yaml'),
      [
        'cases:',
        '  - name: host network and host PID are denied',
        '    object: {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: n}, spec: {hostNetwork: true, hostPID: true, containers: [{name: c, image: i}]}}',
        '    expect: {allowed: false, denied: [a, b]}',
      ].join('\n'),
    );
    const covered = await runCanopy(['test', dir, '--coverage']);
    expect(covered.code).toBe(0);
    expect(covered.stdout).toContain('every policy is matched by at least one case');
  });

  it('--coverage on a policy directory copied on its own: its tests read only files inside it', async () => {
    const copy = path.join(tempDir(), 'policy-repo');
    cpSync(STARTER_POLICIES, copy, { recursive: true });
    const result = await runCanopy(['test', copy, '--coverage']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('every policy is matched by at least one case');
    expect(result.stdout).toMatch(/\d+ cases in \d+ files: \d+ passed, 0 failed\n$/);
    // The cases that read an AdmissionReview file (tests/reviews/), from the copy, all pass there.
    const readingReviews = (readdirSync(copy, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.test.yaml') && !file.startsWith('examples/'))
      .flatMap((file) => ((parse(readFileSync(path.join(copy, file), 'utf8')) as { cases: { name: string; review?: string }[] }).cases).filter((c) => c.review));
    expect(readingReviews.map((c) => c.name)).toContain('a container without resources gets the defaults');
    for (const testCase of readingReviews) expect(result.stdout).toContain(`✓ ${testCase.name}\n`);
  });

  it('refuses a case whose review file is outside the policy directory, naming the case and its file', async () => {
    const outside = tempDir();
    const dir = path.join(outside, 'policies');
    cpSync(policyDir({ 'a.cedar': FORBID }), dir, { recursive: true });
    cpSync(path.join(STARTER_POLICIES, 'tests/reviews/pod.json'), path.join(outside, 'pod.json'));
    cpSync(path.join(STARTER_POLICIES, 'tests/reviews/pod.json'), path.join(dir, 'reviews/pod.json'));
    writeFileSync(
      path.join(dir, 'a.test.yaml'),
      [
        'cases:',
        '  - name: a review inside',
        '    review: reviews/pod.json',
        '    expect: {allowed: true}',
        '  - name: a review outside',
        '    review: ../pod.json',
        '    expect: {allowed: true}',
        '  - name: an absolute path outside',
        `    review: ${path.join(outside, 'pod.json')}`,
        '    expect: {allowed: true}',
      ].join('\n'),
    );
    const result = await runCanopy(['test', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✓ a review inside');
    expect(result.stdout).toContain(`✗ ${dir}/a.test.yaml:5:1: case "a review outside": review ../pod.json is outside the policy directory ${dir}`);
    expect(result.stdout).toContain(`✗ ${dir}/a.test.yaml:8:1: case "an absolute path outside": review ${path.join(outside, 'pod.json')} is outside the policy directory`);
    expect(result.stdout).toContain('1 cases in 1 files: 1 passed, 0 failed, 2 unreadable');
  });

  it('reports an unreadable case with its line and fails', async () => {
    const dir = policyDir({ 'a.cedar': FORBID, 'a.test.yaml': 'cases:\n  - name: no expectation\n    object: {kind: Pod}\n' });
    const result = await runCanopy(['test', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`✗ ${dir}/a.test.yaml:2:1: case "no expectation": expect must say at least one of`);
  });
});

describe('canopy impact', () => {
  const requests = FIXTURE_DIR;

  it('reports exactly the requests a mode change flips, on the real fixtures', async () => {
    const to = changedPolicies((dir) => {
      const file = path.join(dir, 'baseline/namespace-team.cedar');
      writeFileSync(file, readFileSync(file, 'utf8').replace('@severity("medium")', '@severity("medium")\n@mode("warn")'));
    });
    const result = await runCanopy(['impact', '--from', STARTER_POLICIES, '--to', to, '--requests', requests, '--format', 'json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { replayed: number; newlyAllowed: number; newlyDenied: number; changes: { uid: string; changed: string[] }[] };
    expect(report.replayed).toBe(88);
    expect(report.newlyAllowed).toBe(2);
    expect(report.newlyDenied).toBe(0);
    expect(report.changes.map((c) => c.uid).sort()).toEqual([fixture(63).request.uid, fixture(64).request.uid].sort());
  });

  it('reports a new rule as newly denied requests, in Markdown for a pull request', async () => {
    const to = changedPolicies((dir) =>
      writeFileSync(
        path.join(dir, 'baseline/no-app-config.cedar'),
        '@id("example.no-app-config")\n@advice("Name it something else.")\nforbid (principal, action == k8s::Action::"create", resource is k8s::Resource)\nwhen { resource.kind == "ConfigMap" && resource.name == "app-config" };\n',
      ),
    );
    const result = await runCanopy(['impact', '--from', STARTER_POLICIES, '--to', to, '--requests', requests]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('88 requests replayed, **2 outcomes change**: 2 newly denied, 0 newly allowed');
    expect(result.stdout).toContain('| CREATE ConfigMap team-a/app-config<br>`027-ConfigMap-CREATE.json` | allowed | denied by `example.no-app-config` | decision, denied |');
    expect(result.stdout).toContain('`028-ConfigMap-CREATE.json`');
  });

  it('reports changed patches when mutation data changes', async () => {
    const to = changedPolicies((dir) => {
      const file = path.join(dir, 'data/resources.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('memory: 512Mi', 'memory: 1Gi'));
    });
    const result = await runCanopy(['impact', '--from', STARTER_POLICIES, '--to', to, '--requests', requests, '--format', 'json']);
    const report = JSON.parse(result.stdout) as { changes: { source: string; changed: string[] }[] };
    // The requests whose containers lack a memory limit (see mutate-fixtures.test.ts); 81 and 82 lack
    // it too, but only scale an existing Deployment, so they get no patch under either data.
    expect(report.changes.map((c) => Number(path.basename(c.source).slice(0, 3)))).toEqual([21, 22, 31, 32, 43, 44, 45, 46, 47, 48, 55, 56, 69, 70, 71, 72]);
    expect(new Set(report.changes.flatMap((c) => c.changed))).toEqual(new Set(['patch']));
  });

  it('compares git revisions of the policy repository', async () => {
    const repo = tempDir();
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
    git('init', '-q');
    git('config', 'user.email', 'test@example.invalid');
    git('config', 'user.name', 'test');
    cpSync(STARTER_POLICIES, path.join(repo, 'policies'), { recursive: true });
    git('add', '-A');
    git('commit', '-qm', 'policies');
    const file = path.join(repo, 'policies/baseline/namespace-team.cedar');
    writeFileSync(file, readFileSync(file, 'utf8').replace('@severity("medium")', '@severity("medium")\n@mode("audit")'));
    git('commit', '-qam', 'audit only');
    const result = await runCanopy(['impact', '--from', 'HEAD~1', '--to', 'git:HEAD', '--requests', requests], { cwd: repo });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/`HEAD~1 \([0-9a-f]{12}\)` → `HEAD \([0-9a-f]{12}\)`: 88 requests replayed, \*\*2 outcomes change\*\*: 0 newly denied, 2 newly allowed/);
  });

  it('compares bundles', async () => {
    const dir = tempDir();
    const to = changedPolicies((policies) => {
      const rule = path.join(policies, 'baseline/namespace-team.cedar');
      writeFileSync(rule, readFileSync(rule, 'utf8').replace('@severity("medium")', '@severity("medium")\n@mode("warn")'));
    });
    expect((await runCanopy(['bundle', 'build', STARTER_POLICIES, '-o', `${dir}/old.tar.gz`, '--revision', 'r1'])).code).toBe(0);
    expect((await runCanopy(['bundle', 'build', to, '-o', `${dir}/new.tar.gz`, '--revision', 'r2'])).code).toBe(0);
    const result = await runCanopy(['impact', '--from', `${dir}/old.tar.gz`, '--to', `${dir}/new.tar.gz`, '--requests', requests]);
    expect(result.stdout).toContain('`old.tar.gz (revision r1)` → `new.tar.gz (revision r2)`: 88 requests replayed, **2 outcomes change**');
  });

  it('says so when a source is neither a directory nor a revision', async () => {
    const result = await runCanopy(['impact', '--from', 'no-such-thing', '--to', STARTER_POLICIES, '--requests', requests]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"no-such-thing" is neither a directory nor a revision');
  });
});

describe('recording requests for impact', () => {
  it('records each judged request with its webhook, redacts Secret payloads, and replays', async () => {
    const dir = tempDir();
    const server = await startServer({ policies: STARTER_POLICIES, recordRequests: dir });
    for (const n of [67, 68, 63, 64]) await server.post(n % 2 ? '/mutate' : '/validate', JSON.stringify(fixture(n)));
    await server.close();
    const [file] = readdirSync(dir);
    const text = readFileSync(path.join(dir, file ?? ''), 'utf8');
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as { endpoint: string; review: { request: { uid: string; object: { data: Record<string, string> } } } });
    expect(lines.map((l) => [l.endpoint, l.review.request.uid])).toEqual([67, 68, 63, 64].map((n) => [n % 2 ? 'mutate' : 'validate', fixture(n).request.uid]));
    expect(lines[1]?.review.request.object.data).toEqual({ password: REDACTED, username: REDACTED });
    expect(text).not.toContain('czNjcjN0');
    expect(text).not.toMatch(/last-applied-configuration":"\{/);

    const to = changedPolicies((policies) => {
      const rule = path.join(policies, 'baseline/namespace-team.cedar');
      writeFileSync(rule, readFileSync(rule, 'utf8').replace('@severity("medium")', '@severity("medium")\n@mode("warn")'));
    });
    const result = await runCanopy(['impact', '--from', STARTER_POLICIES, '--to', to, '--requests', dir, '--format', 'json']);
    const report = JSON.parse(result.stdout) as { replayed: number; changes: { uid: string }[] };
    expect(report.replayed).toBe(4);
    // Only the validating webhook's record of the namespace decides; the mutating one never denied it.
    expect(report.changes.map((c) => c.uid)).toEqual([fixture(64).request.uid]);
  });
});
