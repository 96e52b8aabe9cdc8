// For development: a local policy directory reloaded when its files change. The directory is read
// every interval and its content compared; a change that does not validate is refused (and shown in
// /status) while the active set keeps serving.
import { createHash } from 'node:crypto';
import { checkPolicySet, policyFilesOf, policySourceFromFiles } from '../../policy/set/index.js';
import type { Logger } from '../../operations/decision-log/index.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import { messageOf } from '../../operations/errors/index.js';
import { Poller } from '../../operations/poll/index.js';

export interface DirectoryStatus {
  dir: string;
  lastReload?: { at: string; result: 'activated' | 'refused'; revision?: string; message?: string };
}

/**
 * A digest of every file's name and content. Not the files as one JSON text: that was a string the size
 * of the whole directory (150 kB for the shipped policies) made every second on the event loop, large
 * enough for V8 to put it straight into the old generation.
 */
function fingerprintOf(files: ReadonlyMap<string, string>): string {
  const hash = createHash('sha256');
  for (const [name, text] of files) hash.update(`${name.length}:${name}${text.length}:`).update(text);
  return hash.digest('hex');
}

export class PolicyDirectoryWatcher {
  private fingerprint = '';
  private readonly poller: Poller;
  private statusValue: DirectoryStatus;

  constructor(
    private readonly dir: string,
    private readonly pipeline: AdmissionPipeline,
    private readonly logger: Logger,
    intervalMs = 1000,
  ) {
    this.statusValue = { dir };
    this.poller = new Poller({ intervalMs, run: () => this.check(), onError: (error) => this.logger.error({ dir: this.dir, reason: messageOf(error) }, 'policy directory check failed') });
  }

  status(): DirectoryStatus {
    return this.statusValue;
  }

  /** Starts watching from the files as they are now (already activated by the caller). */
  async start(): Promise<void> {
    this.fingerprint = fingerprintOf(await policyFilesOf(this.dir));
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  async check(): Promise<void> {
    let files;
    try {
      files = await policyFilesOf(this.dir);
    } catch (error) {
      this.refused(messageOf(error));
      return;
    }
    const fingerprint = fingerprintOf(files);
    if (fingerprint === this.fingerprint) return;
    this.fingerprint = fingerprint;
    try {
      const set = await this.pipeline.activate(checkPolicySet(policySourceFromFiles(files, this.dir)));
      this.statusValue.lastReload = { at: new Date().toISOString(), result: 'activated', revision: set.revision };
      this.logger.info({ dir: this.dir, revision: set.revision }, 'policy directory reloaded');
    } catch (error) {
      this.refused(messageOf(error));
    }
  }

  private refused(message: string): void {
    this.statusValue.lastReload = { at: new Date().toISOString(), result: 'refused', message };
    this.logger.warn({ dir: this.dir, reason: message }, 'policy directory change refused; the active set keeps serving');
  }
}
