import { describe, expect, it } from 'vitest';
import { parseAdmissionReview } from './review.js';
import { pluralOf, syntheticReview } from './synthetic.js';

const create = (object: Record<string, unknown>, resource?: string) =>
  parseAdmissionReview(
    syntheticReview({
      uid: 'u1',
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: [] },
      object,
      oldObject: null,
      dryRun: true,
      ...(resource ? { resource } : {}),
    }),
  );

describe('synthetic admission reviews', () => {
  it('names resources as the API server does for the common plural forms', () => {
    expect(['Pod', 'Ingress', 'NetworkPolicy', 'Gateway', 'Endpoints', 'Mesh'].map(pluralOf)).toEqual([
      'pods', 'ingresses', 'networkpolicies', 'gateways', 'endpoints', 'meshes',
    ]);
  });

  it('gives cluster-scoped kinds of any API group no namespace, and namespaced ones their own or default', () => {
    const role = create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'admin' } });
    expect(role).toMatchObject({ namespace: '', name: 'admin', resource: { group: 'rbac.authorization.k8s.io', resource: 'clusterroles' } });
    expect(create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } }).namespace).toBe('team-a');
    expect(create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }).namespace).toBe('default');
    expect(create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'shop' } })).toMatchObject({
      namespace: 'shop',
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    });
  });

  it('uses the resource a caller knows over the guessed plural', () => {
    expect(create({ apiVersion: 'v1', kind: 'Foo', metadata: { name: 'f' } }, 'fooz').resource.resource).toBe('fooz');
  });
});
