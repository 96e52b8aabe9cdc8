import { describe, expect, it } from 'vitest';
import { parseAdmissionReview } from '../../kubernetes/admission/index.js';
import type { EntityJson } from '../cedar/index.js';
import { fixture } from '../../../test/helpers/fixtures.js';
import { cedarApiGroup, toCedarRequest, workloadFacts } from './index.js';

const requestOf = (n: number) => toCedarRequest(parseAdmissionReview(fixture(n)));

function entity(entities: EntityJson[], type: string, id: string): EntityJson {
  const found = entities.find((e) => 'type' in e.uid && e.uid.type === type && e.uid.id === id);
  if (!found) throw new Error(`no ${type}::"${id}" among ${entities.map((e) => JSON.stringify(e.uid)).join(', ')}`);
  return found;
}

describe('API group names', () => {
  it('maps the core group to "core" and keeps every other group as Kubernetes spells it', () => {
    expect(cedarApiGroup('')).toBe('core');
    expect(cedarApiGroup('apps')).toBe('apps');
    expect(cedarApiGroup('networking.k8s.io')).toBe('networking.k8s.io');
  });

  it('gives an Ingress the full group name, never a short form', () => {
    const cedar = requestOf(74);
    const ingress = entity(cedar.entities, 'k8s::Resource', 'team-a/api');
    expect(ingress.attrs['apiGroup']).toBe('networking.k8s.io');
    expect(JSON.stringify(cedar)).not.toMatch(/"networking"/);
  });
});

describe('principals', () => {
  it('makes a user a k8s::User whose parents are its groups', () => {
    const cedar = requestOf(12);
    expect(cedar.principal).toEqual({ type: 'k8s::User', id: 'kubernetes-admin' });
    const user = entity(cedar.entities, 'k8s::User', 'kubernetes-admin');
    expect(user.parents).toEqual([
      { type: 'k8s::Group', id: 'system:masters' },
      { type: 'k8s::Group', id: 'system:authenticated' },
    ]);
    expect(entity(cedar.entities, 'k8s::Group', 'system:masters').attrs).toEqual({ name: 'system:masters' });
  });

  it('makes system:serviceaccount:NS:NAME a k8s::ServiceAccount "NS/NAME"', () => {
    const cedar = requestOf(42);
    expect(cedar.principal).toEqual({ type: 'k8s::ServiceAccount', id: 'team-a/deployer' });
    const account = entity(cedar.entities, 'k8s::ServiceAccount', 'team-a/deployer');
    expect(account.attrs).toEqual({ name: 'deployer', namespace: 'team-a' });
    expect(account.parents).toContainEqual({ type: 'k8s::Group', id: 'system:serviceaccounts:team-a' });
  });

  it('makes system:node:NAME a k8s::Node', () => {
    const review = fixture(78);
    review.request['userInfo'] = { username: 'system:node:worker-1', groups: ['system:nodes'] };
    const cedar = toCedarRequest(parseAdmissionReview(review));
    expect(cedar.principal).toEqual({ type: 'k8s::Node', id: 'worker-1' });
  });
});

describe('the object under admission', () => {
  it('makes a Pod a k8s::Workload in its namespace, labels as tags, with container facts', () => {
    const cedar = requestOf(12);
    expect(cedar.action).toEqual({ type: 'k8s::Action', id: 'create' });
    expect(cedar.resource).toEqual({ type: 'k8s::Workload', id: 'team-a/web' });
    const pod = entity(cedar.entities, 'k8s::Workload', 'team-a/web');
    expect(pod.parents).toEqual([
      { type: 'k8s::Namespace', id: 'team-a' },
      { type: 'k8s::Cluster', id: 'local' },
    ]);
    expect(pod.tags).toEqual({ app: 'web' });
    expect(pod.attrs).toMatchObject({
      apiGroup: 'core',
      apiVersion: 'v1',
      kind: 'Pod',
      resource: 'pods',
      name: 'web',
      namespace: 'team-a',
      containers: ['nginx'],
      images: ['nginx:1.25'],
      privilegedContainers: [],
      hostNetwork: false,
    });
    expect(entity(cedar.entities, 'k8s::Namespace', 'team-a').attrs['name']).toBe('team-a');
    expect(cedar.context).toEqual({
      operation: 'CREATE',
      subresource: '',
      dryRun: false,
      cluster: { __entity: { type: 'k8s::Cluster', id: 'local' } },
      namespace: { __entity: { type: 'k8s::Namespace', id: 'team-a' } },
    });
  });

  it('reads the pod template of a CronJob', () => {
    const cedar = requestOf(72);
    const cronJob = entity(cedar.entities, 'k8s::Workload', 'team-a/nightly');
    expect(cronJob.attrs['kind']).toBe('CronJob');
    expect(cronJob.attrs['apiGroup']).toBe('batch');
    expect((cronJob.attrs['containers'] as string[]).length).toBeGreaterThan(0);
  });

  it('judges the old object on DELETE, where the request carries no object', () => {
    const cedar = requestOf(16);
    expect(cedar.action.id).toBe('delete');
    const pod = entity(cedar.entities, 'k8s::Workload', 'team-a/web');
    expect(pod.attrs['containers']).toEqual(['nginx']);
    expect(pod.attrs['old']).toBeUndefined();
  });

  it('links the object before an UPDATE as resource.old, with its own labels', () => {
    const cedar = requestOf(14); // kubectl label pod web tier=frontend
    const pod = entity(cedar.entities, 'k8s::Workload', 'team-a/web');
    expect(pod.tags).toMatchObject({ tier: 'frontend' });
    expect(pod.attrs['old']).toEqual({ __entity: { type: 'k8s::Workload', id: 'team-a/web#old' } });
    const old = entity(cedar.entities, 'k8s::Workload', 'team-a/web#old');
    expect(old.tags).not.toHaveProperty('tier');
    expect(old.parents).toEqual(pod.parents);
  });

  it('passes subresource and dryRun in the context', () => {
    expect(requestOf(24).context).toMatchObject({ operation: 'UPDATE', subresource: 'scale', dryRun: false });
    expect(requestOf(24).resource).toEqual({ type: 'k8s::Resource', id: 'team-a/api' });
    expect(requestOf(32).context['dryRun']).toBe(true);
    const exec = requestOf(50);
    expect(exec.action.id).toBe('connect');
    expect(exec.context['subresource']).toBe('exec');
  });

  it('makes a Namespace a cluster-scoped k8s::Namespace with its labels as tags', () => {
    const cedar = requestOf(2);
    expect(cedar.resource).toEqual({ type: 'k8s::Namespace', id: 'team-a' });
    const namespace = entity(cedar.entities, 'k8s::Namespace', 'team-a');
    expect(namespace.parents).toEqual([{ type: 'k8s::Cluster', id: 'local' }]);
    expect(cedar.context['namespace']).toBeUndefined();
    expect(namespace.attrs['namespace']).toBe('');
    expect(namespace.tags).toMatchObject({ team: 'a', environment: 'dev' });
  });

  it('never exposes Secret data', () => {
    expect(JSON.stringify(requestOf(68))).not.toMatch(/"data"/);
  });
});

describe('odd shapes are judged, not rejected', () => {
  it('reads facts from malformed pod specs without throwing', () => {
    const odd = {
      spec: {
        containers: { name: 'not-a-list' },
        initContainers: [null, 3.5, { image: 'busybox', securityContext: { privileged: true } }],
        ephemeralContainers: [{ name: 'debug', securityContext: { privileged: 'true' } }],
        hostNetwork: 'yes',
      },
    };
    expect(workloadFacts('', 'Pod', odd)).toEqual({
      containers: ['initContainers[2]', 'debug'],
      images: ['busybox'],
      privilegedContainers: ['initContainers[2]'],
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      serviceAccountName: '',
    });
    expect(workloadFacts('apps', 'Deployment', null).containers).toEqual([]);
  });

  it('keeps scalar label values as text and drops the rest', () => {
    const review = fixture(12);
    (review.request.object?.['metadata'] as Record<string, unknown>)['labels'] = { a: 1.5, b: true, c: null, d: { x: 1 }, e: 'ok' };
    const pod = entity(toCedarRequest(parseAdmissionReview(review)).entities, 'k8s::Workload', 'team-a/web');
    expect(pod.tags).toEqual({ a: '1.5', b: 'true', e: 'ok' });
  });
});
