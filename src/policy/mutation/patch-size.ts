// How large the JSON Patch a mutation run sends may be, and its size counted operation by operation,
// so that a run that would exceed the limit stops there rather than after building all of it.
import type { Operation } from 'rfc6902';

/**
 * The largest JSON Patch Canopy sends: 16 MiB of JSON (about 22 MiB once base64-encoded in the
 * AdmissionReview). A run whose patch would be larger is denied as soon as the patch passes it.
 *
 * The API server keeps objects of at most 1.5 MiB (etcd's default request limit), but a patch is
 * several times larger than what it adds, with a path per value and an operation per missing map: the
 * starter default resources add 85 bytes to a container for 466 bytes of patch, so that 20,000
 * containers take 9.3 MB of patch. 16 MiB keeps such objects mutable with room to spare, while a patch
 * past it (75,000 containers: 35 MB) is refused before it costs the event loop more than a fraction
 * of a second and the answer tens of megabytes. An operation is at least 25 bytes, so the limit also
 * caps their number (under 700,000).
 */
export const MAX_PATCH_BYTES = 16 * 1024 * 1024;

/** "16 MiB (16777216 bytes)", "3.7 KiB (3755 bytes)", "500 bytes". */
export function describeBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const [size, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), 'MiB'] : [bytes / 1024, 'KiB'];
  return `${Number(size.toFixed(1))} ${unit} (${bytes} bytes)`;
}

// Printable ASCII but for `"` and `\`: written as is, between two quotes.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `{}`, the value of every operation that creates a map. */
function isEmptyMap(value: object): boolean {
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const _key in value) return false;
  return true;
}

/** The UTF-8 size of `value` as JSON.stringify writes it. */
function jsonBytes(value: unknown): number {
  if (typeof value === 'string' && PLAIN.test(value)) return value.length + 2;
  if (value === null) return 4;
  if (typeof value === 'object' && isEmptyMap(value)) return 2;
  if (typeof value === 'boolean') return value ? 4 : 5;
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? 0 : Buffer.byteLength(text);
}

/** The UTF-8 size of `operation` as JSON.stringify writes it ({"op":…,"path":…,"value":…}). */
export function operationBytes(operation: Operation): number {
  const value = 'value' in operation ? (operation.value as unknown) : undefined;
  const head = 6 + (operation.op.length + 2) + 8 + jsonBytes(operation.path) + 1;
  return value === undefined ? head : head + 9 + jsonBytes(value);
}

/** The size of a patch, counted as operations are added: exactly Buffer.byteLength(JSON.stringify(patch)). */
export class PatchSize {
  bytes = 2;
  operations = 0;

  add(operation: Operation): void {
    this.bytes += operationBytes(operation) + (this.operations > 0 ? 1 : 0);
    this.operations += 1;
  }
}
