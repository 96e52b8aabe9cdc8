// The starter policies on Pods and on every pod template kind, through the real engine.
import { beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICIES, fixture, podSpecOf, type AdmissionReviewFixture } from './helpers/fixtures.js';
import { pipelineFor, type TestPipeline } from './helpers/pipeline.js';

type Spec = Record<string, unknown>;
type Container = Record<string, unknown>;

/** A CREATE of each workload kind, from the captured requests (DaemonSet, Job, ReplicaSet from a Deployment). */
function createOf(kind: string): AdmissionReviewFixture {
  const fromFixture: Record<string, number> = { Pod: 12, Deployment: 22, StatefulSet: 70, CronJob: 72 };
  const number = fromFixture[kind];
  if (number) return fixture(number);
  const review = fixture(22);
  const group = kind === 'Job' ? 'batch' : 'apps';
  review.request['kind'] = { group, version: 'v1', kind };
  review.request['resource'] = { group, version: 'v1', resource: `${kind.toLowerCase()}s` };
  const object = review.request.object as Record<string, unknown>;
  object['kind'] = kind;
  return review;
}

const KINDS = ['Pod', 'Deployment', 'StatefulSet', 'CronJob', 'DaemonSet', 'Job', 'ReplicaSet'];

function withSpec(review: AdmissionReviewFixture, change: (spec: Spec) => void): AdmissionReviewFixture {
  change(podSpecOf(review.request.object as Record<string, unknown>));
  return review;
}

const privileged = (container: Container): Container => ({ ...container, securityContext: { privileged: true } });
const firstContainer = (spec: Spec): Container => (spec['containers'] as Container[])[0] as Container;

describe('starter policies', () => {
  let t: TestPipeline;
  beforeAll(async () => {
    t = await pipelineFor(STARTER_POLICIES);
  });

  const denial = (review: AdmissionReviewFixture) => {
    const { review: answer, decision } = t.review(review);
    return { allowed: answer.response.allowed, ids: decision.denials.map((d) => d.id), message: answer.response.status?.message ?? '' };
  };

  describe.each(KINDS)('on a %s', (kind) => {
    it('allows the captured object as it is', () => {
      expect(denial(createOf(kind)).allowed).toBe(true);
    });

    it('denies a privileged container with pod-security.baseline.privileged and its advice', () => {
      let name = '';
      const result = denial(
        withSpec(createOf(kind), (spec) => {
          name = firstContainer(spec)['name'] as string;
          spec['containers'] = [privileged(firstContainer(spec))];
        }),
      );
      expect(result.allowed).toBe(false);
      expect(result.ids).toEqual(['pod-security.baseline.privileged']);
      expect(result.message).toBe(
        `Canopy denied this request: [pod-security.baseline.privileged] Privileged containers are not allowed (container "${name}" must not set securityContext.privileged=true): remove it, or set it to false.`,
      );
    });

    it('denies a privileged init container', () => {
      const result = denial(
        withSpec(createOf(kind), (spec) => (spec['initContainers'] = [privileged({ name: 'init', image: 'busybox:1.36' })])),
      );
      expect(result.ids).toEqual(['pod-security.baseline.privileged']);
    });

    it.each(['hostNetwork', 'hostPID', 'hostIPC'])('denies %s with pod-security.baseline.host-namespaces', (field) => {
      const result = denial(withSpec(createOf(kind), (spec) => (spec[field] = true)));
      expect(result.allowed).toBe(false);
      expect(result.ids).toEqual(['pod-security.baseline.host-namespaces']);
      expect(result.message).toBe(
        `Canopy denied this request: [pod-security.baseline.host-namespaces] Host namespaces are not allowed (${field}=true): remove hostNetwork, hostPID and hostIPC from the pod spec, or set them to false.`,
      );
    });

    it('names both policies when both are broken', () => {
      const result = denial(
        withSpec(createOf(kind), (spec) => {
          spec['hostPID'] = true;
          spec['containers'] = [privileged(firstContainer(spec))];
        }),
      );
      expect(result.ids).toEqual(['pod-security.baseline.host-namespaces', 'pod-security.baseline.privileged']); // sorted by id
    });

    it('does not deny a securityContext with privileged: false', () => {
      const result = denial(
        withSpec(createOf(kind), (spec) => (spec['containers'] = [{ ...firstContainer(spec), securityContext: { privileged: false } }])),
      );
      expect(result.allowed).toBe(true);
    });
  });

  describe('on updates and deletes', () => {
    const makePrivileged = (object: unknown) => {
      const spec = podSpecOf(object as Record<string, unknown>);
      spec['containers'] = [privileged(firstContainer(spec))];
    };

    it('denies an ephemeral debug container that is privileged (kubectl debug)', () => {
      const review = fixture(80);
      const spec = podSpecOf(review.request.object as Record<string, unknown>);
      spec['ephemeralContainers'] = (spec['ephemeralContainers'] as Container[]).map(privileged);
      expect(denial(review).ids).toEqual(['pod-security.baseline.privileged']);
    });

    it('denies an UPDATE that makes a container privileged', () => {
      const review = fixture(56);
      makePrivileged(review.request.object);
      expect(denial(review).ids).toEqual(['pod-security.baseline.privileged']);
    });

    it('allows an UPDATE that adds no new privileged container, so existing workloads keep working', () => {
      const review = fixture(14); // kubectl label pod web tier=frontend
      makePrivileged(review.request.object);
      makePrivileged(review.request.oldObject);
      expect(denial(review).allowed).toBe(true);
    });

    it('allows an UPDATE of a pod already on the host network, and denies one that turns it on', () => {
      const onHostNetwork = (object: unknown) => (podSpecOf(object as Record<string, unknown>)['hostNetwork'] = true);
      const kept = fixture(78); // status update by the kubelet
      onHostNetwork(kept.request.object);
      onHostNetwork(kept.request.oldObject);
      expect(denial(kept).allowed).toBe(true);
      const labelled = fixture(14); // kubectl label pod web tier=frontend: the pod spec is unchanged
      onHostNetwork(labelled.request.object);
      onHostNetwork(labelled.request.oldObject);
      expect(denial(labelled).allowed).toBe(true);
      // Turning it on in the pod itself (not pods/status, whose spec the API server keeps as it was and
      // Pod Security, as upstream, does not judge) is denied.
      const turnedOn = fixture(14);
      onHostNetwork(turnedOn.request.object);
      const result = denial(turnedOn);
      expect(result.allowed).toBe(false);
      expect(result.ids).toEqual(['pod-security.baseline.host-namespaces']);
    });

    it('allows deleting a privileged pod', () => {
      const review = fixture(16);
      makePrivileged(review.request.oldObject);
      expect(denial(review).allowed).toBe(true);
    });
  });

  describe('baseline.namespace-team', () => {
    const namespace = (name: string, labels: Record<string, string>, operation = 'CREATE') => {
      const review = fixture(operation === 'CREATE' ? 64 : 66);
      review.request['name'] = name;
      review.request['namespace'] = name;
      const object = (operation === 'DELETE' ? review.request.oldObject : review.request.object) as Record<string, unknown>;
      object['metadata'] = { name, labels };
      return review;
    };

    it('denies a new Namespace without a team label, with its advice', () => {
      const result = denial(namespace('payments', { env: 'prod' }));
      expect(result.ids).toEqual(['baseline.namespace-team']);
      expect(result.message).toContain('[baseline.namespace-team] Add a non-empty team label');
    });

    it('denies an empty team label', () => {
      expect(denial(namespace('payments', { team: '' })).ids).toEqual(['baseline.namespace-team']);
    });

    it('allows a new Namespace with a team label', () => {
      expect(denial(namespace('payments', { team: 'payments' })).allowed).toBe(true);
    });

    it.each(['default', 'kube-node-lease', 'kube-custom'])('allows %s without a team label', (name) => {
      expect(denial(namespace(name, {})).allowed).toBe(true);
    });

    it('does not judge deleting a Namespace', () => {
      expect(denial(namespace('scratch', {}, 'DELETE')).allowed).toBe(true);
    });
  });
});
