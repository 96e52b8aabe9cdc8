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
import { asRecord, asString, asStringMap, isRecord } from '../../kubernetes/objects/json.js';
import { podSpecOf, podSpecPath } from '../../kubernetes/objects/workload.js';

export const LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type Level = (typeof LEVELS)[number];
export const MODES = ['enforce', 'warn', 'audit'] as const;
export type Mode = (typeof MODES)[number];
export const LEVEL_LABEL_PREFIX = 'pod-security.kubernetes.io/';

export interface PodSecurityException {
  /** Control ids (`pod-security.baseline.capabilities`) the exception lets through. */
  controls: string[];
  namespace: string;
  /** The object's name, or labels it must carry: one of the two. */
  name?: string;
  labels?: Record<string, string>;
  owner: string;
  /** `YYYY-MM-DD`: from the day after, the exception no longer applies. */
  expires?: string;
  reason: string;
}

export interface PodSecurityData {
  defaults: Record<Mode, Level>;
  exemptions: { usernames: string[]; runtimeClasses: string[]; namespaces: string[] };
  exceptions: PodSecurityException[];
}

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
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function strings(value: unknown, where: string, problems: string[]): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  problems.push(`${where} must be a list of strings`);
  return [];
}

export function readPodSecurityData(value: unknown): { data?: PodSecurityData; problems: string[] } {
  const problems: string[] = [];
  if (value === undefined) return { problems };
  if (!isRecord(value)) return { problems: ['pod-security data must be a map with defaults, exemptions and exceptions'] };
  for (const key of Object.keys(value)) if (!['defaults', 'exemptions', 'exceptions'].includes(key)) problems.push(`unknown key "${key}": the keys are defaults, exemptions, exceptions`);
  const defaults = asRecord(value['defaults']);
  const levels = {} as Record<Mode, Level>;
  for (const mode of MODES) {
    const level = defaults[mode] ?? 'privileged';
    if (!isLevel(level)) problems.push(`defaults.${mode} must be privileged, baseline or restricted (absent means privileged), got ${JSON.stringify(level)}`);
    levels[mode] = isLevel(level) ? level : 'restricted';
  }
  const exemptions = asRecord(value['exemptions']);
  const data: PodSecurityData = {
    defaults: levels,
    exemptions: {
      usernames: strings(exemptions['usernames'], 'exemptions.usernames', problems),
      runtimeClasses: strings(exemptions['runtimeClasses'], 'exemptions.runtimeClasses', problems),
      namespaces: strings(exemptions['namespaces'], 'exemptions.namespaces', problems),
    },
    exceptions: [],
  };
  const exceptions = value['exceptions'] ?? [];
  if (!Array.isArray(exceptions)) problems.push('exceptions must be a list');
  else {
    exceptions.forEach((entry, index) => {
      const where = `exceptions[${index}]`;
      if (!isRecord(entry)) return problems.push(`${where} must be a map`);
      const controls = strings(entry['controls'], `${where}.controls`, problems);
      const namespace = asString(entry['namespace']);
      const name = entry['name'] === undefined ? undefined : asString(entry['name']);
      const labels = entry['labels'] === undefined ? undefined : asStringMap(entry['labels']);
      const owner = asString(entry['owner']);
      const reason = asString(entry['reason']);
      const expires = entry['expires'] instanceof Date ? entry['expires'].toISOString().slice(0, 10) : entry['expires'] === undefined ? undefined : asString(entry['expires']);
      if (controls.length === 0 || !controls.every((c) => /^pod-security\.(baseline|restricted)\.[a-z0-9-]+$/.test(c))) problems.push(`${where}.controls must name pod-security.<level>.<control> ids`);
      if (!namespace) problems.push(`${where}.namespace is required: an exception is for one workload`);
      if ((name === undefined) === (labels === undefined)) problems.push(`${where} needs exactly one of name and labels`);
      if (!owner) problems.push(`${where}.owner is required: who answers for it`);
      if (!reason) problems.push(`${where}.reason is required: why it is needed`);
      if (expires !== undefined && !DATE.test(expires)) problems.push(`${where}.expires must be a date, YYYY-MM-DD`);
      data.exceptions.push({ controls, namespace, ...(name !== undefined ? { name } : {}), ...(labels ? { labels } : {}), owner, reason, ...(expires ? { expires } : {}) });
      return undefined;
    });
  }
  return { data, problems };
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
  contextAttribute: 'podSecurity',
  read: (data) => readPodSecurityData(data['pod-security']),
  derive: (request, data, inputs) => podSecurityFacts(data, request, inputs),
};
