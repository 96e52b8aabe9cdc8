// Where policies come from: signed bundles (nothing serves until one is verified) or a watched directory.
import { readFile } from 'node:fs/promises';
import type { CanopyConfig } from '../operations/config/index.js';
import type { Logger } from '../operations/decision-log/index.js';
import { bundleSource, BundleSync, PolicyDirectoryWatcher, readPublicKeys } from '../sources/bundle/index.js';
import { ConfigError, type FleetContext } from '../facts/fleet/index.js';
import { describeSet, loadPolicyDirectory } from '../policy/set/index.js';
import { isPolicyProblem, type AdmissionPipeline } from '../pipeline/index.js';

export interface PolicySource {
  sync?: BundleSync;
  watcher?: PolicyDirectoryWatcher;
  /** The store's client, to close when Canopy stops. */
  store?: { close(): Promise<void> };
  /** One line for the start-up output. */
  summary: string;
}

export async function policySource(config: CanopyConfig, pipeline: AdmissionPipeline, fleet: FleetContext, logger: Logger): Promise<PolicySource> {
  const bundle = config.bundle;
  if (bundle) {
    const keyFiles = await Promise.all(bundle.publicKeyFiles.map((file) => readFile(file, 'utf8')));
    const keys = readPublicKeys([...keyFiles, ...bundle.publicKeys]);
    const source = bundleSource(bundle.url, {
      ...(bundle.token ? { token: bundle.token } : {}),
      ...(bundle.caFile ? { ca: await readFile(bundle.caFile, 'utf8') } : {}),
      registries: fleet.config.registries,
      longPollSeconds: bundle.longPollSeconds,
    });
    const sync = new BundleSync(source, keys, pipeline, {
      stateDir: config.stateDir,
      intervalMs: bundle.intervalSeconds * 1000,
      logger,
      // A bundle's audience is judged against the channel and the cluster's identity at each check.
      ...(bundle.channel ? { channel: bundle.channel } : {}),
      identity: () => fleet.cluster,
      maxClockSkewMs: bundle.maxClockSkewSeconds * 1000,
      ...(bundle.canaries ? { canaries: bundle.canaries } : {}),
    });
    const audience = bundle.channel ? `channel ${bundle.channel}` : 'bundles that name no channel';
    return { sync, store: source, summary: `policies from signed bundles at ${bundle.url} (${audience}): not ready until one is verified, passes its tests and canaries, and is active` };
  }
  let set;
  try {
    set = await pipeline.activate(await loadPolicyDirectory(config.policies));
  } catch (error) {
    if (isPolicyProblem(error)) throw new ConfigError(config.policies, error.message);
    throw error;
  }
  const watcher = new PolicyDirectoryWatcher(config.policies, pipeline, logger);
  await watcher.start();
  return { watcher, summary: `policy set ${set.revision} (${describeSet(set)}; from ${config.policies}) is active; reloaded when its files change` };
}
