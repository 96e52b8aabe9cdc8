// Keeps the cluster's identity current without a restart: the ClusterProperty objects and the configured
// ClusterProfile are followed by reflectors (list, then watch), and the identity is merged again from
// the config and the last reading of each source whenever one of them changes.
//
// A source that fails keeps its last reading: a broken ClusterProperty watch, a ClusterProfile deleted or
// forbidden must not take facts away (an environment that requires digests, a jurisdiction) meanwhile.
// A source whose CRD is not installed (404) is no source, listed again now and then to find it later.
import type { Logger } from '../../operations/decision-log/index.js';
import { keyOf, Reflector, type KubeClient } from '../../sources/kube/index.js';
import type { FleetConfig } from './config.js';
import {
  clusterProfilesPath,
  clusterProperties,
  clusterPropertiesPath,
  describeChange,
  identityChanges,
  identityFromConfig,
  mergeIdentity,
  profileProperties,
  propertyValue,
  type DiscoveredIdentity,
  type IdentityChange,
  type SourceProperties,
} from './identity.js';
import { inBackground, messageOf } from '../../operations/errors/index.js';

/** How often a source whose CRD is not installed is listed again. */
export const CRD_RECHECK_MS = 60_000;

export interface IdentityWatchOptions {
  /** See CRD_RECHECK_MS. */
  crdRecheckMs?: number;
  /** The reflectors' first backoff after an error (doubled up to 30 s). */
  initialBackoffMs?: number;
}

/** How one followed source is doing, for /status. */
export interface IdentitySourceWatch {
  synced: boolean;
  objects: number;
  lastError?: string;
  /** The API server does not serve the kind (its CRD is not installed): listed again every so often. */
  notServed?: string;
  /** The ClusterProfile cannot be listed and watched (RBAC): it is read with GET at each retry instead. */
  readWithGet?: boolean;
}

export interface IdentityStatus extends DiscoveredIdentity {
  /** The sources followed for changes, by what the start-up line calls them. */
  watching?: Record<string, IdentitySourceWatch>;
  /** The last change seen after start, as the log line said it. */
  lastChange?: { at: string; changes: string[] };
}

/** Resolves once, from any of several places. */
function settled(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export class IdentityWatch {
  private current: DiscoveredIdentity;
  private readonly properties?: Reflector<[string, string]>;
  private readonly profile?: Reflector<[string, string][]>;
  private readonly profileRef?: { object: string; path: string };
  /** The ClusterProfile's properties as last read: kept while it is deleted, forbidden or unreachable. */
  private profileRead: [string, string][] | undefined;
  /** Why the last GET of the ClusterProfile (the fallback without list/watch permission) failed. */
  private profileGetError: string | undefined;
  /** Whether the fallback GET is in use: the last list/watch of the ClusterProfile was forbidden (403). */
  private profileForbidden = false;
  private profileGetInFlight = false;
  private readonly propertiesSettled = settled();
  private readonly profileSettled = settled();
  private recomputeQueued = false;
  private started = false;
  private stopped = false;
  private lastChange: IdentityStatus['lastChange'];
  private readonly crdRecheckMs: number;

  constructor(
    private readonly config: FleetConfig,
    private readonly client: KubeClient,
    private readonly logger: Logger,
    options: IdentityWatchOptions = {},
  ) {
    this.current = identityFromConfig(config);
    const recheck = options.crdRecheckMs ?? CRD_RECHECK_MS;
    this.crdRecheckMs = recheck;
    const backoff = options.initialBackoffMs !== undefined ? { initialBackoffMs: options.initialBackoffMs } : {};
    if (config.cluster.clusterProperties) {
      this.properties = new Reflector<[string, string]>(
        client,
        {
          path: clusterPropertiesPath,
          name: 'clusterproperties',
          project: (object) => [keyOf(object), propertyValue(object)],
          onChange: () => this.queueRecompute(),
          onError: () => this.propertiesSettled.resolve(),
          notFoundRecheckMs: recheck,
          ...backoff,
        },
        logger,
      );
      inBackground(this.properties.waitForSync().then(this.propertiesSettled.resolve), (error) => this.logger.error({ reason: messageOf(error) }, 'ClusterProperty informer failed'));
    } else {
      this.propertiesSettled.resolve();
    }
    const profile = config.cluster.clusterProfile;
    if (profile) {
      const object = `${profile.namespace}/${profile.name}`;
      const collection = clusterProfilesPath(profile.namespace);
      this.profileRef = { object, path: `${collection}/${encodeURIComponent(profile.name)}` };
      this.profile = new Reflector<[string, string][]>(
        client,
        {
          // Only this one object: RBAC can grant list and watch on it by resourceNames.
          path: `${collection}?${new URLSearchParams({ fieldSelector: `metadata.name=${profile.name}` })}`,
          name: `clusterprofile ${object}`,
          project: profileProperties,
          onChange: (key, _before, after) => {
            if (key === object && after) this.profileRead = after;
            this.queueRecompute();
          },
          onError: (error, status) => {
            this.profileForbidden = status === 403;
            if (this.profileForbidden) inBackground(this.getProfile(error), (failure) => this.logger.error({ reason: messageOf(failure) }, 'ClusterProfile read failed'));
            else this.profileSettled.resolve();
          },
          notFoundRecheckMs: recheck,
          ...backoff,
        },
        logger,
      );
      inBackground(
        this.profile.waitForSync().then(() => {
          this.profileForbidden = false;
          this.profileSettled.resolve();
        }),
        (error) => this.logger.error({ reason: messageOf(error) }, 'ClusterProfile informer failed'),
      );
    } else {
      this.profileSettled.resolve();
    }
  }

  /** The identity now: what each request is judged with. */
  get identity(): DiscoveredIdentity {
    return this.current;
  }

  /**
   * Starts following the sources; resolves once each has been read or has failed once, so that the
   * start-up line shows what could be read. Sources that failed are retried with backoff.
   */
  async start(): Promise<void> {
    this.properties?.start();
    this.profile?.start();
    await Promise.all([this.propertiesSettled.promise, this.profileSettled.promise]);
    if (this.stopped) return;
    this.recompute();
    this.started = true;
    for (const problem of this.problems()) this.logger.warn({ problem }, 'cluster identity source unavailable; using the others');
  }

  stop(): void {
    this.stopped = true;
    this.properties?.stop();
    this.profile?.stop();
    this.propertiesSettled.resolve();
    this.profileSettled.resolve();
  }

  status(): IdentityStatus {
    const watching: Record<string, IdentitySourceWatch> = {};
    const recheck = (reflector: { notServed: boolean }) =>
      reflector.notServed ? { notServed: `not served by the API server (its CRD is not installed?): listed again every ${this.crdRecheckMs >= 1000 ? `${Math.round(this.crdRecheckMs / 1000)} s` : `${this.crdRecheckMs} ms`}` } : {};
    if (this.properties) {
      const r = this.properties;
      watching['ClusterProperty objects'] = { synced: r.synced, objects: r.size, ...(r.lastError ? { lastError: r.lastError } : {}), ...recheck(r) };
    }
    if (this.profile && this.profileRef) {
      const r = this.profile;
      watching[`ClusterProfile ${this.profileRef.object}`] = {
        synced: r.synced,
        objects: r.size,
        ...(r.lastError ? { lastError: r.lastError } : {}),
        ...recheck(r),
        ...(this.profileForbidden && r.lastError ? { readWithGet: true } : {}),
      };
    }
    return { ...this.current, problems: this.problems(), watching, ...(this.lastChange ? { lastChange: this.lastChange } : {}) };
  }

  /** What cannot be read now, and what is used instead. */
  problems(): string[] {
    const problems: string[] = [];
    const properties = this.properties;
    if (properties?.lastError) {
      problems.push(
        properties.synced
          ? `ClusterProperty objects could not be watched: ${properties.lastError}; keeping the ${properties.size} read before`
          : `ClusterProperty objects could not be read: ${properties.lastError}`,
      );
    }
    const profile = this.profile;
    const ref = this.profileRef;
    if (profile && ref) {
      const keeping = this.profileRead ? '; keeping the properties read before' : '';
      if (profile.lastError && this.profileForbidden) {
        if (this.profileGetError) problems.push(`ClusterProfile ${ref.object} could not be read: ${this.profileGetError}${keeping}`);
        else problems.push(`ClusterProfile ${ref.object} cannot be listed and watched (${profile.lastError}): read with GET at each retry instead, so its changes are seen late`);
      } else if (profile.lastError) {
        problems.push(`ClusterProfile ${ref.object} could not be ${profile.synced ? 'watched' : 'read'}: ${profile.lastError}${keeping}`);
      } else if (profile.synced && !profile.get(ref.object)) {
        problems.push(`ClusterProfile ${ref.object} not found${profile.notServed ? ' (the ClusterProfile CRD is not installed)' : ''}${keeping}`);
      }
    }
    return problems;
  }

  /** Without list and watch permission on ClusterProfiles: a GET at each of the reflector's retries (every 30 s at most). */
  private async getProfile(refused: Error): Promise<void> {
    const ref = this.profileRef;
    if (!ref || this.profileGetInFlight || this.stopped) return;
    if (!this.profileRead && this.profileGetError === undefined) {
      this.logger.warn(
        { clusterProfile: ref.object, err: refused.message },
        'the ClusterProfile cannot be listed and watched: reading it with GET at each retry instead; grant list and watch on it to see its changes within seconds',
      );
    }
    this.profileGetInFlight = true;
    try {
      const found = await this.client.getJson<Record<string, unknown>>(ref.path);
      this.profileRead = profileProperties(found);
      this.profileGetError = undefined;
    } catch (error) {
      this.profileGetError = messageOf(error);
    } finally {
      this.profileGetInFlight = false;
    }
    if (this.stopped) return;
    this.queueRecompute();
    this.profileSettled.resolve();
  }

  /** One merge for a burst of changes (a relist sets every object): after the current task. */
  private queueRecompute(): void {
    if (this.recomputeQueued) return;
    this.recomputeQueued = true;
    queueMicrotask(() => {
      this.recomputeQueued = false;
      if (!this.stopped) this.recompute();
    });
  }

  private recompute(): void {
    const sources: SourceProperties[] = [];
    if (this.properties) sources.push({ source: 'ClusterProperty', properties: clusterProperties(this.properties.values()) });
    if (this.profileRef && this.profileRead) sources.push({ source: 'ClusterProfile', object: this.profileRef.object, properties: this.profileRead });
    const next = mergeIdentity(this.config, sources);
    const changes: IdentityChange[] = identityChanges(this.current, next);
    if (changes.length === 0) return;
    this.current = next;
    // Before start() returns, the start-up line says what was read; after, every change is logged.
    if (!this.started) return;
    const described = changes.map(describeChange);
    this.lastChange = { at: new Date().toISOString(), changes: described };
    this.logger.info({ changes, identity: next.identity }, `cluster identity changed: ${described.join('; ')}`);
  }
}
