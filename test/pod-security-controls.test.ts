// The Pod Security Standards controls (policies/pod-security/, facts/pod-security.yaml) against every
// upstream fixture of kubernetes/pod-security-admission (/work/shared/pod-security, see its README):
// each fail fixture is denied by its control and no other (but for the overlaps listed in ALSO), each
// pass fixture by none, as a Pod, as a Deployment's template and as a CronJob's job template.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;
type Level = 'baseline' | 'restricted';

const FIXTURES = process.env['POD_SECURITY_FIXTURES'] ?? '/work/shared/pod-security';
const POLICIES = join(import.meta.dirname, '..', 'policies');
const NAMESPACE = 'team-a';

/** Upstream's check (the fixture name without its number) → the control's policy id. */
const CONTROLS: Record<string, string> = {
  windowshostprocess: 'pod-security.baseline.host-process',
  hostnamespaces: 'pod-security.baseline.host-namespaces',
  privileged: 'pod-security.baseline.privileged',
  capabilities_baseline: 'pod-security.baseline.capabilities',
  hostpathvolumes: 'pod-security.baseline.host-path-volumes',
  hostports: 'pod-security.baseline.host-ports',
  hostprobesandhostlifecycle: 'pod-security.baseline.host-probes-and-lifecycle',
  apparmorprofile: 'pod-security.baseline.apparmor',
  selinuxoptions: 'pod-security.baseline.selinux',
  procmount: 'pod-security.baseline.proc-mount',
  seccompprofile_baseline: 'pod-security.baseline.seccomp',
  sysctls: 'pod-security.baseline.sysctls',
  restrictedvolumes: 'pod-security.restricted.volume-types',
  allowprivilegeescalation: 'pod-security.restricted.privilege-escalation',
  runasnonroot: 'pod-security.restricted.run-as-non-root',
  runasuser: 'pod-security.restricted.run-as-user',
  seccompprofile_restricted: 'pod-security.restricted.seccomp',
  capabilities_restricted: 'pod-security.restricted.capabilities',
  procmount_restricted: 'pod-security.restricted.proc-mount',
};

/**
 * Fixtures that fail a second control besides their own. Upstream's fixture test only checks that the
 * named check fails, and at the restricted level upstream runs a restricted check *instead of* the
 * baseline check it overrides (OverrideCheckIDs), so it reports one; here both are policies, and both deny.
 * Keyed by `level/file` (without .yaml), or by `level/check` for every fixture of a check.
 */
const ALSO: Record<string, { ids: string[]; why: string }> = {
  'baseline/windowshostprocess': { ids: ['pod-security.baseline.host-namespaces'], why: 'a HostProcess pod must set hostNetwork: true, so the fixture does' },
  'restricted/windowshostprocess': { ids: ['pod-security.baseline.host-namespaces'], why: 'a HostProcess pod must set hostNetwork: true, so the fixture does' },
  'restricted/privileged': { ids: ['pod-security.restricted.privilege-escalation'], why: 'privileged: true with allowPrivilegeEscalation: false is invalid, so the fixture leaves it unset' },
  'restricted/allowprivilegeescalation3': { ids: ['pod-security.restricted.capabilities'], why: 'the container has no securityContext at all, so it does not drop ALL either' },
  'restricted/capabilities_baseline': { ids: ['pod-security.restricted.capabilities'], why: 'restricted capabilities overrides baseline capabilities upstream' },
  'restricted/hostpathvolumes': { ids: ['pod-security.restricted.volume-types'], why: 'restricted volume types overrides hostPath volumes upstream' },
  'restricted/restrictedvolumes19': { ids: ['pod-security.baseline.host-path-volumes'], why: 'a hostPath volume; restricted volume types overrides hostPath volumes upstream' },
  'restricted/procmount': { ids: ['pod-security.restricted.proc-mount'], why: 'restricted procMount overrides baseline procMount upstream' },
  'restricted/seccompprofile_baseline': { ids: ['pod-security.restricted.seccomp'], why: 'restricted seccomp overrides baseline seccomp upstream' },
  'restricted/seccompprofile_restricted1': { ids: ['pod-security.baseline.seccomp'], why: 'Unconfined on the pod; restricted seccomp overrides baseline seccomp upstream' },
  'restricted/seccompprofile_restricted4': { ids: ['pod-security.baseline.seccomp'], why: 'Unconfined on a container; restricted seccomp overrides baseline seccomp upstream' },
};

const checkOf = (file: string) => file.replace(/\d*\.yaml$/, '');

function expectedDenials(level: Level, outcome: 'pass' | 'fail', file: string): string[] {
  if (outcome === 'pass') return [];
  const check = checkOf(file);
  const control = CONTROLS[check];
  if (!control) throw new Error(`no control is mapped to the fixture check "${check}" (${level}/${outcome}/${file})`);
  const name = file.replace(/\.yaml$/, '');
  const extra = [...(ALSO[`${level}/${check}`]?.ids ?? []), ...(ALSO[`${level}/${name}`]?.ids ?? [])];
  return [...new Set([control, ...extra])].sort();
}

function fixturePods(level: Level, outcome: 'pass' | 'fail'): { file: string; pod: Json }[] {
  const dir = join(FIXTURES, level, outcome);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, pod: parse(readFileSync(join(dir, file), 'utf8')) as Json }));
}

function fixture(level: Level, outcome: 'pass' | 'fail', file: string): Json {
  return parse(readFileSync(join(FIXTURES, level, outcome, file), 'utf8')) as Json;
}

/** Every kind that carries a pod spec: the fixtures must give the same answers as each. */
const KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'] as const;
type Kind = (typeof KINDS)[number];

/** The fixture pod, in NAMESPACE, as itself or as the pod template of each controller kind. */
function asKind(pod: Json, kind: Kind): Json {
  const metadata: Json = { ...(pod['metadata'] as Json), namespace: NAMESPACE, name: String((pod['metadata'] as Json)['name']).replace(/_/g, '-') };
  if (kind === 'Pod') return { ...pod, metadata };
  const annotations = metadata['annotations'] as Json | undefined;
  const template = { metadata: { labels: { app: 'fixture' }, ...(annotations ? { annotations } : {}) }, spec: pod['spec'] };
  const name = metadata['name'];
  const selector = { matchLabels: { app: 'fixture' } };
  switch (kind) {
    case 'Deployment':
    case 'ReplicaSet':
      return { apiVersion: 'apps/v1', kind, metadata: { name, namespace: NAMESPACE }, spec: { replicas: 1, selector, template } };
    case 'StatefulSet':
      return { apiVersion: 'apps/v1', kind, metadata: { name, namespace: NAMESPACE }, spec: { replicas: 1, serviceName: String(name), selector, template } };
    case 'DaemonSet':
      return { apiVersion: 'apps/v1', kind, metadata: { name, namespace: NAMESPACE }, spec: { selector, template } };
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata: { name, namespace: NAMESPACE }, spec: { template } };
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata: { name, namespace: NAMESPACE }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template } } } };
  }
}

/** The namespace's Pod Security labels: one level for every mode, so the other level's controls stay quiet. */
const levelLabels = (level: Level) => ({
  'pod-security.kubernetes.io/enforce': level,
  'pod-security.kubernetes.io/warn': level,
  'pod-security.kubernetes.io/audit': level,
});

const hasFixtures = existsSync(join(FIXTURES, 'baseline', 'fail'));

describe('Pod Security Standards controls against the upstream fixtures', () => {
  it('has the upstream fixtures beside the checkout (../shared/pod-security)', () => {
    expect(hasFixtures).toBe(true);
  });

  let pipeline: AdmissionPipeline;
  beforeAll(async () => {
    pipeline = new AdmissionPipeline();
    await pipeline.activate(await loadPolicyDirectory(POLICIES));
  });

  /** The pod-security controls that deny (enforce mode), and those that match in any mode. */
  function judge(object: Json, level: Level, options: Parameters<typeof admissionReview>[1] = {}) {
    const { decision } = pipeline.review(admissionReview(object, options), { namespaceLabels: levelLabels(level) });
    const ours = (hits: { id: string }[]) => hits.map((hit) => hit.id).filter((id) => id.startsWith('pod-security.'));
    const inLevel = (id: string) => level === 'restricted' || id.startsWith('pod-security.baseline.');
    return {
      denied: [...new Set(ours(decision.denials))].filter(inLevel).sort(),
      all: [...new Set([...ours(decision.denials), ...ours(decision.warnings), ...ours(decision.audits)])].sort(),
      decision,
    };
  }

  it('maps every fixture check to a control, and every control to a policy of the set', async () => {
    const ids = ['baseline', 'restricted'].flatMap((level) =>
      readdirSync(join(POLICIES, 'pod-security', level))
        .filter((file) => file.endsWith('.cedar'))
        .map((file) => /@id\("([^"]+)"\)/.exec(readFileSync(join(POLICIES, 'pod-security', level, file), 'utf8'))?.[1]),
    );
    for (const level of ['baseline', 'restricted'] as const) {
      for (const outcome of ['pass', 'fail'] as const) {
        for (const { file } of fixturePods(level, outcome)) if (outcome === 'fail') expect(CONTROLS[checkOf(file)], file).toBeDefined();
      }
    }
    expect([...new Set(Object.values(CONTROLS))].sort()).toEqual(ids.sort());
  });

  const counts: Record<string, number> = {};
  for (const level of ['baseline', 'restricted'] as const) {
    for (const outcome of ['fail', 'pass'] as const) {
      for (const kind of KINDS) {
        it(`${level}/${outcome}: every fixture, as a ${kind}`, () => {
          const problems: string[] = [];
          const fixtures = fixturePods(level, outcome);
          expect(fixtures.length).toBeGreaterThan(0);
          for (const { file, pod } of fixtures) {
            const expected = expectedDenials(level, outcome, file);
            const { denied } = judge(asKind(pod, kind), level);
            if (JSON.stringify(denied) !== JSON.stringify(expected)) problems.push(`${level}/${outcome}/${file} as a ${kind}: expected [${expected.join(', ')}], denied by [${denied.join(', ')}]`);
          }
          counts[`${level}/${outcome}/${kind}`] = fixtures.length - problems.length;
          expect(problems).toEqual([]);
        });
      }
    }
  }

  it('a baseline namespace lets restricted-only failures through, and denies baseline ones', () => {
    const escalation = fixture('restricted', 'fail', 'allowprivilegeescalation0.yaml');
    expect(judge(asKind(escalation, 'Pod'), 'baseline').all).toEqual([]);
    expect(judge(asKind(escalation, 'Pod'), 'restricted').denied).toEqual(['pod-security.restricted.privilege-escalation']);
    const hostPath = fixture('baseline', 'fail', 'hostpathvolumes0.yaml');
    const { denied, decision } = judge(asKind(hostPath, 'Pod'), 'baseline');
    expect(denied).toEqual(['pod-security.baseline.host-path-volumes']);
    expect(decision.denials.find((hit) => hit.id === 'pod-security.baseline.host-path-volumes')?.advice).toContain('volume "volume-hostpath"');
  });

  it('the advice lists the offenders', () => {
    const pod = fixture('restricted', 'fail', 'capabilities_restricted3.yaml');
    const { decision } = judge(asKind(pod, 'Pod'), 'restricted');
    const advice = decision.denials.find((hit) => hit.id === 'pod-security.restricted.capabilities')?.advice ?? '';
    expect(advice).toContain('container "container1"');
    expect(advice).toContain('container "initcontainer1"');
    expect(advice).toContain('AUDIT_WRITE');
    expect(advice).not.toContain('NET_BIND_SERVICE,');
  });

  it('an ephemeral container added by kubectl debug is judged (pods/ephemeralcontainers)', () => {
    const pod = fixture('restricted', 'pass', 'base.yaml');
    const before = asKind(pod, 'Pod');
    const spec = before['spec'] as Json;
    const debugged = { ...before, spec: { ...spec, ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36', securityContext: { privileged: true } }] } };
    const options = { operation: 'UPDATE', oldObject: before, subResource: 'ephemeralcontainers', resource: { group: '', version: 'v1', resource: 'pods' } };
    const { denied } = judge(debugged, 'restricted', options);
    expect(denied).toEqual(
      ['pod-security.baseline.privileged', 'pod-security.restricted.capabilities', 'pod-security.restricted.privilege-escalation'].sort(),
    );
    const quiet = { ...before, spec: { ...spec, ephemeralContainers: [{ name: 'debugger', image: 'busybox:1.36', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }] } };
    expect(judge(quiet, 'restricted', options).denied).toEqual([]);
  });

  it('a Windows pod is not asked for Linux-only settings (privilege escalation, seccomp, capabilities)', () => {
    const windows = fixture('restricted', 'pass', 'base_windows.yaml');
    expect(judge(asKind(windows, 'Pod'), 'restricted').denied).toEqual([]);
    const linux = { ...windows, spec: { ...(windows['spec'] as Json), os: { name: 'linux' } } };
    expect(judge(asKind(linux, 'Pod'), 'restricted').denied).toEqual(
      ['pod-security.restricted.capabilities', 'pod-security.restricted.privilege-escalation', 'pod-security.restricted.seccomp'].sort(),
    );
  });

  it('an UPDATE that leaves the pod spec as it was is not judged', () => {
    const pod = fixture('baseline', 'fail', 'privileged0.yaml');
    const before = asKind(pod, 'Pod');
    const relabelled = { ...before, metadata: { ...(before['metadata'] as Json), labels: { tier: 'ops' } } };
    expect(judge(relabelled, 'baseline', { operation: 'UPDATE', oldObject: before }).denied).toEqual([]);
    expect(judge(before, 'baseline').denied).toEqual(['pod-security.baseline.privileged']);
  });

  it('reports the counts', () => {
    // Printed for the report: fixtures judged as expected, per level, outcome and kind.
    console.log(JSON.stringify(counts));
  });
});
