// `canopy serve --record-requests DIR`: an opt-in log of the AdmissionReviews the webhooks judged, for
// `canopy impact` to replay. Secret payloads never reach it: a Secret's data, stringData and the
// last-applied-configuration annotation (which holds a copy of them) are replaced before writing.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../decision-log/index.js';
import { isRecord } from '../translate/json.js';

export const REDACTED = '<redacted>';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Beyond this many bytes waiting to be written, records are dropped (and counted) rather than buffered. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

type Json = Record<string, unknown>;

function redactSecretObject(object: unknown): unknown {
  if (!isRecord(object)) return object;
  const copy: Json = { ...object };
  for (const field of ['data', 'stringData']) {
    const values = copy[field];
    if (isRecord(values)) copy[field] = Object.fromEntries(Object.keys(values).map((key) => [key, REDACTED]));
  }
  const metadata = copy['metadata'];
  if (isRecord(metadata) && isRecord(metadata['annotations']) && LAST_APPLIED in metadata['annotations']) {
    copy['metadata'] = { ...metadata, annotations: { ...metadata['annotations'], [LAST_APPLIED]: REDACTED } };
  }
  return copy;
}

/** A copy of the review with any Secret's payload replaced; other reviews come back as they are. */
export function redactSecrets(review: unknown): unknown {
  if (!isRecord(review) || !isRecord(review['request'])) return review;
  const request = review['request'];
  const kind = request['kind'];
  const isSecret = isRecord(kind) && kind['group'] === '' && kind['kind'] === 'Secret';
  if (!isSecret) return review;
  return {
    ...review,
    request: { ...request, object: redactSecretObject(request['object']), oldObject: redactSecretObject(request['oldObject']) },
  };
}

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
