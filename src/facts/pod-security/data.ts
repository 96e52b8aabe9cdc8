// data/pod-security.yaml: its schema (defaults, exemptions, reviewed exceptions) and reading it.
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { dataMessage, schemaProblems } from '../schema-problems.js';
import { LEVELS } from './levels.js';

/** A reviewed exception: one workload (a name, or labels it carries) let through some controls, until `expires`. */
export type PodSecurityException = Static<typeof Exception>;

/** data/pod-security.yaml as checked, absent defaults filled in. */
export type PodSecurityData = Static<typeof POD_SECURITY_DATA>;

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

