// The audit's aggregate: totals and counts by cluster, namespace, policy and severity, and the objects
// that fail or warn (passing objects are only counted, so memory stays bounded however large the scan).
import { SEVERITIES, type Severity } from '../../policy/engine/index.js';
import type { AuditResult } from './evaluate.js';
import { addStanding, type ListedException, type PodSecuritySection } from './pod-security.js';

export interface Counts {
  objects: number;
  failing: number;
  warning: number;
  passing: number;
  failures: number;
  warnings: number;
  mutations: number;
}

export interface AuditReport {
  generatedAt: string;
  totals: Counts;
  bySeverity: Record<Severity, number>;
  byPolicy: Record<string, { severity: Severity; failures: number; warnings: number }>;
  byCluster: Record<string, Counts>;
  byNamespace: Record<string, Counts>;
  /** Objects with failures or warnings. */
  results: AuditResult[];
  /** Sources that could not be read: listed per cluster, the others still audited. */
  errors: string[];
  /**
   * With Pod Security data and controls in the policies: every exception of the data (in force or
   * expired), and by namespace the workloads that would fail baseline, or restricted only.
   */
  podSecurity?: PodSecuritySection;
}

const zero = (): Counts => ({ objects: 0, failing: 0, warning: 0, passing: 0, failures: 0, warnings: 0, mutations: 0 });

export class ReportBuilder {
  private readonly report: AuditReport = {
    generatedAt: new Date().toISOString(),
    totals: zero(),
    bySeverity: Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>,
    byPolicy: {},
    byCluster: {},
    byNamespace: {},
    results: [],
    errors: [],
  };

  /** The Pod Security section, with the data's exceptions: the audit's policies have Pod Security controls. */
  podSecurity(exceptions: ListedException[]): void {
    this.report.podSecurity = { exceptions, namespaces: {} };
  }

  error(message: string): void {
    this.report.errors.push(message);
  }

  add(result: AuditResult): void {
    const scopes = [this.report.totals, (this.report.byCluster[result.cluster] ??= zero()), (this.report.byNamespace[`${result.cluster}/${result.namespace || '(cluster)'}`] ??= zero())];
    for (const counts of scopes) {
      counts.objects += 1;
      if (result.failures.length > 0) counts.failing += 1;
      else if (result.warnings.length > 0) counts.warning += 1;
      else counts.passing += 1;
      counts.failures += result.failures.length;
      counts.warnings += result.warnings.length;
      counts.mutations += result.mutations.length;
    }
    for (const failure of result.failures) {
      this.report.bySeverity[failure.severity] += 1;
      (this.report.byPolicy[failure.policy] ??= { severity: failure.severity, failures: 0, warnings: 0 }).failures += 1;
    }
    for (const warning of result.warnings) (this.report.byPolicy[warning.policy] ??= { severity: warning.severity, failures: 0, warnings: 0 }).warnings += 1;
    const standing = result.podSecurity;
    if (standing && this.report.podSecurity) addStanding(this.report.podSecurity, result.cluster, result.namespace, `${result.kind} ${result.name}`, standing);
    // Objects an exception let through are kept too: the report shows them passing by exception.
    if (result.failures.length > 0 || result.warnings.length > 0 || (standing?.exceptions.length ?? 0) > 0) this.report.results.push(result);
  }

  build(): AuditReport {
    return this.report;
  }
}

/** Is any failure at or above `threshold`? */
export function failsAt(report: AuditReport, threshold: Severity): boolean {
  const rank = SEVERITIES.indexOf(threshold);
  return SEVERITIES.some((severity, index) => index >= rank && report.bySeverity[severity] > 0);
}
