// What people read on a policy: the annotations Canopy requires and understands. Cedar never returns
// annotations with a decision, so they are read once at load time and looked up by policy id.
import { checkTemplates } from '../templates/index.js';
import type { PolicyDiagnostic } from './diagnostics.js';
import type { SourcePosition } from './source-text.js';
import { messageOf } from '../../operations/errors/index.js';

export const POLICY_MODES = ['enforce', 'warn', 'audit'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * A Pod Security Standards level: a policy that says `@level("baseline")` takes its mode per request
 * from the levels in force for the request's namespace (enforce, warn, audit), not from @mode.
 */
export const SECURITY_LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type SecurityLevel = (typeof SECURITY_LEVELS)[number];

/** What an evaluation error in this policy means: `fail-closed` treats it as a match (the default). */
export const ON_ERROR = ['fail-closed', 'skip'] as const;
export type OnError = (typeof ON_ERROR)[number];

export interface PolicyInfo {
  id: string;
  advice: string;
  severity: Severity;
  mode: PolicyMode;
  onError: OnError;
  /** `@level`: the Pod Security level this policy is a control of; its mode then comes from the namespace. */
  level?: Exclude<SecurityLevel, 'privileged'>;
  position: SourcePosition;
  annotations: Readonly<Record<string, string>>;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

/** What is wrong with a policy's @id, or undefined when it is usable. */
export function checkPolicyId(id: string | undefined): string | undefined {
  if (id === undefined || id === '') return 'policy has no @id("...") annotation';
  if (!ID_PATTERN.test(id)) return `@id("${id}") must start with a letter or digit and use only letters, digits and . _ : / -`;
  return undefined;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T | undefined {
  if (value === undefined) return fallback;
  return (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

/** Reads a validating policy's annotations; returns the problems instead when they are not usable. */
export function readPolicyInfo(
  annotations: Readonly<Record<string, string>>,
  effect: 'permit' | 'forbid',
  position: SourcePosition,
): PolicyInfo | PolicyDiagnostic[] {
  const problems: string[] = [];
  const id = annotations['id'];
  const idProblem = checkPolicyId(id);
  if (idProblem) problems.push(idProblem);
  if (effect === 'permit') {
    problems.push(
      'permit policies have no effect in a validating policy set: Canopy allows every request that no ' +
        'forbid policy denies, so write the rule as a forbid (mutations, which are permits, live in mutations/)',
    );
  }
  const advice = annotations['advice'];
  if (!advice) problems.push('policy has no @advice("...") annotation: the sentence a denied user reads');
  else {
    try {
      checkTemplates(advice);
    } catch (error) {
      problems.push(`@advice: ${messageOf(error)}`);
    }
  }
  const severity = oneOf(annotations['severity'], SEVERITIES, 'medium');
  if (!severity) problems.push(`@severity must be one of ${SEVERITIES.join(', ')}`);
  const mode = oneOf(annotations['mode'], POLICY_MODES, 'enforce');
  if (!mode) problems.push(`@mode must be one of ${POLICY_MODES.join(', ')}`);
  const onError = oneOf(annotations['onError'], ON_ERROR, 'fail-closed');
  if (!onError) problems.push(`@onError must be one of ${ON_ERROR.join(', ')}`);
  const level = annotations['level'];
  if (level !== undefined && level !== 'baseline' && level !== 'restricted') problems.push('@level must be baseline or restricted');
  if (level !== undefined && annotations['mode'] !== undefined) problems.push('@level and @mode exclude each other: a level control takes its mode from the namespace');

  if (problems.length > 0 || !id || !advice || !severity || !mode || !onError) {
    const label = id ? `policy "${id}": ` : '';
    return problems.map((message) => ({ position, message: label + message }));
  }
  return { id, advice, severity, mode, onError, ...(level === 'baseline' || level === 'restricted' ? { level } : {}), position, annotations };
}
