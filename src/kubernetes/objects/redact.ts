// Secret payloads and environment values out of Kubernetes objects, before anything is written or
// shown to a policy: a Secret's data and stringData values and its last-applied-configuration
// annotation; the `value` of every `env` entry, wherever an `env` list of named entries sits (every
// container of a pod spec, a pod template, a CronJob's job template, and any custom resource's
// containers), also inside a last-applied-configuration annotation. Keys and env names are kept. Input comes from the network: any part may be missing or of the wrong type, and redaction
// never throws.
import { isRecord } from './json.js';

export const REDACTED = '<redacted>';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = Record<string, unknown>;

/** A copy of `record` with `key` replaced, or `record` itself when `key` holds nothing to change. */
function withField(record: Json, key: string, change: (value: unknown) => unknown): Json {
  if (!(key in record)) return record;
  const value = record[key];
  const changed = change(value);
  return changed === value ? record : { ...record, [key]: changed };
}

/** `list` mapped, or `list` itself when nothing in it changed. */
function mapList(list: unknown[], change: (item: unknown) => unknown): unknown[] {
  let changed: unknown[] | undefined;
  for (let index = 0; index < list.length; index++) {
    const item = list[index];
    const next = change(item);
    if (next !== item && !changed) changed = list.slice(0, index);
    changed?.push(next);
  }
  return changed ?? list;
}

/** An `env` list as Kubernetes writes it: entries with a name. Their values are replaced, names kept. */
function redactEnvList(list: unknown[]): unknown[] {
  return mapList(list, (entry) => (isRecord(entry) && typeof entry['name'] === 'string' && entry['value'] !== undefined ? { ...entry, value: REDACTED } : entry));
}

/** Deeper than any object the API server accepts; a body this deep was refused when it was parsed. */
const MAX_DEPTH = 600;

/**
 * Env values wherever they sit, found by shape rather than by kind or path: every `env` list of named
 * entries, so pod specs, pod templates and the containers of any custom resource (a KServe predictor,
 * an Argo workflow template, a Tekton step) are covered alike.
 */
function redactEnvironment(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return mapList(value, (item) => redactEnvironment(item, depth + 1));
  if (!isRecord(value)) return value;
  let copy: Json = value;
  // for…in without allocating entries: this walks every node of every object judged with declared facts.
  for (const key in value) {
    const child = value[key];
    if (typeof child !== 'object' || child === null) continue;
    const changed = key === 'env' && Array.isArray(child) ? redactEnvList(redactEnvironment(child, depth + 1) as unknown[]) : redactEnvironment(child, depth + 1);
    if (changed === child) continue;
    if (copy === value) copy = { ...value };
    copy[key] = changed;
  }
  return copy;
}

function redactSecretPayload(object: Json): Json {
  let copy = object;
  for (const field of ['data', 'stringData']) {
    copy = withField(copy, field, (values) => (isRecord(values) ? Object.fromEntries(Object.keys(values).map((key) => [key, REDACTED])) : values === null ? null : REDACTED));
  }
  return copy;
}

/** The last-applied annotation holds a copy of the object as applied: redacted the same way, or whole. */
function redactLastApplied(object: Json, secret: boolean): Json {
  return withField(object, 'metadata', (metadata) => {
    if (!isRecord(metadata)) return metadata;
    return withField(metadata, 'annotations', (annotations) => {
      if (!isRecord(annotations)) return annotations;
      return withField(annotations, LAST_APPLIED, (text) => {
        if (secret || typeof text !== 'string') return REDACTED;
        let applied: unknown;
        try {
          applied = JSON.parse(text);
        } catch {
          return REDACTED;
        }
        if (!isRecord(applied)) return REDACTED;
        const redacted = redactEnvironment(applied);
        return redacted === applied ? text : `${JSON.stringify(redacted)}${text.endsWith('\n') ? '\n' : ''}`;
      });
    });
  });
}

/** A core Secret, said by the request's kind or by the object itself. */
function isSecret(object: Json, requestKind: unknown): boolean {
  const byRequest = isRecord(requestKind) && requestKind['group'] === '' && requestKind['kind'] === 'Secret';
  return byRequest || (object['kind'] === 'Secret' && object['apiVersion'] === 'v1');
}

function redactObjectOf(object: unknown, requestKind: unknown): unknown {
  if (!isRecord(object)) return object;
  const secret = isSecret(object, requestKind);
  const payload = secret ? redactSecretPayload(object) : (redactEnvironment(object) as Json);
  return redactLastApplied(payload, secret);
}

/**
 * One Kubernetes object with its Secret payload or environment values replaced, as in a recorded
 * review (a Secret is known by its own kind and apiVersion): for printing an object, such as a
 * mutated one. Never modifies the object and never throws.
 */
export function redactObject(object: unknown): unknown {
  try {
    return redactObjectOf(object, undefined);
  } catch {
    return REDACTED;
  }
}

/**
 * A copy of the review with Secret payloads and environment values replaced (see the top of this
 * file); the review itself is never modified, and it comes back as it is when there is nothing to hide.
 */
export function redactSecrets(review: unknown): unknown {
  try {
    if (!isRecord(review) || !isRecord(review['request'])) return review;
    const request = review['request'];
    const object = redactObjectOf(request['object'], request['kind']);
    const oldObject = redactObjectOf(request['oldObject'], request['kind']);
    if (object === request['object'] && oldObject === request['oldObject']) return review;
    return { ...review, request: { ...request, ...('object' in request ? { object } : {}), ...('oldObject' in request ? { oldObject } : {}) } };
  } catch {
    // Parsed JSON cannot get here; a hostile value (a throwing getter) is recorded as nothing at all.
    return REDACTED;
  }
}
