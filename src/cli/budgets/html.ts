// The budgets report as one self-contained HTML page: no scripts, no fonts, no images, no stylesheet to
// fetch (its Content-Security-Policy forbids any), charts as inline SVG. Per tenant: the fleet's spend and
// GPUs, a gauge of used / granted / limit, spend by cluster, region and provider, the daily trend, the
// clusters (those not renewing flagged) and the budget's table. Text from the objects is escaped.
import { AMOUNT_KEYS, type AmountKey } from '../../kubernetes/objects/fleet-budget.js';
import { barChart, escapeHtml as html, gauge, lineChart, type GaugeRow } from './charts.js';
import { AMOUNT_LABELS, amountText, gpusText, money, notRenewing, percentText, placeText, problemLines } from './format.js';
import type { BudgetsReport, SpendLine, TenantReport } from './report.js';

const STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.4}
h1{margin:0 0 .25rem}h2{margin:0 0 .5rem}small{color:#555;font-weight:normal}
section.tenant{border-top:3px solid #2b6cb0;margin:2.5rem 0;padding-top:1rem}
.totals{display:flex;gap:1rem;flex-wrap:wrap;margin:.75rem 0}.total{background:#f3f5f8;padding:.6rem 1rem;border-radius:6px}
.n{display:block;font-size:1.5rem;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:0 2rem}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.25rem}
table{border-collapse:collapse;margin:.75rem 0;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;font-size:.9rem}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.when{white-space:nowrap;font-size:.8rem}
.warning{background:#fff4e5;border-left:4px solid #d97706;padding:.5rem .75rem}.problems{background:#fdecea;border-left:4px solid #c0392b;padding:.5rem .75rem}
tr.expired td{color:#8a4b00}.flag{font-weight:600;color:#b45309}.empty{color:#555;font-style:italic}
`;

/** Ids for each tenant's section and figures: its name in [a-z0-9-], unique within the page. */
function slugs(tenants: readonly TenantReport[]): string[] {
  const taken = new Set<string>();
  return tenants.map((t) => {
    const base = t.tenant.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'tenant';
    let slug = base;
    for (let n = 2; taken.has(slug); n += 1) slug = `${base}-${n}`;
    taken.add(slug);
    return slug;
  });
}

/** A bigint as a Number for drawing: exact enough for a picture. */
const size = (value: bigint) => Number(value);
const spendText = (line: SpendLine, currency: string) => `${money(line.monthlyCostMicros, currency)} · ${gpusText(line.gpus)}`;

function gaugeRows(t: TenantReport): GaugeRow[] {
  const shown = AMOUNT_KEYS.filter((key) => t.limits[key] !== undefined || t.used[key] > 0n || t.granted[key] > 0n);
  return shown.map((key: AmountKey) => {
    const limit = t.limits[key];
    const used = amountText(key, t.used[key], t.currency);
    const granted = amountText(key, t.granted[key], t.currency);
    const limitText = limit === undefined ? 'no limit' : `limit ${amountText(key, limit, t.currency)} (${percentText(t.used[key], limit)} used)`;
    return { label: AMOUNT_LABELS[key], used: size(t.used[key]), granted: size(t.granted[key]), limit: limit === undefined ? undefined : size(limit), text: `${used} used, ${granted} granted, ${limitText}` };
  });
}

function spendCharts(t: TenantReport, slug: string): string {
  const bars = (lines: readonly SpendLine[]) => lines.map((line) => ({ label: placeText(line.name), value: size(line.monthlyCostMicros), text: spendText(line, t.currency) }));
  return `<div class="charts">
${barChart(`Spend per month by cluster, ${t.tenant}`, bars(t.byCluster), { id: `by-cluster-${slug}` })}
${barChart(`Spend per month by region, ${t.tenant}`, bars(t.byRegion), { id: `by-region-${slug}`, colour: '#2f855a' })}
${barChart(`Spend per month by provider, ${t.tenant}`, bars(t.byProvider), { id: `by-provider-${slug}`, colour: '#805ad5' })}
</div>`;
}

function trendCharts(t: TenantReport, slug: string): string {
  if (t.trend.length === 0) return `<p class="empty" id="trend-${slug}">No history yet: no cluster has published daily usage for this budget.</p>`;
  const spend = t.trend.map((day) => ({ label: day.date, value: size(day.monthlyCostMicros) / 1e6, text: money(day.monthlyCostMicros, t.currency) }));
  const gpus = t.trend.map((day) => ({ label: day.date, value: size(day.gpus), text: gpusText(day.gpus) }));
  const count = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1));
  return `<div class="charts" id="trend-${slug}">
${lineChart(`Fleet spend per month, by day, ${t.tenant}`, spend, (value) => `${value.toFixed(2)} ${t.currency}`, { id: `trend-spend-${slug}` })}
${lineChart(`Fleet GPUs used, by day, ${t.tenant}`, gpus, count, { id: `trend-gpus-${slug}`, colour: '#b7791f' })}
</div>`;
}

function clusterTable(t: TenantReport): string {
  if (t.clusters.length === 0) return '<p class="empty">No cluster has taken a grant yet.</p>';
  const rows = t.clusters.map(
    (c) =>
      `<tr${c.expired ? ' class="expired"' : ''}><td>${html(c.cluster)}</td><td>${html(placeText(c.region))}</td><td>${html(placeText(c.provider))}</td>` +
      `<td class="num">${html(money(c.used.monthlyCostMicros, t.currency))}</td><td class="num">${c.used.gpus}</td><td class="num">${c.held.gpus}</td>` +
      `<td class="when">${c.expired ? `<span class="flag">${html(notRenewing(c.expiresAt))}</span>` : `holds until ${html(c.expiresAt)}`}</td><td class="when">${html(c.updatedAt)}</td></tr>`,
  );
  return `<table class="clusters"><thead><tr><th>cluster</th><th>region</th><th>provider</th><th class="num">spend/month</th><th class="num">GPUs used</th><th class="num">GPUs granted</th><th>grant</th><th>updated</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

function budgetTable(t: TenantReport): string {
  const cell = (key: AmountKey, value: bigint | undefined) => `<td class="num">${value === undefined ? '-' : html(amountText(key, value, t.currency))}</td>`;
  const rows = AMOUNT_KEYS.map((key) => `<tr><td>${AMOUNT_LABELS[key]}</td>${cell(key, t.limits[key])}${cell(key, t.used[key])}<td class="num">${percentText(t.used[key], t.limits[key])}</td>${cell(key, t.granted[key])}${cell(key, t.free[key])}</tr>`);
  return `<table class="budget"><thead><tr><th>budget</th><th class="num">limit</th><th class="num">used</th><th class="num">used %</th><th class="num">granted</th><th class="num">free</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

function tenantSection(t: TenantReport, slug: string): string {
  const limit = t.limits.monthlyCostMicros;
  const total = (id: string, value: string, what: string) => `<div class="total"><span class="n" id="${id}-${slug}">${html(value)}</span>${what}</div>`;
  const expired = t.clusters.filter((c) => c.expired);
  const warnings = expired.map((c) => `<p class="warning"><strong>${html(c.cluster)}</strong>: ${html(notRenewing(c.expiresAt))}. Its grant no longer holds: it counts as what it last used.</p>`);
  return `<section class="tenant" id="tenant-${slug}" data-tenant="${html(t.tenant)}">
<h2>Tenant ${html(t.tenant)} <small>FleetBudget ${html(t.budget)} · ${html(t.currency)}</small></h2>
<div class="totals">
${total('spend', money(t.used.monthlyCostMicros, t.currency), 'fleet spend per month')}
${total('cost-limit', limit === undefined ? 'no limit' : money(limit, t.currency), 'monthly cost limit')}
${total('cost-used', percentText(t.used.monthlyCostMicros, limit), 'of the cost limit used')}
${total('gpus', `${t.used.gpus}`, 'GPUs used')}
${total('clusters', `${t.clusters.length}`, `clusters${expired.length > 0 ? `, ${expired.length} not renewing` : ''}`)}
</div>
${warnings.join('\n')}
${gauge(`Used, granted and limit, ${t.tenant}`, gaugeRows(t), { id: `gauge-${slug}` })}
${spendCharts(t, slug)}
<h3>Trend</h3>
${trendCharts(t, slug)}
<h3>Clusters</h3>
${clusterTable(t)}
<h3>Budget</h3>
${budgetTable(t)}
</section>`;
}

function overview(report: BudgetsReport, ids: readonly string[]): string {
  if (report.tenants.length === 0) return '<p class="empty">No FleetBudget to report.</p>';
  const rows = report.tenants.map((t, i) => {
    const limit = t.limits.monthlyCostMicros;
    const expired = t.clusters.filter((c) => c.expired).length;
    return `<tr><td><a href="#tenant-${ids[i] ?? ''}">${html(t.tenant)}</a></td><td>${html(t.budget)}</td><td class="num">${html(money(t.used.monthlyCostMicros, t.currency))}</td>` +
      `<td class="num">${limit === undefined ? '-' : html(money(limit, t.currency))}</td><td class="num">${percentText(t.used.monthlyCostMicros, limit)}</td><td class="num">${t.used.gpus}</td>` +
      `<td class="num">${t.clusters.length}</td><td>${expired > 0 ? `<span class="flag">${expired} not renewing</span>` : ''}</td></tr>`;
  });
  return `<table class="overview" id="overview"><thead><tr><th>tenant</th><th>FleetBudget</th><th class="num">spend/month</th><th class="num">cost limit</th><th class="num">used %</th><th class="num">GPUs used</th><th class="num">clusters</th><th></th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

/** The fleet store's host: the page names no URL, so nothing in it could be taken for a link to fetch. */
function storeName(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return server;
  }
}

export function htmlReport(report: BudgetsReport): string {
  const ids = slugs(report.tenants);
  const problems = problemLines(report);
  const count = report.tenants.length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Canopy fleet budgets</title>
<style>${STYLE}</style></head><body>
<h1>Canopy fleet budgets</h1>
<p>${count} ${count === 1 ? 'budget' : 'budgets'} in namespace <strong>${html(report.namespace)}</strong> of the fleet store <strong>${html(storeName(report.server))}</strong>, at ${html(report.generatedAt)}. Spend is the monthly cost of what the clusters use.</p>
${problems.length > 0 ? `<div class="problems" id="problems"><strong>Not reported:</strong><ul>${problems.map((p) => `<li>${html(p)}</li>`).join('')}</ul></div>` : ''}
${overview(report, ids)}
${report.tenants.map((t, i) => tenantSection(t, ids[i] ?? String(i))).join('\n')}
</body></html>
`;
}
