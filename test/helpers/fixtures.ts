// The 88 AdmissionReview requests a real kube-apiserver sent, from ../shared/fixtures.
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/admission-reviews/', import.meta.url));
export const STARTER_POLICIES = `${REPO_ROOT}policies`;

export interface AdmissionReviewFixture {
  kind: string;
  apiVersion: string;
  request: {
    uid: string;
    operation: string;
    object: Record<string, unknown> | null;
    oldObject: Record<string, unknown> | null;
    [key: string]: unknown;
  };
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();
}

/** A fresh copy of a fixture, by its number (11) or file name; safe to modify. */
export function fixture(which: number | string): AdmissionReviewFixture {
  const name =
    typeof which === 'number'
      ? fixtureNames().find((n) => n.startsWith(String(which).padStart(3, '0')))
      : which;
  if (!name) throw new Error(`no fixture ${which}`);
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}`, 'utf8')) as AdmissionReviewFixture;
}

/** The pod spec inside an object of any workload kind, for tests that change it. */
export function podSpecOf(object: Record<string, unknown>): Record<string, unknown> {
  const spec = object['spec'] as Record<string, unknown>;
  if (object['kind'] === 'Pod') return spec;
  if (object['kind'] === 'CronJob') {
    const job = (spec['jobTemplate'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
    return (job['template'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
  }
  return (spec['template'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
}

/** The validating policies policies/ ships, by id, sorted: tests that count what is shipped say it once. */
export const SHIPPED_POLICY_IDS: readonly string[] = [
  'baseline.namespace-team',
  'baseline.protected-namespace-labels',
  'pod-security.baseline.apparmor',
  'pod-security.baseline.capabilities',
  'pod-security.baseline.host-namespaces',
  'pod-security.baseline.host-path-volumes',
  'pod-security.baseline.host-ports',
  'pod-security.baseline.host-probes-and-lifecycle',
  'pod-security.baseline.host-process',
  'pod-security.baseline.privileged',
  'pod-security.baseline.proc-mount',
  'pod-security.baseline.seccomp',
  'pod-security.baseline.selinux',
  'pod-security.baseline.sysctls',
  'pod-security.restricted.capabilities',
  'pod-security.restricted.privilege-escalation',
  'pod-security.restricted.proc-mount',
  'pod-security.restricted.run-as-non-root',
  'pod-security.restricted.run-as-user',
  'pod-security.restricted.seccomp',
  'pod-security.restricted.volume-types',
  'quota.cost',
  'quota.cpu',
  'quota.fleet',
  'quota.gpus',
  'quota.memory',
  'quota.soft-threshold',
  'sovereignty.binding-region',
  'sovereignty.jurisdiction',
  'sovereignty.pod-regions',
  'sovereignty.storage-regions',
  'supply-chain.allowed-sources',
  'supply-chain.digest-required',
  'supply-chain.no-latest',
  'supply-chain.signatures',
];

/**
 * The rules of the packs policies/packs/ ships, every pack on by default (policies/README.md, Packs):
 * written out, not read from the files, so that a rule that stops loading (or whose cases stop running) is caught.
 */
export const PACK_POLICY_IDS: readonly string[] = [
  'best-practices.automount-token',
  'best-practices.cluster-admin-binding',
  'best-practices.disallow-default-namespace',
  'best-practices.ingress-tls',
  'best-practices.ingress-wildcard-host',
  'best-practices.load-balancer',
  'best-practices.no-cri-socket',
  'best-practices.no-nodeport',
  'best-practices.rbac-wildcards',
  'best-practices.replicas',
  'best-practices.require-labels',
  'best-practices.require-probes',
  'best-practices.require-requests-limits',
  'best-practices.required-annotations',
  'best-practices.unique-ingress',
  'cloud-resources.data-class',
  'cloud-resources.region',
  'kubevirt.regions',
  'models.allowed-images',
  'models.approved-sources',
  'models.digest-required',
  'models.signatures',
];

/** The packs' mutations, by id. */
export const PACK_MUTATION_IDS: readonly string[] = ['models.pin-digests'];

/** Its mutations, by id. */
export const SHIPPED_MUTATION_IDS: readonly string[] = ['mutations.default-resources', 'mutations.pin-digests', 'mutations.sovereignty-regions'];

/**
 * Copies the shipped policies to `dir` for a test about something else (a bundle store, sync, faults):
 * every policy, data and schema file, and the tests of the policies outside packs/. The packs' own
 * tests (about two thirds of the cases) stay behind, since every activation of a bundle runs its tests
 * again; test/packs.test.ts and policy-workflow.test.ts run them.
 */
export function copyPoliciesForBundles(dir: string): void {
  cpSync(STARTER_POLICIES, dir, { recursive: true, filter: (source) => !/[/\\]packs[/\\].*\.test\.ya?ml$/.test(source) });
}
