// A webhook's bundle lifecycle (OPA's plugins/bundle, with anti-rollback): poll the store with
// jittered delay and exponential backoff; verify the signature and every file; refuse a revision
// created before the active one; validate, preparse and warm up; then swap atomically. The last good
// bundle is kept on disk and re-verified at start, so a webhook restarts while the store is down.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../decision-log/index.js';
import { checkPolicySet, policySourceFromFiles } from '../policy-set/index.js';
import type { AdmissionPipeline } from '../pipeline/index.js';
import { verifyBundle } from './format.js';
import { StoreAnswerRefused, type BundleSource } from './sources.js';

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
}

export class BundleSync {
  private etag: string | undefined;
  /** The reason the store's current bundle (by its ETag) was refused: a 304 for it is still a refusal. */
  private refusal: { etag: string; message: string } | undefined;
  private statusValue: BundleStatus;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly file: string;

  constructor(
    private readonly source: BundleSource,
    private readonly keys: readonly KeyObject[],
    private readonly pipeline: AdmissionPipeline,
    private readonly options: BundleSyncOptions,
  ) {
    this.statusValue = { source: source.description };
    this.file = path.join(options.stateDir, 'bundle', 'active.tar.gz');
  }

  status(): BundleStatus {
    const last = this.statusValue.lastSuccessfulCheckAt;
    return { ...this.statusValue, ...(last ? { stalenessSeconds: Math.round((Date.now() - Date.parse(last)) / 1000) } : {}) };
  }

  /** Restores the last good bundle from disk, checks the store once, then keeps polling. */
  async start(): Promise<void> {
    await this.restore();
    await this.check();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const base = this.options.intervalMs ?? 30_000;
    const backoff = Math.min(base * 2 ** this.failures, this.options.maxBackoffMs ?? 5 * 60_000);
    const delay = Math.round(backoff * (0.8 + Math.random() * 0.4)); // jitter: replicas do not poll in step
    this.timer = setTimeout(() => void this.check().finally(() => this.schedule()), delay);
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
      this.options.logger.warn({ file: this.file, reason: (error as Error).message }, 'the persisted bundle was refused');
    }
  }

  /** One poll of the store. Never throws: every outcome is in the status. */
  async check(): Promise<void> {
    let fetched;
    try {
      fetched = await this.source.fetch(this.etag);
    } catch (error) {
      this.failures += 1;
      // An answer that cannot be a bundle (over the size cap) is refused; polls still back off, since
      // every attempt costs the store and the webhook a download.
      this.record(error instanceof StoreAnswerRefused ? 'refused' : 'unreachable', (error as Error).message);
      return;
    }
    this.failures = 0;
    if (!fetched.changed) {
      // Still the bundle that was refused: /status keeps saying so, and why, rather than "unchanged".
      if (this.refusal && this.refusal.etag === this.etag) this.record('refused', this.refusal.message);
      else this.record('unchanged');
      return;
    }
    this.etag = fetched.etag;
    this.refusal = undefined;
    try {
      const activated = await this.activate(fetched.bytes, 'store');
      this.record(activated ? 'activated' : 'unchanged', activated ? `revision ${this.statusValue.active?.revision}` : undefined);
    } catch (error) {
      const message = (error as Error).message;
      if (fetched.etag) this.refusal = { etag: fetched.etag, message };
      this.record('refused', message);
    }
  }

  /** Verifies and activates; false when it is the active revision already. Throws with the reason. */
  private async activate(bytes: Buffer, from: 'store' | 'disk'): Promise<boolean> {
    const bundle = await verifyBundle(bytes, this.keys);
    const { manifest } = bundle;
    const active = this.statusValue.active;
    if (active) {
      if (manifest.revision === active.revision) return false;
      if (Date.parse(manifest.createdAt) < Date.parse(active.createdAt)) {
        throw new Error(
          `revision ${manifest.revision} was created ${manifest.createdAt}, before the active revision ${active.revision} (${active.createdAt}): refusing to roll back`,
        );
      }
    }
    const checked = checkPolicySet(policySourceFromFiles(bundle.files, `bundle:${manifest.revision}`));
    await this.pipeline.activate({ ...checked, revision: manifest.revision });
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

  private async persist(bytes: Buffer): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, bytes, { mode: 0o600 });
    await rename(temporary, this.file);
  }
}
