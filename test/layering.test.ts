// Dependencies in src/ point one way (README, Layout): dependency-cruiser reads every import, type-only
// ones included, checks the rules of .dependency-cruiser.cjs, and this test refuses any cycle between
// units of src/ (README, Layout), which module-level rules cannot see (a → b in one file, b → a in another).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/fixtures.js';

const require = createRequire(import.meta.url);
const config = require(`${REPO_ROOT}.dependency-cruiser.cjs`) as IConfiguration;

/** Top-level folders of src/ that import each other, directly or around a circle (Tarjan's SCCs). */
function folderCycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

/** README's Layout: the units of src/ in layer order, highest first (`policy/engine`, `pipeline`). */
const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
const layout = readme.slice(readme.indexOf('## Layout'), readme.indexOf('## Development'));
const order = [...layout.matchAll(/^.{18}src\/([a-z-]+(?:\/[a-z-]+)?)\s/gm)].map((match) => match[1] as string);

/** The unit a file of src/ belongs to: the unit of the Layout that holds it, else its area. */
function unitOf(file: string): string | undefined {
  const parts = /^src\/(.+)\/[^/]+$/.exec(file)?.[1]?.split('/');
  if (!parts) return undefined;
  const folder = parts.slice(0, 2).join('/');
  return order.includes(folder) ? folder : parts[0];
}

/** What a module loads when it runs: its imports but the type-only ones (erased), transitively. */
function loadedBy(result: ICruiseResult, start: string): Set<string> {
  const byName = new Map(result.modules.map((module) => [module.source, module]));
  const loaded = new Set<string>();
  const pending = [start];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (loaded.has(name)) continue;
    loaded.add(name);
    for (const dependency of byName.get(name)?.dependencies ?? []) {
      if (!dependency.dependencyTypes.includes('type-only')) pending.push(dependency.resolved);
    }
  }
  return loaded;
}

describe('the layering of src/', () => {
  let result: ICruiseResult;

  beforeAll(async () => {
    const tsConfig = extractTSConfig(`${REPO_ROOT}tsconfig.json`);
    const cruised = await cruise([`${REPO_ROOT}src`], { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden ?? [] }, baseDir: REPO_ROOT }, {}, { tsConfig });
    result = cruised.output as ICruiseResult;
  }, 60_000);

  it('keeps every rule of .dependency-cruiser.cjs', () => {
    const violations = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(violations).toEqual([]);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
  });

  it('has no import cycle between units of src/, type-only imports included', () => {
    const edges = new Map<string, Set<string>>();
    for (const module of result.modules) {
      const from = unitOf(module.source);
      if (!from) continue;
      for (const dependency of module.dependencies) {
        const to = unitOf(dependency.resolved);
        if (!to || to === from) continue;
        edges.set(from, (edges.get(from) ?? new Set()).add(to));
      }
    }
    expect(edges.size).toBeGreaterThan(10);
    expect(folderCycles(edges)).toEqual([]);
  });

  it("shows every area of src/ and every folder in them in README's Layout", () => {
    const areas = readdirSync(`${REPO_ROOT}src`, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    const listed = [...layout.matchAll(/^src\/([a-z-]+)\s/gm)].map((match) => match[1] as string);
    expect([...listed].sort()).toEqual([...areas].sort());
    // Every folder of an area is a unit of the layering, or inside the area's own unit (facts/declared).
    const folders = areas.flatMap((area) =>
      readdirSync(`${REPO_ROOT}src/${area}`, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${area}/${e.name}`),
    );
    const unlisted = folders.filter((folder) => !order.includes(folder) && !order.includes(folder.split('/')[0] ?? ''));
    expect(unlisted).toEqual([]);
  });

  it("imports only units README's Layout lists below the importer", () => {
    const rank = new Map(order.map((name, index) => [name, index]));
    const upward: string[] = [];
    for (const module of result.modules) {
      const from = unitOf(module.source);
      if (!from) continue;
      for (const dependency of module.dependencies) {
        const to = unitOf(dependency.resolved);
        if (to && to !== from && (rank.get(to) ?? -1) < (rank.get(from) ?? -1)) upward.push(`${module.source} → ${dependency.resolved}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps the schema library out of what an evaluation worker loads', () => {
    // A worker judges with sets checked elsewhere; typebox, which only reading policy data needs, costs
    // about 350 ms of CPU per thread to import. Derivations come from a provider's facts.ts, not its index.
    const loaded = loadedBy(result, 'src/pipeline/worker.ts');
    expect(loaded).toContain('src/pipeline/pipeline.ts');
    expect([...loaded].filter((name) => /^typebox(\/|$)/.test(name))).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    const edges = new Map([
      ['engine', new Set(['cedar'])],
      ['translate', new Set(['quota'])],
      ['quota', new Set(['kubernetes', 'translate'])],
    ]);
    expect(folderCycles(edges)).toEqual([['quota', 'translate']]);
  });
});
