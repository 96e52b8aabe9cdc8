// A webhook's bundle lifecycle (OPA's plugins/bundle, with anti-rollback): poll the store with
// jittered delay and exponential backoff; verify the signature and every file; refuse a revision
// created before the active one; validate, preparse and warm up; then swap atomically. The last good
// bundle is kept on disk and re-verified at start, so a webhook restarts while the store is down.
// Before a swap the bundle must also be for this webhook (its channel, its cluster), not dated in the
// future, and sane: it passes its own tests, is not empty, and allows the canary requests (unless its
// signed manifest says it means to be empty or to deny them).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../../operations/decision-log/index.js';
import { checkPolicySet, policySourceFromFiles, type CheckedPolicySet } from '../../policy/set/index.js';
import type { ClusterIdentity } from '../../kubernetes/objects/fleet.js';
import { AdmissionPipeline, summarizeAdmission } from '../../pipeline/index.js';
import { syntheticReview } from '../../kubernetes/admission/index.js';
import { runPolicyTestsFromFiles } from '../../policy/tests/index.js';
import { audienceRefusal } from './audience.js';
import { verifyBundle, type BundleManifest } from './format.js';
import { StoreAnswerRefused, type BundleSource } from './sources.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';
import { Poller, type PollOutcome } from '../../operations/poll/index.js';

export interface CheckResult {
  at: string;
  result: 'unchanged' | 'activated' | 'refused' | 'unreachable';
  message?: string;
}

export interface BundleStatus {
  source: string;
  active?: { revision: string; createdAt: string; sourceCommit?: string; keyId: string; activatedAt: string; from: 'store' | 'disk' };
  lastCheck?: CheckResult;
  lastSuccessfulCheckAt?: string;
  /** Seconds since the store last answered: how stale the active bundle may be. */
  stalenessSeconds?: number;
}

export interface BundleSyncOptions {
  stateDir: string;
  intervalMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
  /** bundle.channel: only bundles whose signed audience names this channel; without it, only bundles without a channel. */
  channel?: string;
  /** The cluster's identity now, which a bundle's cluster selector must match. */
  identity?: () => ClusterIdentity;
  /** A bundle created further in the future than this is refused (default 5 minutes). */
  maxClockSkewMs?: number;
  /** Requests every bundle must allow, unless its manifest says allowCanaryDenials (default DEFAULT_CANARIES). */
  canaries?: readonly Canary[];
}

/** A request a sane policy set allows: the object, created by an ordinary user, in a namespace with these labels. */
export interface Canary {
  object: Record<string, unknown>;
  namespaceLabels?: Record<string, string>;
}

/** What the shipped policies allow, and a set that denies everything would not: a ConfigMap, and a plain compliant Pod in a team's namespace. */
export const DEFAULT_CANARIES: readonly Canary[] = [
  { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'canopy-canary', namespace: 'default' }, data: { canary: 'true' } } },
  {
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'canopy-canary', namespace: 'canopy-canary', labels: { app: 'canopy-canary' } },
      spec: {
        containers: [{ name: 'app', image: 'nginx:1.25', resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } } }],
      },
    },
    namespaceLabels: { team: 'platform' },
  },
];

/** A refusal by the bundle's cluster selector, which a later change of the cluster's identity may lift. */
class NotForThisCluster extends CanopyError {
  constructor(message: string) {
    super('bundle-not-for-this-cluster', message);
  }
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

const describeCanary = (canary: Canary): string => {
  const metadata = (canary.object['metadata'] ?? {}) as { name?: unknown; namespace?: unknown };
  return `${String(canary.object['kind'])} ${typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : ''}${String(metadata.name)}`;
};

export class BundleSync {
  private etag: string | undefined;
  /** The reason the store's current bundle (by its ETag) was refused: a 304 for it is still a refusal. */
  private refusal: { etag: string; message: string; retry?: Buffer } | undefined;
  private statusValue: BundleStatus;
  /** Polls of the store after the first: jittered, so replicas do not poll in step, and backing off after failures. */
  private readonly poller: Poller;
  private readonly file: string;
  /** Where a candidate runs its tests and canaries before it is activated; one, so that its slots are reused. */
  private readonly trial = new AdmissionPipeline();

  constructor(
    private readonly source: BundleSource,
    private readonly keys: readonly KeyObject[],
    private readonly pipeline: AdmissionPipeline,
    private readonly options: BundleSyncOptions,
  ) {
    this.statusValue = { source: source.description };
    this.file = path.join(options.stateDir, 'bundle', 'active.tar.gz');
    this.poller = new Poller({
      intervalMs: options.intervalMs ?? 30_000,
      backoffMaxMs: options.maxBackoffMs ?? 5 * 60_000,
      jitter: 0.2,
      run: () => this.check(),
      onError: (error) => options.logger.error({ reason: messageOf(error) }, 'bundle check failed'),
    });
  }

  status(): BundleStatus {
    const last = this.statusValue.lastSuccessfulCheckAt;
    return { ...this.statusValue, ...(last ? { stalenessSeconds: Math.round((Date.now() - Date.parse(last)) / 1000) } : {}) };
  }

  /** Restores the last good bundle from disk, checks the store once, then keeps polling. */
  async start(): Promise<void> {
    await this.restore();
    await this.check();
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  private record(result: CheckResult['result'], message?: string): void {
    const at = new Date().toISOString();
    this.statusValue.lastCheck = { at, result, ...(message ? { message } : {}) };
    if (result !== 'unreachable') this.statusValue.lastSuccessfulCheckAt = at;
    const log = { bundle: this.source.description, result, ...(message ? { reason: message } : {}) };
    if (result === 'refused' || result === 'unreachable') this.options.logger.warn(log, 'bundle check');
    else if (result === 'activated') this.options.logger.info(log, 'bundle check');
  }

  private async restore(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch {
      return;
    }
    try {
      await this.activate(bytes, 'disk');
    } catch (error) {
      this.options.logger.warn({ file: this.file, reason: messageOf(error) }, 'the persisted bundle was refused');
    }
  }

  /** One poll of the store. Never throws: every outcome is in the status; 'failed' (polls back off) when the fetch failed. */
  async check(): Promise<PollOutcome> {
    let fetched;
    try {
      fetched = await this.source.fetch(this.etag);
    } catch (error) {
      // An answer that cannot be a bundle (over the size cap) is refused; polls still back off, since
      // every attempt costs the store and the webhook a download.
      this.record(error instanceof StoreAnswerRefused ? 'refused' : 'unreachable', messageOf(error));
      return 'failed';
    }
    if (!fetched.changed) {
      // Still the bundle that was refused: /status keeps saying so, and why, rather than "unchanged".
      const refusal = this.refusal && this.refusal.etag === this.etag ? this.refusal : undefined;
      // Refused as not for this cluster: the cluster's identity may have changed since, so judge it again.
      if (refusal?.retry) await this.tryActivate(refusal.retry, refusal.etag);
      else if (refusal) this.record('refused', refusal.message);
      else this.record('unchanged');
      return 'ok';
    }
    this.etag = fetched.etag;
    await this.tryActivate(fetched.bytes, fetched.etag);
    return 'ok';
  }

  private async tryActivate(bytes: Buffer, etag: string): Promise<void> {
    this.refusal = undefined;
    try {
      const activated = await this.activate(bytes, 'store');
      this.record(activated ? 'activated' : 'unchanged', activated ? `revision ${this.statusValue.active?.revision}` : undefined);
    } catch (error) {
      const message = messageOf(error);
      if (etag) this.refusal = { etag, message, ...(error instanceof NotForThisCluster ? { retry: bytes } : {}) };
      this.record('refused', message);
    }
  }

  /** Verifies and activates; false when it is the active revision already. Throws with the reason. */
  private async activate(bytes: Buffer, from: 'store' | 'disk'): Promise<boolean> {
    const bundle = await verifyBundle(bytes, this.keys);
    const { manifest } = bundle;
    // Before anti-rollback: a bundle dated in the future must never become what later ones are compared with.
    const skew = this.options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    if (Date.parse(manifest.createdAt) > Date.now() + skew) {
      throw new Error(
        `revision ${manifest.revision} was created ${manifest.createdAt}, more than ${Math.round(skew / 1000)} s in the future (bundle.maxClockSkewSeconds): refusing it, so that it cannot make every later bundle look like a rollback`,
      );
    }
    const notForUs = audienceRefusal(manifest.audience, this.options.channel, this.options.identity?.());
    if (notForUs) {
      const message = `revision ${manifest.revision} is not for this webhook: ${notForUs}`;
      throw manifest.audience?.clusters ? new NotForThisCluster(message) : new Error(message);
    }
    const active = this.statusValue.active;
    if (active) {
      if (manifest.revision === active.revision) return false;
      if (Date.parse(manifest.createdAt) < Date.parse(active.createdAt)) {
        throw new Error(
          `revision ${manifest.revision} was created ${manifest.createdAt}, before the active revision ${active.revision} (${active.createdAt}): refusing to roll back`,
        );
      }
    }
    const checked = { ...checkPolicySet(policySourceFromFiles(bundle.files, `bundle:${manifest.revision}`)), revision: manifest.revision };
    if (Object.keys(checked.texts).length === 0 && !manifest.allowEmpty) {
      throw new Error(`revision ${manifest.revision} has no validating policies: refusing an empty set (build it with --allow-empty if that is meant)`);
    }
    await this.trial.activate(checked);
    await this.runOwnTests(manifest, bundle.files, checked);
    this.checkCanaries(manifest);
    await this.pipeline.activate(checked);
    this.statusValue.active = {
      revision: manifest.revision,
      createdAt: manifest.createdAt,
      ...(manifest.sourceCommit ? { sourceCommit: manifest.sourceCommit } : {}),
      keyId: bundle.keyId,
      activatedAt: new Date().toISOString(),
      from,
    };
    if (from === 'store') await this.persist(bytes);
    return true;
  }

  /** The bundle's own `*.test.yaml` cases, against the candidate set: the first failures are named. */
  private async runOwnTests(manifest: BundleManifest, files: ReadonlyMap<string, string>, set: CheckedPolicySet): Promise<void> {
    const suite = await runPolicyTestsFromFiles(files, this.trial, set);
    const failed = suite.results.filter((r) => !r.passed);
    const problems = suite.problems.map((p) => `${p.position.file.replace(/^\/policy-set\//, '')}:${p.position.line}: ${p.message}`);
    if (failed.length === 0 && problems.length === 0) return;
    const cases = failed.slice(0, 3).map((r) => {
      const file = r.testCase.file.replace(/^\/policy-set\//, '');
      return `"${r.testCase.name}" (${file}:${r.testCase.line}): ${r.error ?? r.failures.join('; ')}`;
    });
    const more = failed.length > 3 ? `; and ${failed.length - 3} more` : '';
    throw new Error(
      `revision ${manifest.revision} fails its own tests (${failed.length} of ${suite.results.length} cases${problems.length > 0 ? `, ${problems.length} unreadable` : ''}): ${[...cases, ...problems.slice(0, 3)].join('; ')}${more}`,
    );
  }

  /** Refuses a set that denies a canary request, unless its manifest says it means to. */
  private checkCanaries(manifest: BundleManifest): void {
    if (manifest.allowCanaryDenials) return;
    const cluster = this.options.identity?.();
    for (const [index, canary] of (this.options.canaries ?? DEFAULT_CANARIES).entries()) {
      const review = syntheticReview({
        uid: `bundle-canary-${index}`,
        operation: 'CREATE',
        userInfo: { username: 'canopy:bundle-canary', groups: ['system:authenticated'] },
        object: canary.object,
        oldObject: null,
        dryRun: false,
      });
      const outcome = summarizeAdmission(this.trial.admit(review, { ...(cluster ? { cluster } : {}), ...(canary.namespaceLabels ? { namespaceLabels: canary.namespaceLabels } : {}) }));
      if (!outcome.allowed) {
        throw new Error(
          `revision ${manifest.revision} denies the canary request ${describeCanary(canary)}` +
            `${outcome.denied.length > 0 ? ` (denied by ${outcome.denied.join(', ')})` : ''}${outcome.message ? `: ${outcome.message}` : ''}` +
            ': refusing a set that would deny ordinary requests (build it with --allow-canary-denials if that is meant)',
        );
      }
    }
  }

  private async persist(bytes: Buffer): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, bytes, { mode: 0o600 });
    await rename(temporary, this.file);
  }
}
