// Secret payloads and environment values out of Kubernetes objects, before anything is written or
// shown to a policy: a Secret's data and stringData values and its last-applied-configuration
// annotation; the `value` of every `env` entry of every container, init container and ephemeral
// container, in a pod spec wherever one sits (Pod, pod templates, CronJob's job template, PodTemplate),
// and inside a last-applied-configuration annotation holding such an object. Keys and env names are
// kept. Input comes from the network: any part may be missing or of the wrong type, and redaction
// never throws.
import { isRecord } from './json.js';

export const REDACTED = '<redacted>';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

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
  const changed = list.map(change);
  return changed.every((item, index) => item === list[index]) ? list : changed;
}

function redactContainer(container: unknown): unknown {
  if (!isRecord(container) || !Array.isArray(container['env'])) return container;
  const env = mapList(container['env'], (entry) => (isRecord(entry) && entry['value'] !== undefined ? { ...entry, value: REDACTED } : entry));
  return env === container['env'] ? container : { ...container, env };
}

function redactPodSpec(spec: unknown): unknown {
  if (!isRecord(spec)) return spec;
  let copy: Json = spec;
  for (const list of CONTAINER_LISTS) {
    copy = withField(copy, list, (containers) => (Array.isArray(containers) ? mapList(containers, redactContainer) : containers));
  }
  return copy;
}

/** `{spec: PodSpec}`: a pod template, or a Pod itself. */
function redactTemplate(template: unknown): unknown {
  return isRecord(template) ? withField(template, 'spec', redactPodSpec) : template;
}

/**
 * Env values in every pod spec the object can carry, by shape rather than by kind, so custom
 * resources with a pod template are covered too.
 */
function redactEnvironment(object: Json): Json {
  let copy = withField(object, 'template', redactTemplate); // PodTemplate
  copy = withField(copy, 'spec', (spec) => {
    if (!isRecord(spec)) return spec;
    let specCopy = redactPodSpec(spec) as Json; // Pod
    specCopy = withField(specCopy, 'template', redactTemplate); // workloads
    // CronJob: jobTemplate.spec is a JobSpec, whose template holds the pod spec.
    specCopy = withField(specCopy, 'jobTemplate', (job) =>
      isRecord(job) ? withField(job, 'spec', (jobSpec) => (isRecord(jobSpec) ? withField(jobSpec, 'template', redactTemplate) : jobSpec)) : job,
    );
    return specCopy;
  });
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
  const payload = secret ? redactSecretPayload(object) : redactEnvironment(object);
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
