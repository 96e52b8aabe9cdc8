// canopy audit and Pod Security: every exception of the policy data listed with its state (in force,
// expired), the objects an exception lets through said to pass by exception, and per namespace which
// workloads would fail baseline and which restricted only, whatever the namespace enforces today. Two
// stand-in controls (as in test/pod-security-levels.test.ts) judge a manifest directory of two namespaces.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonReport, markdownReport, policyReports, runAudit, textReport, type AuditReport } from '../src/cli/audit/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { day, EXCEPTIONS, standInPolicies } from './helpers/pod-security.js';

const DATA = `defaults:
  enforce: baseline
  warn: baseline
  audit: privileged
${EXCEPTIONS}`;

const container = (extra = '') => `{name: app, image: "registry.example.com/app:1.0", resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 8Mi}}${extra}}`;
const pod = (name: string, namespace: string, options: { privileged?: boolean; hostNetwork?: boolean; labels?: string } = {}) =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}, labels: {team: a${options.labels ? `, ${options.labels}` : ''}}}\n` +
  `spec: {${options.hostNetwork ? 'hostNetwork: true, ' : ''}containers: [${container(options.privileged ? ', securityContext: {privileged: true}' : '')}]}`;

const policies = (): string => standInPolicies(DATA);

/** team-a (its Namespace here: enforce privileged), team-b (no Namespace object: the defaults, enforce baseline), team-c (warns restricted). */
function manifests(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-audit-pss-manifests-'));
  writeFileSync(
    path.join(dir, 'team-a.yaml'),
    [
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a, pod-security.kubernetes.io/enforce: privileged}}',
      pod('priv', 'team-a', { privileged: true }),
      pod('hostnet', 'team-a', { hostNetwork: true }),
      pod('cni-agent', 'team-a', { privileged: true }),
      pod('old-agent-1', 'team-a', { privileged: true, labels: 'app: old-agent' }),
      pod('clean', 'team-a'),
    ].join('\n---\n'),
  );
  writeFileSync(
    path.join(dir, 'team-b.yaml'),
    [
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-b}\nspec: {template: {metadata: {labels: {team: a}}, spec: {hostNetwork: true, containers: [${container()}]}}}`,
      pod('ok', 'team-b'),
    ].join('\n---\n'),
  );
  // team-c warns at restricted already: its decisions judged every control.
  writeFileSync(path.join(dir, 'team-c.yaml'), ['apiVersion: v1\nkind: Namespace\nmetadata: {name: team-c, labels: {pod-security.kubernetes.io/warn: restricted}}', pod('sniffer', 'team-c', { hostNetwork: true }), pod('root', 'team-c', { privileged: true })].join('\n---\n'));
  return dir;
}

describe('canopy audit: Pod Security', () => {
  let report: AuditReport;

  beforeAll(async () => {
    const run = await runAudit({ policies: policies(), contexts: [], allContexts: false, manifests: [manifests()], logger: createLogger(undefined, { level: 'error' }) });
    report = run.report;
  }, 60_000);

  it('classifies each namespace\'s workloads by the level they would fail, whatever the namespace enforces today', () => {
    const levels = (key: string) => {
      const n = report.podSecurity?.namespaces[key];
      return n && { enforce: n.enforce, workloads: n.workloads, baseline: n.failingBaseline.map((f) => `${f.object}: ${f.controls.join(',')}`), restrictedOnly: n.failingRestrictedOnly.map((f) => `${f.object}: ${f.controls.join(',')}`) };
    };
    // team-a enforces privileged (its Namespace manifest's label): nothing fails today, but baseline would deny two.
    expect(levels('manifests/team-a')).toEqual({
      enforce: 'privileged',
      workloads: 5,
      baseline: ['Pod priv: pod-security.baseline.test-privileged', 'Pod old-agent-1: pod-security.baseline.test-privileged'],
      restrictedOnly: ['Pod hostnet: pod-security.restricted.test-host-network'],
    });
    expect(levels('manifests/team-b')).toEqual({ enforce: 'baseline', workloads: 2, baseline: [], restrictedOnly: ['Deployment web: pod-security.restricted.test-host-network'] });
    expect(levels('manifests/team-c')).toEqual({ enforce: 'baseline', workloads: 2, baseline: ['Pod root: pod-security.baseline.test-privileged'], restrictedOnly: ['Pod sniffer: pod-security.restricted.test-host-network'] });
    // Today: team-a enforces privileged, so no Pod Security control denies there; team-b's web passes baseline.
    const failing = report.results.filter((r) => r.failures.some((f) => f.policy.startsWith('pod-security.'))).map((r) => `${r.namespace}/${r.name}`);
    expect(failing).toEqual(['team-c/root']);

    const text = textReport(report);
    expect(text).toContain('Pod Security levels: what would fail if each namespace enforced baseline or restricted');
    expect(text).toMatch(/manifests\/team-a\s+privileged\s+5\s+Pod priv \(pod-security\.baseline\.test-privileged\); Pod old-agent-1 \(pod-security\.baseline\.test-privileged\)\s+Pod hostnet \(pod-security\.restricted\.test-host-network\)/);
    expect(text).toMatch(/manifests\/team-b\s+baseline\s+2\s+-\s+Deployment web \(pod-security\.restricted\.test-host-network\)/);
    expect(markdownReport(report)).toContain('| manifests/team-b | baseline | 2 | - | Deployment web (pod-security.restricted.test-host-network) |');
    const json = JSON.parse(jsonReport(report)) as AuditReport;
    expect(json.podSecurity?.namespaces['manifests/team-b']?.failingRestrictedOnly).toEqual([{ object: 'Deployment web', controls: ['pod-security.restricted.test-host-network'] }]);
  });

  it('lists every exception with its state, and says which object passed by which exception', () => {
    expect(report.podSecurity?.exceptions.map((e) => `${e.state} ${e.namespace}/${e.name ?? JSON.stringify(e.labels)} ${e.expires} ${e.owner}`)).toEqual([
      `in force team-a/cni-agent ${day(365)} network-team@example.com`,
      `expired team-a/{"app":"old-agent"} ${day(-1)} network-team@example.com`,
    ]);
    // cni-agent is privileged and passes by its exception; old-agent-1's has expired: it is judged.
    const cni = report.results.find((r) => r.name === 'cni-agent');
    expect(cni?.podSecurity?.exceptions).toEqual([{ controls: ['pod-security.baseline.test-privileged'], owner: 'network-team@example.com', reason: "programs the node's network", expires: day(365) }]);
    expect([...(cni?.failures ?? []), ...(cni?.warnings ?? [])].map((f) => f.policy)).not.toContain('pod-security.baseline.test-privileged');
    const old = report.results.find((r) => r.name === 'old-agent-1');
    expect(old?.podSecurity?.exceptions).toEqual([]);
    expect(old?.warnings.map((f) => f.policy)).toContain('pod-security.baseline.test-privileged');

    const text = textReport(report);
    expect(text).toContain('Pod Security exceptions: 1 in force, 1 expired');
    expect(text).toContain(`[in force until ${day(365)}] team-a/cni-agent: pod-security.baseline.test-privileged; owner network-team@example.com: programs the node's network`);
    expect(text).toContain(`[expired ${day(-1)}] team-a/{app=old-agent}: pod-security.baseline.test-privileged; owner network-team@example.com: was needed until last week`);
    expect(text).toContain(`manifests  Pod team-a/cni-agent: pod-security.baseline.test-privileged passed by exception (owner network-team@example.com: programs the node's network; until ${day(365)})`);
    const json = JSON.parse(jsonReport(report)) as AuditReport;
    expect(json.podSecurity?.exceptions.map((e) => e.state)).toEqual(['in force', 'expired']);
    const markdown = markdownReport(report);
    expect(markdown).toContain(`| expired ${day(-1)} | team-a/{app=old-agent} | \`pod-security.baseline.test-privileged\` | network-team@example.com | was needed until last week |`);
    expect(markdown).toContain('| manifests | Pod team-a/cni-agent | `pod-security.baseline.test-privileged` |');
    const teamA = policyReports(report).find((r) => r.report.metadata.namespace === 'team-a')?.report;
    expect(teamA?.metadata.annotations['canopy.io/pod-security-exceptions']).toContain(`[expired ${day(-1)}] team-a/{app=old-agent}`);
    expect(teamA?.results).toContainEqual(expect.objectContaining({ policy: 'pod-security.baseline.test-privileged', result: 'skip', resources: [expect.objectContaining({ name: 'cni-agent' })] }));
    expect(teamA?.summary.skip).toBe(1);
  });
});
