// Pod Security Standards as a fact source: which level each mode (enforce, warn, audit) applies to a
// request, as users of Pod Security admission already write it — the namespace's
// `pod-security.kubernetes.io/<mode>` labels over the defaults of data/pod-security.yaml — whether the
// request is exempt (usernames, runtime classes, namespaces, as in Pod Security admission's
// AdmissionConfiguration), whether an UPDATE leaves the pod spec as it was (then, as upstream, it is not
// judged), and which reviewed exceptions (data/pod-security.yaml `exceptions`: one workload, some
// controls, an owner, an expiry) are in force for the object. The controls themselves are policies in
// policies/pod-security/ (`@level`), reading declared facts; decide() gives each its mode from these levels.
// The derivation only: data.ts reads and checks the data (an evaluation worker needs only this).
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { asRecord, asString, asStringMap } from '../../kubernetes/objects/json.js';
import { podSpecOf, podSpecPath } from '../../kubernetes/objects/workload.js';
import type { PodSecurityData, PodSecurityException } from './data.js';
import { LEVEL_LABEL_PREFIX, LEVELS, type Level, type Mode } from './levels.js';

/** `context.podSecurity`. */
export interface PodSecurityFacts {
  enforce: Level;
  warn: Level;
  audit: Level;
  exempt: boolean;
  /** An UPDATE that leaves the pod spec as it was (a label, a scale): not judged, as upstream. */
  specUnchanged: boolean;
  /** Control ids excepted for this object by exceptions in force. */
  exceptions: string[];
}

const isLevel = (value: unknown): value is Level => typeof value === 'string' && (LEVELS as readonly string[]).includes(value);

/** Whether an exception applies today (UTC): through its expiry date, not after. */
export function inForce(exception: PodSecurityException, now: Date): boolean {
  return exception.expires === undefined || now.toISOString().slice(0, 10) <= exception.expires;
}

function exceptionApplies(exception: PodSecurityException, request: AdmissionRequest, object: unknown, now: Date): boolean {
  if (!inForce(exception, now) || exception.namespace !== request.namespace) return false;
  const metadata = asRecord(asRecord(object)['metadata']);
  if (exception.name !== undefined) return (request.name || asString(metadata['name'])) === exception.name;
  const labels = asStringMap(metadata['labels']);
  return Object.entries(exception.labels ?? {}).every(([key, value]) => labels[key] === value);
}

/** A level label's value: a level, or restricted when the label says something else (fail safe). */
function labelLevel(value: string | undefined, fallback: Level): Level {
  if (value === undefined) return fallback;
  return isLevel(value) ? value : 'restricted';
}

export interface PodSecurityInputs extends FleetFacts {
  /** Today, for exception expiry; the current date unless a test says otherwise. */
  now?: Date;
}

export function podSecurityFacts(data: PodSecurityData | undefined, request: AdmissionRequest, inputs: PodSecurityInputs): PodSecurityFacts | undefined {
  const { group, kind } = request.kind;
  if (!data || !podSpecPath(group, kind)) return undefined;
  const labels = inputs.namespaceLabels ?? {};
  const object = request.operation === 'DELETE' ? request.oldObject : request.object;
  const spec = podSpecOf(group, kind, object);
  const level = (mode: Mode) => labelLevel(labels[`${LEVEL_LABEL_PREFIX}${mode}`], data.defaults[mode]);
  const exempt =
    data.exemptions.usernames.includes(request.userInfo.username) ||
    data.exemptions.namespaces.includes(request.namespace) ||
    data.exemptions.runtimeClasses.includes(asString(spec['runtimeClassName']));
  const specUnchanged = request.operation === 'UPDATE' && request.subResource === '' && JSON.stringify(spec) === JSON.stringify(podSpecOf(group, kind, request.oldObject));
  const now = inputs.now ?? new Date();
  const exceptions = [...new Set(data.exceptions.filter((e) => exceptionApplies(e, request, object, now)).flatMap((e) => e.controls))].sort();
  return { enforce: level('enforce'), warn: level('warn'), audit: level('audit'), exempt, specUnchanged, exceptions };
}

