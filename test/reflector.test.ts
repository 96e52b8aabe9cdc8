// Canopy's informers against a local server speaking the Kubernetes list/watch protocol.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/operations/decision-log/index.js';
import { KubeClient, loadKubeConfig, Reflector } from '../src/sources/kube/index.js';
import { eventually, FakeKube } from './helpers/fake-kube.js';
import { logSink } from './helpers/log-sink.js';

const NAMESPACES = '/api/v1/namespaces';
const namespace = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

describe('the namespace reflector', () => {
  let kube: FakeKube;
  let reflector: Reflector<Record<string, string>>;
  const log = logSink();

  beforeEach(async () => {
    kube = new FakeKube();
    for (let i = 0; i < 7; i++) kube.put(NAMESPACES, namespace(`ns-${i}`, { index: String(i) }));
    await kube.start();
    const client = new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() }));
    const project = (object: Record<string, unknown>) => ((object['metadata'] as { labels?: Record<string, string> }).labels ?? {});
    reflector = new Reflector(client, { path: NAMESPACES, name: 'namespaces', project, initialBackoffMs: 20 }, createLogger(log.stream));
  });

  afterEach(async () => {
    reflector.stop();
    await kube.stop();
  });

  it('lists in pages, keeps only labels, and follows the watch', async () => {
    reflector.start();
    await reflector.waitForSync();
    expect(reflector.size).toBe(7);
    expect(reflector.get('ns-3')).toEqual({ index: '3' });
    await eventually(() => kube.openWatches === 1, 'a watch');
    kube.put(NAMESPACES, namespace('payments', { 'canopy.io/data-class': 'restricted' }));
    kube.put(NAMESPACES, namespace('ns-3', { index: 'three' }));
    kube.remove(NAMESPACES, 'ns-4');
    await eventually(() => reflector.get('payments') !== undefined && reflector.get('ns-4') === undefined, 'watch events');
    expect(reflector.get('payments')).toEqual({ 'canopy.io/data-class': 'restricted' });
    expect(reflector.get('ns-3')).toEqual({ index: 'three' });
    expect(kube.count(`GET ${NAMESPACES}?limit=`)).toBe(1);
  });

  it('resumes a dropped watch from the last resource version, without listing again', async () => {
    reflector.start();
    await reflector.waitForSync();
    await eventually(() => kube.openWatches === 1, 'a watch');
    kube.put(NAMESPACES, namespace('before-drop'));
    await eventually(() => reflector.get('before-drop') !== undefined, 'the first event');
    kube.dropWatches();
    kube.put(NAMESPACES, namespace('while-away'));
    await eventually(() => reflector.get('while-away') !== undefined, 'the event sent while the watch was down');
    expect(reflector.stats.lists).toBe(1);
    expect(reflector.stats.watches).toBe(2);
    const resumed = kube.requests.filter((r) => r.includes('watch=true')).at(-1) ?? '';
    expect(Number(new URLSearchParams(resumed.split('?')[1]).get('resourceVersion'))).toBeGreaterThan(100);
  });

  it.each(['http', 'event'] as const)('relists after 410 Gone sent as %s, and drops objects deleted meanwhile', async (goneAs) => {
    kube.goneAs = goneAs;
    reflector.start();
    await reflector.waitForSync();
    await eventually(() => kube.openWatches === 1, 'a watch');
    // While the watch is down, history is compacted and a namespace is deleted: the deletion event is lost.
    kube.dropWatches();
    kube.remove(NAMESPACES, 'ns-0');
    kube.put(NAMESPACES, namespace('created-meanwhile'));
    kube.compact();
    await eventually(() => reflector.stats.lists === 2, 'a relist');
    await eventually(() => reflector.get('created-meanwhile') !== undefined, 'the relisted state');
    expect(reflector.get('ns-0')).toBeUndefined();
    expect(reflector.stats.relistsAfterGone).toBeGreaterThanOrEqual(1);
  });

  it('retries with backoff while the API server refuses, and syncs when it answers', async () => {
    kube.hang.add('/nothing'); // keep the server up
    const refusing = new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() }));
    const broken = new Reflector(refusing, { path: '/api/v1/not-served', name: 'missing', project: () => ({}), initialBackoffMs: 10, maxBackoffMs: 40 }, createLogger(log.stream));
    broken.start();
    await eventually(() => broken.stats.errors >= 3, 'several failed attempts');
    expect(broken.synced).toBe(false);
    expect(broken.lastError).toContain('404');
    kube.collection('/api/v1/not-served');
    await broken.waitForSync();
    broken.stop();
  });
});
