// Pod Security in an audit: which level each object could live with, whatever its namespace enforces
// today (so that a team sees what would fail before raising a level), and the reviewed exceptions of the
// policy data: each listed, in force or expired, and each object an exception lets through said so.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { Decision } from '../../policy/decision/index.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { CompiledPolicySet } from '../../policy/set/index.js';
import type { RequestFacts } from '../../policy/translate/index.js';
import { inForce, LEVEL_LABEL_PREFIX, podSecurityFacts, type Level, type PodSecurityData, type PodSecurityException } from '../../facts/pod-security/index.js';

/** An exception of the policy data, as a report lists it. */
export interface ListedException extends PodSecurityException {
  state: 'in force' | 'expired';
}

/** An exception that let an object through controls it would otherwise fail. */
export interface AppliedException {
  /** The controls the object would fail without it. */
  controls: string[];
  owner: string;
  reason: string;
  expires?: string;
}

/** One workload's standing against the levels, judged as if its namespace audited at restricted. */
export interface PodSecurityStanding {
  /** The level its namespace enforces today. */
  enforce: Level;
  /** Exempt (namespace or runtime class): no control judges it. */
  exempt: boolean;
  /** Baseline controls it fails. */
  baseline: string[];
  /** Restricted controls it fails. */
  restricted: string[];
  /** Exceptions that let it through controls it would fail otherwise. */
  exceptions: AppliedException[];
}

export interface NamespaceReadiness {
  cluster: string;
  namespace: string;
  /** The level enforced today (of the last workload seen: every workload of a namespace has the same). */
  enforce: Level;
  workloads: number;
  exempt: number;
  /** Objects that fail baseline, with the controls (baseline and restricted) they fail. */
  failingBaseline: { object: string; controls: string[] }[];
  /** Objects that pass baseline but fail restricted, with the controls. */
  failingRestrictedOnly: { object: string; controls: string[] }[];
}

export interface PodSecuritySection {
  exceptions: ListedException[];
  /** By `cluster/namespace`, as byNamespace. */
  namespaces: Record<string, NamespaceReadiness>;
}

export function listExceptions(data: PodSecurityData, now: Date): ListedException[] {
  return data.exceptions.map((exception) => ({ ...exception, state: inForce(exception, now) ? 'in force' : 'expired' }));
}

const LEVEL_OF_ID = /^pod-security\.(baseline|restricted)\./;

/** A hit's level: its @level, else what its id says (`pod-security.baseline.*`); none for other policies. */
function levelOf(set: CompiledPolicySet, id: string): 'baseline' | 'restricted' | undefined {
  const level = set.policies.get(id)?.level ?? LEVEL_OF_ID.exec(id)?.[1];
  return level === 'baseline' || level === 'restricted' ? level : undefined;
}

/** Judges workloads for their Pod Security standing; built once per audit. */
export class PodSecurityAuditor {
  private constructor(
    private readonly set: CompiledPolicySet,
    private readonly data: PodSecurityData,
    /** The same policies with no exception: what an excepted object would fail without its exceptions. */
    private readonly unexcepted: AdmissionPipeline | undefined,
    private readonly now: Date,
  ) {}

  /** None when the policy set has no Pod Security data or no @level control. */
  static async create(set: CompiledPolicySet, withoutExceptions: () => Promise<AdmissionPipeline>, now = new Date()): Promise<PodSecurityAuditor | undefined> {
    const data = set.podSecurity;
    if (!data || ![...set.policies.values()].some((info) => info.level !== undefined)) return undefined;
    const unexcepted = data.exceptions.some((exception) => inForce(exception, now)) ? await withoutExceptions() : undefined;
    return new PodSecurityAuditor(set, data, unexcepted, now);
  }

  get exceptions(): ListedException[] {
    return listExceptions(this.data, this.now);
  }

  /**
   * The controls `request` fails at any level, whatever its namespace enforces: judged with the
   * namespace's audit label at restricted, so that every control gives it a mode.
   */
  private failed(pipeline: AdmissionPipeline, request: AdmissionRequest, facts: RequestFacts, judged?: Decision): string[] {
    const labels = { ...facts.namespaceLabels, [`${LEVEL_LABEL_PREFIX}audit`]: 'restricted' };
    const decision = judged ?? pipeline.judge(request, { ...facts, namespaceLabels: labels });
    const ids = [...decision.denials, ...decision.warnings, ...decision.audits].map((hit) => hit.id).filter((id) => levelOf(this.set, id) !== undefined);
    return [...new Set(ids)].sort();
  }

  /**
   * The standing of the request the webhook validated (`decision`, its decision); none for what has no
   * pod spec. When a mode of its namespace is at restricted already, every control was judged and the
   * decision says all; otherwise it is judged once more.
   */
  standing(pipeline: AdmissionPipeline, request: AdmissionRequest, facts: RequestFacts, decision: Decision): PodSecurityStanding | undefined {
    const levels = podSecurityFacts(this.data, request, { ...facts, now: this.now });
    if (!levels) return undefined;
    const complete = [levels.enforce, levels.warn, levels.audit].includes('restricted') && decision.failure === undefined;
    const failed = levels.exempt ? [] : this.failed(pipeline, request, facts, complete ? decision : undefined);
    const exceptions: AppliedException[] = [];
    if (this.unexcepted && !levels.exempt && levels.exceptions.length > 0) {
      const without = this.failed(this.unexcepted, request, facts).filter((id) => !failed.includes(id));
      for (const exception of this.data.exceptions) {
        // Whether this one exception applies to the object: the provider's own matching, one exception at a time.
        const applies = podSecurityFacts({ ...this.data, exceptions: [exception] }, request, { ...facts, now: this.now })?.exceptions.length ?? 0;
        const controls = applies > 0 ? exception.controls.filter((id) => without.includes(id)) : [];
        if (controls.length > 0) exceptions.push({ controls, owner: exception.owner, reason: exception.reason, ...(exception.expires ? { expires: exception.expires } : {}) });
      }
    }
    return {
      enforce: levels.enforce,
      exempt: levels.exempt,
      baseline: failed.filter((id) => levelOf(this.set, id) === 'baseline'),
      restricted: failed.filter((id) => levelOf(this.set, id) === 'restricted'),
      exceptions,
    };
  }
}

/** Counts a workload's standing into the per-namespace table. */
export function addStanding(section: PodSecuritySection, cluster: string, namespace: string, object: string, standing: PodSecurityStanding): void {
  const entry = (section.namespaces[`${cluster}/${namespace}`] ??= { cluster, namespace, enforce: standing.enforce, workloads: 0, exempt: 0, failingBaseline: [], failingRestrictedOnly: [] });
  entry.enforce = standing.enforce;
  entry.workloads += 1;
  if (standing.exempt) entry.exempt += 1;
  const controls = [...standing.baseline, ...standing.restricted];
  if (standing.baseline.length > 0) entry.failingBaseline.push({ object, controls });
  else if (standing.restricted.length > 0) entry.failingRestrictedOnly.push({ object, controls });
}
