import { describe, expect, it } from 'vitest';
import { ConfigError, parseFleetConfig } from './config.js';

describe('the fleet config', () => {
  it('reads a full config', () => {
    const config = parseFleetConfig({
      cluster: { name: 'de-1', region: 'eu-central-1', jurisdiction: 'de', labels: { tier: 'gold' }, clusterProfile: { namespace: 'fleet', name: 'de-1' } },
      kubernetes: { namespaceLookupTimeoutMs: 500 },
      kcp: { logicalClusters: { abc: 'root:org-eu:payments' }, workspaces: { 'root:org-eu': { labels: { 'canopy.io/data-class': 'confidential' } } } },
    });
    expect(config.cluster).toMatchObject({ name: 'de-1', jurisdiction: 'DE', labels: { tier: 'gold' }, clusterProperties: true });
    expect(config.kubernetes).toEqual({ namespaceLookupTimeoutMs: 500 });
    expect(config.kcp?.discover).toBe(false);
  });

  it.each([
    [{ clusters: {} }, 'clusters: unknown key (the config takes cluster, kubernetes, registries, imageLookupTimeoutMs, kcp)'],
    [{ cluster: { jurisdiction: 'Germany' } }, 'cluster.jurisdiction must be an ISO 3166-1 alpha-2 code'],
    [{ cluster: { labels: { a: 1 } } }, 'cluster.labels must be a map of strings'],
    [{ kcp: { logicalClusters: { a: 'Root/Org' } } }, 'kcp.logicalClusters.a must be a workspace path such as root:org:team (got "Root/Org")'],
    [{ kubernetes: { namespaceLookupTimeoutMs: -1 } }, 'kubernetes.namespaceLookupTimeoutMs must be a positive whole number'],
  ])('refuses %j', (value, message) => {
    expect(() => parseFleetConfig(value, 'canopy.yaml')).toThrow(ConfigError);
    expect(() => parseFleetConfig(value, 'canopy.yaml')).toThrow(message);
  });
});
