// The audit report for people (terminal, Markdown, a self-contained HTML page) and for machines (JSON,
// wgpolicyk8s.io/v1alpha2 PolicyReports). Every format shows the same totals.
import { stringify } from 'yaml';
import { SEVERITIES } from '../../policy/engine/index.js';
import type { AuditResult } from './evaluate.js';
import type { AuditReport, Counts } from './report.js';
import type { AppliedException, ListedException, NamespaceReadiness } from './pod-security.js';

const objectName = (r: AuditResult) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
const totalsLine = (t: Counts) => `${t.objects} objects: ${t.failing} failing, ${t.warning} warning, ${t.passing} passing; ${t.failures} failures, ${t.warnings} warnings, ${t.mutations} mutations that would apply`;

function policiesBySeverity(report: AuditReport): [string, AuditReport['byPolicy'][string]][] {
  return Object.entries(report.byPolicy).sort(([a, x], [b, y]) => SEVERITIES.indexOf(y.severity) - SEVERITIES.indexOf(x.severity) || (a < b ? -1 : 1));
}

// Pod Security: the exceptions of the data, each with its state; the workloads by namespace that would
// fail baseline, or restricted only; and the objects an exception let through.
const exceptionTarget = (e: ListedException) => `${e.namespace}/${e.name ?? `{${Object.entries(e.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',')}}`}`;
const exceptionState = (e: ListedException) => (e.state === 'expired' ? `expired ${e.expires ?? ''}`.trim() : e.expires ? `in force until ${e.expires}` : 'in force, no expiry');
const appliedLine = (a: AppliedException) => `${a.controls.join(', ')} passed by exception (owner ${a.owner}: ${a.reason}${a.expires ? `; until ${a.expires}` : ''})`;
/** Workloads a table cell or an annotation names; the rest are counted (a namespace of 600 pods made an 80 KB line). JSON keeps them all. */
const LISTED_WORKLOADS = 20;
const failingList = (entries: NamespaceReadiness['failingBaseline']) => {
  if (entries.length === 0) return '-';
  const named = entries.slice(0, LISTED_WORKLOADS).map((f) => `${f.object} (${f.controls.join(', ')})`).join('; ');
  return entries.length > LISTED_WORKLOADS ? `${named}; and ${entries.length - LISTED_WORKLOADS} more` : named;
};
const readinessRows = (report: AuditReport) => Object.entries(report.podSecurity?.namespaces ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => ({ key, ...n }));
const excepted = (report: AuditReport) => report.results.filter((r) => (r.podSecurity?.exceptions.length ?? 0) > 0);

function podSecurityText(report: AuditReport): string[] {
  const section = report.podSecurity;
  if (!section) return [];
  const lines = ['', `Pod Security exceptions: ${section.exceptions.filter((e) => e.state === 'in force').length} in force, ${section.exceptions.filter((e) => e.state === 'expired').length} expired`];
  for (const e of section.exceptions) lines.push(`  [${exceptionState(e)}] ${exceptionTarget(e)}: ${e.controls.join(', ')}; owner ${e.owner}: ${e.reason}`);
  const passed = excepted(report);
  if (passed.length > 0) {
    lines.push('', 'Passed by exception:');
    for (const r of passed) for (const a of r.podSecurity?.exceptions ?? []) lines.push(`  ${r.cluster}  ${objectName(r)}: ${appliedLine(a)}`);
  }
  const rows = readinessRows(report);
  lines.push('', 'Pod Security levels: what would fail if each namespace enforced baseline or restricted (whatever it enforces today)');
  const header = ['namespace', 'enforces', 'workloads', 'failing baseline', 'failing restricted only'];
  const cells = rows.map((n) => [n.key, n.enforce, `${n.workloads}${n.exempt ? ` (${n.exempt} exempt)` : ''}`, failingList(n.failingBaseline), failingList(n.failingRestrictedOnly)]);
  const widths = header.slice(0, 3).map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const row = (c: string[]) => `  ${c.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ')}`.trimEnd();
  lines.push(row(header), ...cells.map(row));
  return lines;
}

/** The terminal summary; `errors: false` leaves out the sources that could not be read (for when they go to standard error). */
export function textReport(report: AuditReport, options: { errors?: boolean } = {}): string {
  const lines = [`canopy audit: ${totalsLine(report.totals)}`];
  for (const [cluster, counts] of Object.entries(report.byCluster)) lines.push(`  ${cluster}: ${totalsLine(counts)}`);
  for (const [policy, entry] of policiesBySeverity(report)) {
    if (entry.failures === 0) continue;
    lines.push('', `${policy} (${entry.severity}): ${entry.failures} failing`);
    for (const result of report.results) {
      const failure = result.failures.find((f) => f.policy === policy);
      if (failure) lines.push(`  ${result.cluster}  ${objectName(result)}: ${failure.message}`);
    }
  }
  lines.push(...podSecurityText(report));
  if (options.errors !== false) for (const error of report.errors) lines.push(`error: ${error}`);
  return `${lines.join('\n')}\n`;
}

export function jsonReport(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const md = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownReport(report: AuditReport): string {
  const t = report.totals;
  const lines = [
    '# Canopy audit',
    '',
    `Generated ${report.generatedAt}. ${totalsLine(t)}.`,
    '',
    '| cluster | objects | failing | warning | passing |',
    '|---|---|---|---|---|',
    ...Object.entries(report.byCluster).map(([c, n]) => `| ${md(c)} | ${n.objects} | ${n.failing} | ${n.warning} | ${n.passing} |`),
    '',
    '| policy | severity | failures | warnings |',
    '|---|---|---|---|',
    ...policiesBySeverity(report).map(([p, e]) => `| \`${p}\` | ${e.severity} | ${e.failures} | ${e.warnings} |`),
    '',
    '## Failing objects',
    '',
    '| cluster | object | policy | severity | message |',
    '|---|---|---|---|---|',
    ...report.results.flatMap((r) => r.failures.map((f) => `| ${md(r.cluster)} | ${md(objectName(r))} | \`${f.policy}\` | ${f.severity} | ${md(f.message)} |`)),
  ];
  const section = report.podSecurity;
  if (section) {
    lines.push(
      '',
      '## Pod Security exceptions',
      '',
      '| state | namespace / name or labels | controls | owner | reason |',
      '|---|---|---|---|---|',
      ...section.exceptions.map((e) => `| ${md(exceptionState(e))} | ${md(exceptionTarget(e))} | ${e.controls.map((c) => `\`${c}\``).join(', ')} | ${md(e.owner)} | ${md(e.reason)} |`),
    );
    const passed = excepted(report);
    if (passed.length > 0) {
      lines.push('', '### Passed by exception', '', '| cluster | object | controls | owner | reason | expires |', '|---|---|---|---|---|---|');
      for (const r of passed) for (const a of r.podSecurity?.exceptions ?? []) lines.push(`| ${md(r.cluster)} | ${md(objectName(r))} | ${a.controls.map((c) => `\`${c}\``).join(', ')} | ${md(a.owner)} | ${md(a.reason)} | ${a.expires ?? ''} |`);
    }
    lines.push(
      '',
      '## Pod Security levels',
      '',
      'What would fail if each namespace enforced baseline or restricted, whatever it enforces today.',
      '',
      '| namespace | enforces | workloads | failing baseline | failing restricted only |',
      '|---|---|---|---|---|',
      ...readinessRows(report).map((n) => `| ${md(n.key)} | ${n.enforce} | ${n.workloads}${n.exempt ? ` (${n.exempt} exempt)` : ''} | ${md(failingList(n.failingBaseline))} | ${md(failingList(n.failingRestrictedOnly))} |`),
    );
  }
  if (report.errors.length > 0) lines.push('', '## Errors', '', ...report.errors.map((e) => `- ${md(e)}`));
  return `${lines.join('\n')}\n`;
}

const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A horizontal bar chart as inline SVG: no scripts, no network. */
function barChart(title: string, rows: [string, number][]): string {
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const height = 22;
  const bars = rows
    .map(([label, n], i) => `<text x="0" y="${i * height + 15}">${html(label)}</text><rect x="260" y="${i * height + 4}" width="${Math.round((n / max) * 300)}" height="14" fill="#c0392b"></rect><text x="${270 + Math.round((n / max) * 300)}" y="${i * height + 15}">${n}</text>`)
    .join('');
  return `<figure><figcaption>${html(title)}</figcaption><svg role="img" aria-label="${html(title)}" width="640" height="${Math.max(1, rows.length) * height + 4}" font-size="12">${bars}</svg></figure>`;
}

export function htmlReport(report: AuditReport): string {
  const t = report.totals;
  const total = (id: string, label: string, n: number) => `<div class="total"><span class="n" id="${id}">${n}</span> ${label}</div>`;
  const rows = report.results.flatMap((r) =>
    r.failures.map((f) => `<tr class="sev-${f.severity}"><td>${html(r.cluster)}</td><td>${html(r.namespace)}</td><td>${html(`${r.kind} ${r.name}`)}</td><td><code>${html(f.policy)}</code></td><td>${f.severity}</td><td>${html(f.message)}</td></tr>`),
  );
  const section = report.podSecurity;
  const podSecurityHtml = section
    ? `<h2>Pod Security exceptions</h2>
<table id="pod-security-exceptions"><thead><tr><th>state</th><th>namespace / name or labels</th><th>controls</th><th>owner</th><th>reason</th></tr></thead><tbody>
${section.exceptions.map((e) => `<tr><td>${html(exceptionState(e))}</td><td>${html(exceptionTarget(e))}</td><td>${html(e.controls.join(', '))}</td><td>${html(e.owner)}</td><td>${html(e.reason)}</td></tr>`).join('\n')}
</tbody></table>
<h3>Passed by exception</h3>
<table id="pod-security-excepted"><thead><tr><th>cluster</th><th>object</th><th>passed by exception</th></tr></thead><tbody>
${excepted(report).flatMap((r) => (r.podSecurity?.exceptions ?? []).map((a) => `<tr><td>${html(r.cluster)}</td><td>${html(objectName(r))}</td><td>${html(appliedLine(a))}</td></tr>`)).join('\n')}
</tbody></table>
<h2>Pod Security levels</h2><p>What would fail if each namespace enforced baseline or restricted, whatever it enforces today.</p>
<table id="pod-security-levels"><thead><tr><th>namespace</th><th>enforces</th><th>workloads</th><th>failing baseline</th><th>failing restricted only</th></tr></thead><tbody>
${readinessRows(report).map((n) => `<tr><td>${html(n.key)}</td><td>${n.enforce}</td><td>${n.workloads}${n.exempt ? ` (${n.exempt} exempt)` : ''}</td><td>${html(failingList(n.failingBaseline))}</td><td>${html(failingList(n.failingRestrictedOnly))}</td></tr>`).join('\n')}
</tbody></table>
`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Canopy audit</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}h1{margin-top:0}.totals{display:flex;gap:1.5rem;flex-wrap:wrap}
.total{background:#f4f4f4;padding:.75rem 1rem;border-radius:6px}.n{font-size:1.6rem;font-weight:600}
table{border-collapse:collapse;margin:1rem 0;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;font-size:.9rem}
.sev-critical td:nth-child(5),.sev-high td:nth-child(5){color:#c0392b;font-weight:600}figure{margin:1rem 0}figcaption{font-weight:600}
</style></head><body>
<h1>Canopy audit</h1><p>Generated ${html(report.generatedAt)}.</p>
<div class="totals">${total('total-objects', 'objects', t.objects)}${total('total-failing', 'failing', t.failing)}${total('total-warning', 'warning', t.warning)}${total('total-passing', 'passing', t.passing)}${total('total-failures', 'failures', t.failures)}</div>
${barChart('Failures by severity', SEVERITIES.map((s) => [s, report.bySeverity[s]] as [string, number]).reverse())}
${barChart('Failures by policy', policiesBySeverity(report).map(([p, e]) => [p, e.failures] as [string, number]))}
${barChart('Failing objects by cluster', Object.entries(report.byCluster).map(([c, n]) => [c, n.failing] as [string, number]))}
${barChart('Failing objects by namespace', Object.entries(report.byNamespace).map(([ns, n]) => [ns, n.failing] as [string, number]))}
<h2>Failing objects</h2>
<table><thead><tr><th>cluster</th><th>namespace</th><th>object</th><th>policy</th><th>severity</th><th>message</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
${podSecurityHtml}${report.errors.length > 0 ? `<h2>Errors</h2><ul>${report.errors.map((e) => `<li>${html(e)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}

/** Results per report at most: a report must stay well under etcd's object size limit. */
export const MAX_RESULTS_PER_REPORT = 500;

const KYVERNO_SEVERITY: Record<string, string> = { critical: 'critical', high: 'high', medium: 'medium', low: 'low', info: 'info' };

export interface PolicyReportObject {
  apiVersion: 'wgpolicyk8s.io/v1alpha2';
  kind: 'PolicyReport' | 'ClusterPolicyReport';
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string> };
  summary: { pass: number; fail: number; warn: number; error: number; skip: number };
  results: Record<string, unknown>[];
}

/** PolicyReports per cluster and namespace, ClusterPolicyReports for cluster-scoped objects. */
export function policyReports(report: AuditReport): { cluster: string; report: PolicyReportObject }[] {
  const seconds = Math.floor(Date.parse(report.generatedAt) / 1000);
  const out: { cluster: string; report: PolicyReportObject }[] = [];
  const byScope = new Map<string, AuditResult[]>();
  for (const result of report.results) {
    const key = `${result.cluster}\0${result.namespace}`;
    byScope.set(key, [...(byScope.get(key) ?? []), result]);
  }
  for (const [namespaceKey, counts] of Object.entries(report.byNamespace)) {
    const [cluster = '', rawNamespace = ''] = namespaceKey.split(/\/(.*)/s);
    const namespace = rawNamespace === '(cluster)' ? '' : rawNamespace;
    const results = (byScope.get(`${cluster}\0${namespace}`) ?? []).flatMap((r) =>
      [...r.failures.map((f) => ({ f, result: 'fail' })), ...r.warnings.map((f) => ({ f, result: 'warn' }))].map(({ f, result }) => ({
        policy: f.policy,
        rule: f.policy,
        result,
        severity: KYVERNO_SEVERITY[f.severity] ?? 'medium',
        message: f.message,
        source: 'canopy',
        scored: true,
        timestamp: { seconds, nanos: 0 },
        resources: [{ apiVersion: r.apiVersion, kind: r.kind, name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) }],
        properties: { cluster: r.cluster, ...(r.workspace ? { workspace: r.workspace } : {}) },
      })),
    );
    // Objects an exception let through: a `skip` result per control, naming the exception.
    const skipped = (byScope.get(`${cluster}\0${namespace}`) ?? []).flatMap((r) =>
      (r.podSecurity?.exceptions ?? []).flatMap((a) =>
        a.controls.map((control) => ({
          policy: control,
          rule: control,
          result: 'skip',
          severity: 'info',
          message: `passed by exception: owner ${a.owner}: ${a.reason}${a.expires ? `; until ${a.expires}` : ''}`,
          source: 'canopy',
          scored: true,
          timestamp: { seconds, nanos: 0 },
          resources: [{ apiVersion: r.apiVersion, kind: r.kind, name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) }],
          properties: { cluster: r.cluster, exceptionOwner: a.owner, exceptionReason: a.reason, ...(a.expires ? { exceptionExpires: a.expires } : {}), ...(r.workspace ? { workspace: r.workspace } : {}) },
        })),
      ),
    );
    results.push(...skipped);
    const kept = results.slice(0, MAX_RESULTS_PER_REPORT);
    // The Pod Security exceptions of this namespace (in force or expired) and its standing against the levels.
    const readiness = report.podSecurity?.namespaces[namespaceKey];
    const exceptions = (report.podSecurity?.exceptions ?? []).filter((e) => namespace && e.namespace === namespace);
    const podSecurityAnnotations: Record<string, string> = {
      ...(exceptions.length > 0 ? { 'canopy.io/pod-security-exceptions': exceptions.map((e) => `[${exceptionState(e)}] ${exceptionTarget(e)}: ${e.controls.join(', ')}; owner ${e.owner}: ${e.reason}`).join('\n') } : {}),
      ...(readiness
        ? { 'canopy.io/pod-security-levels': `enforces ${readiness.enforce}; ${readiness.workloads} workloads; failing baseline: ${failingList(readiness.failingBaseline)}; failing restricted only: ${failingList(readiness.failingRestrictedOnly)}` }
        : {}),
    };
    out.push({
      cluster,
      report: {
        apiVersion: 'wgpolicyk8s.io/v1alpha2',
        kind: namespace ? 'PolicyReport' : 'ClusterPolicyReport',
        metadata: {
          name: namespace ? `canopy-${namespace}` : 'canopy-cluster',
          ...(namespace ? { namespace } : {}),
          labels: { 'app.kubernetes.io/managed-by': 'canopy' },
          annotations: { 'canopy.io/cluster': cluster, ...podSecurityAnnotations, ...(results.length > kept.length ? { 'canopy.io/truncated': `${results.length - kept.length} results omitted` } : {}) },
        },
        summary: { pass: counts.passing, fail: counts.failures, warn: counts.warnings, error: 0, skip: skipped.length },
        results: kept,
      },
    });
  }
  return out;
}

export function policyReportYaml(report: AuditReport): string {
  return policyReports(report).map(({ report: r }) => stringify(r)).join('---\n');
}
