// canopy budgets against a fleet store that speaks the real list protocol (FakeKube over HTTPS): two
// tenants' FleetBudgets with clusters in two regions and two providers, daily histories, one cluster whose
// grant has expired, and one FleetBudget that cannot be read. Every number expected below is computed here
// from the fixture's values, never copied from the output. The HTML page is rendered by headless Chromium.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCanopy } from './helpers/cli.js';
import { FakeKube, kubeconfigFor } from './helpers/fake-kube.js';

type Json = Record<string, unknown>;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-budgets-'));
const STORE = '/apis/canopy.io/v1alpha1/namespaces/canopy-fleet/fleetbudgets';
const STAGING = '/apis/canopy.io/v1alpha1/namespaces/staging/fleetbudgets';
const NOW = Date.now();
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const GI = 2n ** 30n;

// ---- the fixture, as exact amounts ----------------------------------------------------------------

interface Amounts {
  cpuMillis: bigint;
  memoryBytes: bigint;
  gpus: bigint;
  monthlyCostMicros: bigint;
}
const KEYS = ['cpuMillis', 'memoryBytes', 'gpus', 'monthlyCostMicros'] as const;
const ZERO: Amounts = { cpuMillis: 0n, memoryBytes: 0n, gpus: 0n, monthlyCostMicros: 0n };

/** "1234.567891" → micro-units. */
function micros(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}
const amounts = (cpuMillis: number, memoryGi: number, gpus: number, cost: string): Amounts => ({ cpuMillis: BigInt(cpuMillis), memoryBytes: BigInt(memoryGi) * GI, gpus: BigInt(gpus), monthlyCostMicros: micros(cost) });
const wire = (a: Amounts) => Object.fromEntries(KEYS.map((key) => [key, a[key].toString()]));
const sum = (list: readonly Amounts[]): Amounts => {
  const total = { ...ZERO };
  for (const a of list) for (const key of KEYS) total[key] += a[key];
  return total;
};

interface Cluster {
  region: string;
  provider: string;
  granted: Amounts;
  used: Amounts;
  expiresAt: string;
  history: { date: string; used: Amounts }[];
}
interface Budget {
  name: string;
  tenant: string;
  currency: string;
  /** spec.limits as the platform team writes them, and the same in canonical units. */
  spec: Record<string, string>;
  limits: Partial<Amounts>;
  clusters: Record<string, Cluster>;
}

const day = (date: string, cost: string, gpus: number) => ({ date, used: amounts(0, 0, gpus, cost) });

const SHOP_US_EXPIRED = iso(NOW - 3 * 24 * HOUR);
const shop: Budget = {
  name: 'shop',
  tenant: 'shop',
  currency: 'USD',
  spec: { cpu: '64', memory: '256Gi', gpus: '4', monthlyCost: '5000' },
  limits: { cpuMillis: 64_000n, memoryBytes: 256n * GI, gpus: 4n, monthlyCostMicros: micros('5000') },
  clusters: {
    'eu-1': {
      region: 'eu-west-1',
      provider: 'aws',
      granted: amounts(24_000, 96, 2, '2000'),
      used: amounts(15_500, 40, 1, '1234.567891'),
      expiresAt: iso(NOW + HOUR),
      history: [day('2026-12-01', '1000.10', 1), day('2026-12-02', '1100.20', 1), day('2026-12-03', '1234.567891', 1)],
    },
    'eu-2': {
      region: 'eu-west-1',
      provider: 'gcp',
      granted: amounts(8_000, 32, 1, '800'),
      used: amounts(6_000, 20, 1, '640.25'),
      expiresAt: iso(NOW + 2 * HOUR),
      history: [day('2026-12-02', '600', 1), day('2026-12-03', '640.25', 1)],
    },
    // Stopped renewing three days ago: its grant no longer holds, it counts as what it used.
    'us-1': {
      region: 'us-east-1',
      provider: 'aws',
      granted: amounts(16_000, 64, 1, '1500'),
      used: amounts(2_000, 8, 0, '300.5'),
      expiresAt: SHOP_US_EXPIRED,
      history: [day('2026-12-01', '450', 1), day('2026-12-02', '300.5', 0)],
    },
  },
};

const ml: Budget = {
  name: 'ml',
  tenant: 'ml',
  currency: 'EUR',
  spec: { gpus: '15', monthlyCost: '20000.50' },
  limits: { gpus: 15n, monthlyCostMicros: micros('20000.50') },
  clusters: {
    'gpu-eu': {
      region: 'eu-west-1',
      provider: 'gcp',
      granted: amounts(48_000, 192, 8, '12000'),
      used: amounts(40_000, 160, 6, '9000.40'),
      expiresAt: iso(NOW + 24 * HOUR),
      history: [day('2026-12-03', '8000', 5), day('2026-12-04', '8500.50', 6), day('2026-12-05', '9000.40', 6)],
    },
    'gpu-us': {
      region: 'us-east-1',
      provider: 'aws',
      granted: amounts(16_000, 64, 4, '6000'),
      used: amounts(12_000, 48, 3, '4100.05'),
      expiresAt: iso(NOW + 24 * HOUR),
      history: [day('2026-12-04', '4000', 3), day('2026-12-05', '4100.05', 3)],
    },
  },
};

const objectOf = (b: Budget, namespace = 'canopy-fleet'): Json => ({
  apiVersion: 'canopy.io/v1alpha1',
  kind: 'FleetBudget',
  metadata: { name: b.name, namespace },
  spec: { tenant: b.tenant, currency: b.currency, limits: b.spec },
  status: {
    clusters: Object.fromEntries(
      Object.entries(b.clusters).map(([name, c]) => [
        name,
        { granted: wire(c.granted), used: wire(c.used), expiresAt: c.expiresAt, updatedAt: iso(NOW - HOUR), region: c.region, provider: c.provider, history: c.history.map((h) => ({ date: h.date, used: wire(h.used) })) },
      ]),
    ),
  },
});

/** A second FleetBudget for tenant ml that cannot be read: its cpu limit is not a quantity. */
const BROKEN = { apiVersion: 'canopy.io/v1alpha1', kind: 'FleetBudget', metadata: { name: 'ml-extra', namespace: 'canopy-fleet' }, spec: { tenant: 'ml', currency: 'EUR', limits: { cpu: 'lots' } } };
/** A budget no cluster has reported to yet, whose tenant name is markup and a terminal escape sequence. */
const HOSTILE_TENANT = '<img src=x onerror=alert(1)>&co\u001b[2J';
const FRESH = { apiVersion: 'canopy.io/v1alpha1', kind: 'FleetBudget', metadata: { name: 'fresh', namespace: 'staging' }, spec: { tenant: HOSTILE_TENANT, currency: 'USD', limits: { monthlyCost: '100' } } };

// ---- what a user should read, computed from the fixture ------------------------------------------

/** Micro-units → "1234.57 USD", to the nearest cent. */
function money(value: bigint, currency: string): string {
  const negative = value < 0n;
  const cents = ((negative ? -value : value) + 5_000n) / 10_000n;
  return `${negative ? '-' : ''}${cents / 100n}.${String(cents % 100n).padStart(2, '0')} ${currency}`;
}
const currencyUnits = (value: bigint) => Number(value) / 1e6;
const gpus = (n: bigint) => (n === 1n ? '1 GPU' : `${n} GPUs`);
const percent = (used: bigint, limit: bigint) => (Number(used) / Number(limit)) * 100;
/** What a cluster takes of the budget now: its grant (or its use, if larger) while the grant holds, else its use. */
const heldBy = (c: Cluster): Amounts => {
  if (Date.parse(c.expiresAt) <= NOW) return c.used;
  const out = { ...ZERO };
  for (const key of KEYS) out[key] = c.granted[key] > c.used[key] ? c.granted[key] : c.used[key];
  return out;
};

interface Expected {
  used: Amounts;
  granted: Amounts;
  spendBy: (group: (name: string, c: Cluster) => string) => { name: string; cost: bigint; gpus: bigint }[];
  trend: { date: string; cost: bigint; gpus: bigint }[];
}

function expected(b: Budget): Expected {
  const clusters = Object.values(b.clusters);
  const spendBy = (group: (name: string, c: Cluster) => string) => {
    const lines = new Map<string, { name: string; cost: bigint; gpus: bigint }>();
    for (const [name, c] of Object.entries(b.clusters)) {
      const key = group(name, c);
      const line = lines.get(key) ?? { name: key, cost: 0n, gpus: 0n };
      line.cost += c.used.monthlyCostMicros;
      line.gpus += c.used.gpus;
      lines.set(key, line);
    }
    return [...lines.values()].sort((x, y) => Number(y.cost - x.cost));
  };
  const days = new Map<string, { date: string; cost: bigint; gpus: bigint }>();
  for (const c of clusters) {
    for (const h of c.history) {
      const entry = days.get(h.date) ?? { date: h.date, cost: 0n, gpus: 0n };
      entry.cost += h.used.monthlyCostMicros;
      entry.gpus += h.used.gpus;
      days.set(h.date, entry);
    }
  }
  return { used: sum(clusters.map((c) => c.used)), granted: sum(clusters.map(heldBy)), spendBy, trend: [...days.values()].sort((x, y) => (x.date < y.date ? -1 : 1)) };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A line of a table holding these cells in this order, separated by spaces. */
const row = (...cells: string[]) => new RegExp(`^\\s*${cells.map(escapeRegExp).join('\\s+')}\\s*$`, 'm');
/** The part of the text report about one tenant. */
const section = (text: string, tenant: string) => text.split(/^(?=Tenant )/m).find((part) => part.startsWith(`Tenant ${tenant}:`)) ?? '';

// ---- the tests -------------------------------------------------------------------------------------

interface ReportJson {
  version: number;
  store: { server: string; namespace: string };
  tenants: {
    tenant: string;
    budget: string;
    currency: string;
    limits: Json;
    used: Json;
    granted: Json;
    free: Json;
    percentUsed: Record<string, number | null>;
    clusters: { cluster: string; expired: boolean; notice?: string; used: Json }[];
    spend: { total: Json; byCluster: Json[]; byRegion: Json[]; byProvider: Json[] };
    trend: Json[];
  }[];
  unreadable: { name: string; namespace: string; reason: string }[];
  tenantsNotFound: string[];
}

describe('canopy budgets', () => {
  const store = new FakeKube();
  let kubeconfig = '';

  beforeAll(async () => {
    store.put(STORE, objectOf(shop));
    store.put(STORE, objectOf(ml));
    store.put(STORE, BROKEN);
    store.put(STAGING, FRESH);
    await store.start();
    kubeconfig = kubeconfigFor({ fleet: store.url, gone: 'https://127.0.0.1:9' });
  });

  afterAll(async () => {
    await store.stop();
  });

  const budgets = (...args: string[]) => runCanopy(['budgets', '--kubeconfig', kubeconfig, ...args]);

  it('reports each tenant in JSON with exact numbers, names the FleetBudget it cannot read, and exits 2', async () => {
    const result = await budgets('--output', 'json');
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('canopy budgets: FleetBudget ml-extra (namespace canopy-fleet) could not be read: spec.limits.cpu must be a Kubernetes quantity');
    const report = JSON.parse(result.stdout) as ReportJson;
    expect(report.version).toBe(1);
    expect(report.store).toEqual({ server: store.url, namespace: 'canopy-fleet' });
    expect(report.unreadable).toEqual([{ name: 'ml-extra', namespace: 'canopy-fleet', reason: expect.stringContaining('spec.limits.cpu must be a Kubernetes quantity') }]);
    expect(report.tenants.map((t) => t.tenant)).toEqual(['ml', 'shop']);

    for (const budget of [shop, ml]) {
      const t = report.tenants.find((entry) => entry.tenant === budget.tenant);
      const e = expected(budget);
      expect(t?.currency).toBe(budget.currency);
      const amountsJson = (a: Amounts) => ({ cpuMillis: Number(a.cpuMillis), memoryBytes: Number(a.memoryBytes), gpus: Number(a.gpus), monthlyCost: currencyUnits(a.monthlyCostMicros) });
      expect(t?.used).toEqual(amountsJson(e.used));
      expect(t?.granted).toEqual(amountsJson(e.granted));
      const limitKeys = KEYS.filter((key) => budget.limits[key] !== undefined);
      const name = (key: (typeof KEYS)[number]) => (key === 'monthlyCostMicros' ? 'monthlyCost' : key);
      const value = (key: (typeof KEYS)[number], v: bigint) => (key === 'monthlyCostMicros' ? currencyUnits(v) : Number(v));
      expect(t?.limits).toEqual(Object.fromEntries(limitKeys.map((key) => [name(key), value(key, budget.limits[key] ?? 0n)])));
      expect(t?.free).toEqual(Object.fromEntries(limitKeys.map((key) => [name(key), value(key, (budget.limits[key] ?? 0n) - e.granted[key])])));
      for (const key of limitKeys) expect(t?.percentUsed[name(key)]).toBeCloseTo(percent(e.used[key], budget.limits[key] ?? 1n), 2);
      expect(t?.spend.total).toEqual({ monthlyCost: currencyUnits(e.used.monthlyCostMicros), gpus: Number(e.used.gpus) });
      const lines = (field: string, group: (name: string, c: Cluster) => string) => e.spendBy(group).map((line) => ({ [field]: line.name, monthlyCost: currencyUnits(line.cost), gpus: Number(line.gpus) }));
      expect(t?.spend.byCluster).toEqual(lines('cluster', (clusterName) => clusterName));
      expect(t?.spend.byRegion).toEqual(lines('region', (_, c) => c.region));
      expect(t?.spend.byProvider).toEqual(lines('provider', (_, c) => c.provider));
      expect(t?.trend).toEqual(e.trend.map((d) => ({ date: d.date, monthlyCost: currencyUnits(d.cost), gpus: Number(d.gpus) })));
    }

    // The expired grant is flagged, and only it.
    const clusters = report.tenants.flatMap((t) => t.clusters.map((c) => [c.cluster, c.expired, c.notice]));
    expect(clusters).toEqual([
      ['gpu-eu', false, undefined],
      ['gpu-us', false, undefined],
      ['eu-1', false, undefined],
      ['eu-2', false, undefined],
      ['us-1', true, `not renewing since ${SHOP_US_EXPIRED}`],
    ]);
  });

  it('shows the same numbers in the terminal, flags the cluster that stopped renewing, and names the unreadable budget on stderr', async () => {
    const result = await budgets();
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('FleetBudget ml-extra (namespace canopy-fleet) could not be read');
    // Problems go to standard error once: the terminal report leaves them out.
    expect(result.stdout).not.toContain('ml-extra');

    const text = section(result.stdout, 'shop');
    const e = expected(shop);
    const limit = shop.limits.monthlyCostMicros ?? 0n;
    expect(text).toMatch(
      row('monthly cost', money(limit, 'USD'), money(e.used.monthlyCostMicros, 'USD'), `${percent(e.used.monthlyCostMicros, limit).toFixed(1)}%`, money(e.granted.monthlyCostMicros, 'USD'), money(limit - e.granted.monthlyCostMicros, 'USD')),
    );
    const gpuLimit = shop.limits.gpus ?? 0n;
    expect(text).toMatch(row('GPUs', `${gpuLimit}`, `${e.used.gpus}`, `${percent(e.used.gpus, gpuLimit).toFixed(1)}%`, `${e.granted.gpus}`, `${gpuLimit - e.granted.gpus}`));
    for (const line of e.spendBy((_, c) => c.region)) expect(text).toMatch(row(line.name, money(line.cost, 'USD'), `${line.gpus}`));
    for (const line of e.spendBy((_, c) => c.provider)) expect(text).toMatch(row(line.name, money(line.cost, 'USD'), `${line.gpus}`));
    for (const d of e.trend) expect(text).toMatch(row(d.date, money(d.cost, 'USD'), `${d.gpus}`));
    const us = shop.clusters['us-1'];
    expect(text).toMatch(row('us-1', 'us-east-1', 'aws', money(us?.used.monthlyCostMicros ?? 0n, 'USD'), `${us?.used.gpus}`, `${us?.used.gpus}`, `EXPIRED: not renewing since ${SHOP_US_EXPIRED}`));
    expect(text).toContain(`us-1: not renewing since ${SHOP_US_EXPIRED}: its grant no longer holds`);
    expect(text).not.toMatch(/eu-[12]: not renewing/);

    const mlText = section(result.stdout, 'ml');
    const m = expected(ml);
    const mlLimit = ml.limits.monthlyCostMicros ?? 0n;
    expect(mlText).toMatch(
      row('monthly cost', money(mlLimit, 'EUR'), money(m.used.monthlyCostMicros, 'EUR'), `${percent(m.used.monthlyCostMicros, mlLimit).toFixed(1)}%`, money(m.granted.monthlyCostMicros, 'EUR'), money(mlLimit - m.granted.monthlyCostMicros, 'EUR')),
    );
    // No cpu limit: no percentage and nothing free, but the use and the grants all the same.
    expect(mlText).toMatch(row('cpu', '-', `${Number(m.used.cpuMillis) / 1000}`, '-', `${Number(m.granted.cpuMillis) / 1000}`, '-'));
    expect(mlText).not.toContain('not renewing');
  });

  it('reports only the tenants --tenant names, and exits 0 when all of them could be read', async () => {
    const onlyShop = await budgets('--tenant', 'shop', '--output', 'json');
    expect(onlyShop.code, onlyShop.stderr).toBe(0);
    expect(onlyShop.stderr).toBe('');
    const report = JSON.parse(onlyShop.stdout) as ReportJson;
    expect(report.tenants.map((t) => t.tenant)).toEqual(['shop']);
    expect(report.unreadable).toEqual([]);

    // ml's second FleetBudget cannot be read: asking for ml reports it.
    const onlyMl = await budgets('--tenant', 'ml');
    expect(onlyMl.code).toBe(2);
    expect(section(onlyMl.stdout, 'ml')).not.toBe('');
    expect(section(onlyMl.stdout, 'shop')).toBe('');
    expect(onlyMl.stderr).toContain('ml-extra');

    const both = JSON.parse((await budgets('--tenant', 'shop', '--tenant', 'nobody', '--output', 'json')).stdout) as ReportJson;
    expect(both.tenants.map((t) => t.tenant)).toEqual(['shop']);
    expect(both.tenantsNotFound).toEqual(['nobody']);
    const missing = await budgets('--tenant', 'nobody');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no FleetBudget in namespace canopy-fleet is for tenant nobody');
  });

  it('says plainly when a budget has no history yet (--namespace)', async () => {
    const result = await budgets('--namespace', 'staging');
    expect(result.code, result.stderr).toBe(0);
    // The escape sequence is shown, not sent to the terminal.
    expect(result.stdout).toContain(`Tenant ${HOSTILE_TENANT.replace('\u001b', '\ufffd')}: FleetBudget fresh, in USD`);
    expect(result.stdout).not.toContain('\u001b');
    expect(result.stdout).toContain('no history yet');
    const report = JSON.parse((await budgets('--namespace', 'staging', '--output', 'json')).stdout) as ReportJson;
    expect(report.tenants[0]).toMatchObject({ tenant: HOSTILE_TENANT, trend: [], clusters: [], used: { monthlyCost: 0 }, free: { monthlyCost: 100 } });
  });

  it('renders one self-contained HTML page with the charts and the right values (headless Chromium)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'budgets.html');
    const result = await budgets('--output', 'html', '--out', file);
    expect(result.code).toBe(2); // ml-extra cannot be read; the page is written all the same
    expect(result.stdout).toBe('');
    const page = readFileSync(file, 'utf8');
    // Nothing to fetch: no URL at all, no script, no external stylesheet, font or image.
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).not.toMatch(/<script|<link|<img|@import|url\(/i);

    const chromium = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', `--user-data-dir=${tempDir()}`, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60_000 });
    expect(chromium.status, chromium.stderr).toBe(0);
    const dom = chromium.stdout;
    const byId = (id: string) => new RegExp(`id="${id}">([^<]*)<`).exec(dom)?.[1];
    const s = expected(shop);
    const m = expected(ml);
    expect(byId('spend-shop')).toBe(money(s.used.monthlyCostMicros, 'USD'));
    expect(byId('spend-ml')).toBe(money(m.used.monthlyCostMicros, 'EUR'));
    expect(byId('gpus-ml')).toBe(`${m.used.gpus}`);

    // Every chart is an image with a label a screen reader reads, values included.
    const labels = [...dom.matchAll(/<svg role="img" aria-label="([^"]*)"/g)].map((match) => (match[1] ?? '').replace(/&amp;/g, '&'));
    expect(dom.match(/<svg/g)?.length).toBe(labels.length);
    const bars = (group: (name: string, c: Cluster) => string) => s.spendBy(group).map((line) => `${line.name} ${money(line.cost, 'USD')} · ${gpus(line.gpus)}`).join('; ');
    expect(labels).toContain(`Spend per month by cluster, shop: ${bars((name) => name)}`);
    expect(labels).toContain(`Spend per month by region, shop: ${bars((_, c) => c.region)}`);
    expect(labels).toContain(`Spend per month by provider, shop: ${bars((_, c) => c.provider)}`);
    expect(labels).toContain(`Fleet spend per month, by day, shop: ${s.trend.map((d) => `${d.date} ${money(d.cost, 'USD')}`).join('; ')}`);
    expect(labels).toContain(`Fleet GPUs used, by day, ml: ${m.trend.map((d) => `${d.date} ${gpus(d.gpus)}`).join('; ')}`);
    const gauge = labels.find((label) => label.startsWith('Used, granted and limit, shop:'));
    const gpuLimit = shop.limits.gpus ?? 0n;
    expect(gauge).toContain(`GPUs: ${s.used.gpus} used, ${s.granted.gpus} granted, limit ${gpuLimit} (${percent(s.used.gpus, gpuLimit).toFixed(1)}% used)`);
    expect(gauge).toContain(`monthly cost: ${money(s.used.monthlyCostMicros, 'USD')} used, ${money(s.granted.monthlyCostMicros, 'USD')} granted`);

    // The cluster that stopped renewing, and the budget that could not be read.
    expect(dom).toContain(`<span class="flag">not renewing since ${SHOP_US_EXPIRED}</span>`);
    expect(dom).toMatch(/<strong>us-1<\/strong>: not renewing since/);
    expect(dom).toMatch(/id="problems"[\s\S]*FleetBudget ml-extra \(namespace canopy-fleet\) could not be read/);
  });

  it('escapes what the objects say in the HTML page', async () => {
    const file = path.join(tempDir(), 'staging.html');
    expect((await budgets('--namespace', 'staging', '--output', 'html', '--out', file)).code).toBe(0);
    const page = readFileSync(file, 'utf8');
    expect(page).not.toContain('<img');
    expect(page).toContain('Tenant &lt;img src=x onerror=alert(1)&gt;&amp;co');
    expect(page).toContain('No history yet');
  });

  it('names the fleet store it cannot reach, and a context the kubeconfig does not have', async () => {
    const gone = await budgets('--context', 'gone');
    expect(gone.code).toBe(2);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(/^canopy budgets: cannot reach the fleet store https:\/\/127\.0\.0\.1:9: /);
    const unknown = await budgets('--context', 'nowhere');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no context nowhere; its contexts: fleet, gone');
    const noCrd = await budgets('--namespace', 'elsewhere');
    expect(noCrd.code).toBe(2);
    expect(noCrd.stderr).toContain(`the fleet store ${store.url} does not serve fleetbudgets.canopy.io/v1alpha1`);
  });

  it('is described by --help', async () => {
    const help = await runCanopy(['budgets', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--kubeconfig', '--context', '--namespace', '--tenant', '--output', '--out']) expect(help.stdout).toContain(option);
    expect(help.stdout).toContain('FleetBudget');
    expect((await runCanopy(['--help'])).stdout).toMatch(/^\s+budgets\b/m);
    const wrong = await budgets('--output', 'xml');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--output is one of text, json, html');
  });
});
