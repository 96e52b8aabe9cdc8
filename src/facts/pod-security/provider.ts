// Pod Security Standards as a fact source: which level each mode (enforce, warn, audit) applies to a
// request, as users of Pod Security admission already write it — the namespace's
// `pod-security.kubernetes.io/<mode>` labels over the defaults of data/pod-security.yaml — whether the
// request is exempt (usernames, runtime classes, namespaces, as in Pod Security admission's
// AdmissionConfiguration), whether an UPDATE leaves the pod spec as it was (then, as upstream, it is not
// judged), and which reviewed exceptions (data/pod-security.yaml `exceptions`: one workload, some
// controls, an owner, an expiry) are in force for the object. The controls themselves are policies in
// policies/pod-security/ (`@level`), reading declared facts; decide() gives each its mode from these levels.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { FactProvider } from '../provider.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { asRecord, asString, asStringMap } from '../../kubernetes/objects/json.js';
import { dataMessage, schemaProblems } from '../schema-problems.js';
import { podSpecOf, podSpecPath } from '../../kubernetes/objects/workload.js';

export const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type Level = (typeof LEVELS)[number];
export const MODES = ['enforce', 'warn', 'audit'] as const;
export type Mode = (typeof MODES)[number];
export const LEVEL_LABEL_PREFIX = 'pod-security.kubernetes.io/';

/** A reviewed exception: one workload (a name, or labels it carries) let through some controls, until `expires`. */
export type PodSecurityException = Static<typeof Exception>;

/** data/pod-security.yaml as checked, absent defaults filled in. */
export type PodSecurityData = Static<typeof POD_SECURITY_DATA>;

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

const Level = (description: string) =>
  Type.Union(
    LEVELS.map((level) => Type.Literal(level)),
    { default: 'privileged', description },
  );

const Names = (description: string) => Type.Array(Type.String(), { default: [], description });

const Exception = Type.Object(
  {
    controls: Type.Array(Type.String({ pattern: '^pod-security\\.(baseline|restricted)\\.[a-z0-9-]+$' }), {
      minItems: 1,
      errorMessage: 'must name pod-security.<level>.<control> ids',
      description: 'the controls it lets through (pod-security.baseline.capabilities)',
    }),
    namespace: Type.String({ minLength: 1, description: 'an exception is for one workload: its namespace' }),
    name: Type.Optional(Type.String({ minLength: 1, description: "the workload's name" })),
    labels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'labels the workload carries' })),
    owner: Type.String({ minLength: 1, description: 'who answers for it' }),
    reason: Type.String({ minLength: 1, description: 'why it is needed' }),
    expires: Type.Optional(
      Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', errorMessage: 'must be a date, YYYY-MM-DD', description: 'YYYY-MM-DD: from the day after, the exception no longer applies' }),
    ),
  },
  // One workload: by its name, or by labels it carries.
  { additionalProperties: false, oneOf: [{ required: ['name'] }, { required: ['labels'] }], errorMessage: 'must be a map' },
);

/** data/pod-security.yaml: the levels that apply where namespaces say none, exemptions, and reviewed exceptions. */
export const POD_SECURITY_DATA = Type.Object(
  {
    defaults: Type.Object(
      {
        enforce: Level('the level whose controls deny'),
        warn: Level('the level whose controls answer with admission warnings'),
        audit: Level('the level whose controls go to the decision log and audit reports'),
      },
      { additionalProperties: false, default: {}, description: "the levels of namespaces without pod-security.kubernetes.io/<mode> labels; an absent one is privileged" },
    ),
    exemptions: Type.Object(
      {
        usernames: Names('requests by these users are not judged'),
        runtimeClasses: Names('pods of these runtime classes are not judged'),
        namespaces: Names('pods in these namespaces are not judged'),
      },
      { additionalProperties: false, default: {} },
    ),
    exceptions: Type.Array(Exception, { default: [], description: 'one workload let through some controls, with who answers for it, why, and until when' }),
  },
  { additionalProperties: false, title: 'pod-security data', errorMessage: 'must be a map with defaults, exemptions and exceptions' },
);

/** Checks data/pod-security.yaml against its schema; absent defaults are privileged. */
export function readPodSecurityData(value: unknown): { data?: PodSecurityData; problems: string[] } {
  if (value === undefined) return { problems: [] };
  const filled = Value.Default(POD_SECURITY_DATA, structuredClone(value));
  const problems = schemaProblems(POD_SECURITY_DATA, filled).map((problem) => dataMessage(problem, 'pod-security data'));
  if (problems.length > 0 || !Value.Check(POD_SECURITY_DATA, filled)) return { problems };
  return { data: filled, problems };
}

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

/** Pod Security as a fact source: data/pod-security.yaml, `context.podSecurity`. */
export const podSecurityProvider: FactProvider<PodSecurityData, PodSecurityInputs, PodSecurityFacts> = {
  name: 'pod-security',
  dataKeys: ['pod-security'],
  dataSchemas: { 'pod-security': POD_SECURITY_DATA },
  contextAttribute: 'podSecurity',
  read: (data) => readPodSecurityData(data['pod-security']),
  derive: (request, data, inputs) => podSecurityFacts(data, request, inputs),
};
