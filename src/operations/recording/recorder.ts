// `canopy serve --record-requests DIR`: an opt-in log of the AdmissionReviews the webhooks judged, for
// `canopy impact` to replay. Neither Secret payloads nor environment values reach it; before writing,
// in `object` and `oldObject`:
// - a Secret's data and stringData values, and its last-applied-configuration annotation (which holds a
//   copy of them), are replaced;
// - the `value` of every `env` entry of every container, init container and ephemeral container is
//   replaced, in a pod spec wherever one sits (`spec` of a Pod, `spec.template.spec` of a Deployment,
//   StatefulSet, DaemonSet, ReplicaSet, Job or ReplicationController, `spec.jobTemplate.spec.template.spec`
//   of a CronJob, `template.spec` of a PodTemplate), and likewise inside a last-applied-configuration
//   annotation holding such an object (replaced whole when it is not JSON).
// Keys and env names are kept, so a replayed request has the shape of the original. Reviews come from
// the network: any part may be missing or of the wrong type, and redaction never throws.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../decision-log/index.js';
import { redactSecrets } from '../../kubernetes/objects/redact.js';

export { REDACTED, redactObject, redactSecrets } from '../../kubernetes/objects/redact.js';

/** Beyond this many bytes waiting to be written, records are dropped (and counted) rather than buffered. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

export class RequestRecorder {
  private dropped = 0;

  private constructor(
    readonly file: string,
    private readonly stream: WriteStream,
    private readonly logger: Logger,
  ) {
    stream.on('error', (error) => logger.error({ err: error, file }, 'request recording failed; no more requests are recorded'));
  }

  /** Opens `dir/requests-<time>-<pid>.jsonl` for appending; throws when the folder cannot be made. */
  static open(dir: string, logger: Logger): RequestRecorder {
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `requests-${stamp}-${process.pid}.jsonl`);
    return new RequestRecorder(file, createWriteStream(file, { flags: 'a', mode: 0o600 }), logger);
  }

  /** Never throws: recording must not fail the request it records. */
  record(endpoint: 'validate' | 'mutate', review: unknown): void {
    if (this.stream.destroyed) return;
    if (this.stream.writableLength > MAX_PENDING_BYTES) {
      this.dropped += 1;
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.logger.warn({ file: this.file, dropped: this.dropped }, 'request recording cannot keep up; dropping records');
      }
      return;
    }
    try {
      this.stream.write(`${JSON.stringify({ time: new Date().toISOString(), endpoint, review: redactSecrets(review) })}\n`);
    } catch (error) {
      this.logger.error({ err: error }, 'could not record a request');
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
