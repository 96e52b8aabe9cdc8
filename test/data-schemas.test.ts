// Policy data is declared once per file kind, as a TypeBox schema beside the fact provider that reads it
// (src/facts/*/): the provider checks the data against it at load, and `npm run schemas` publishes it as
// policies/schemas/<key>.schema.json, which the shipped data files name for editors. This suite keeps
// the three in step: a published schema that differs from its declaration, a shipped file its schema
// refuses or that does not name it, and messages that do not name the file, the path and what was expected.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { quotaProvider } from '../src/facts/quota/index.js';
import { schemaDocument } from '../src/facts/schema-problems.js';
import { PolicyLoadError } from '../src/policy/engine/index.js';
import { FACT_PROVIDERS, loadPolicyDirectory } from '../src/policy/set/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { policyDir } from './helpers/policy-dir.js';

const PROVIDERS = FACT_PROVIDERS;
const KINDS: [string, TSchema, (typeof PROVIDERS)[number]][] = PROVIDERS.flatMap((provider) =>
  Object.entries(provider.dataSchemas).map(([key, schema]): [string, TSchema, (typeof PROVIDERS)[number]] => [key, schema, provider]),
);
const SCHEMAS = path.join(STARTER_POLICIES, 'schemas');

/** The shipped data files of a kind: data/KEY.yaml, and the packs' data/KEY.yaml. */
function shippedFiles(key: string): string[] {
  const packs = readdirSync(path.join(STARTER_POLICIES, 'packs'), { withFileTypes: true }).filter((entry) => entry.isDirectory());
  const candidates = [path.join(STARTER_POLICIES, 'data'), ...packs.map((pack) => path.join(STARTER_POLICIES, 'packs', pack.name, 'data'))];
  return candidates.flatMap((dir) => {
    const names = (() => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    })();
    return names.filter((name) => name === `${key}.yaml` || name === `${key}.yml` || name === `${key}.json`).map((name) => path.join(dir, name));
  });
}

describe('policy data schemas', () => {
  it('declares each data file kind once, every provider key with a schema', () => {
    for (const provider of PROVIDERS) expect(Object.keys(provider.dataSchemas).sort()).toEqual([...provider.dataKeys].sort());
    expect(KINDS.map(([key]) => key).sort()).toEqual(['budgets', 'pod-security', 'prices', 'sovereignty', 'supply-chain']);
  });

  it.each(KINDS.map(([key, schema]) => [key, schema] as const))('publishes %s as its declaration says (npm run schemas)', (key, schema) => {
    const file = path.join(SCHEMAS, `${key}.schema.json`);
    const published = readFileSync(file, 'utf8');
    expect(published, `${file} differs from the schema declared in src/facts: run npm run schemas`).toBe(schemaDocument(schema));
  });

  it('publishes no schema that nothing declares', () => {
    const files = readdirSync(SCHEMAS).sort();
    expect(files).toEqual(KINDS.map(([key]) => `${key}.schema.json`).sort());
  });

  it.each(KINDS.map(([key, schema, provider]) => [key, schema, provider] as const))('ships %s data that names its schema and passes it', (key, schema, provider) => {
    const files = shippedFiles(key);
    expect(files.length).toBeGreaterThan(0);
    const published = JSON.parse(readFileSync(path.join(SCHEMAS, `${key}.schema.json`), 'utf8')) as TSchema;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const schemaPath = path.relative(path.dirname(file), path.join(SCHEMAS, `${key}.schema.json`)).split(path.sep).join('/');
      expect(text.split('\n')[0], `${file}'s first line`).toBe(`# yaml-language-server: $schema=${schemaPath}`);
      const data: unknown = parseYaml(text);
      // What an editor checks (the published file), and what Canopy checks at load (the provider).
      expect(Value.Errors(published, data), `${file} against ${key}.schema.json`).toEqual([]);
      expect(provider.read({ [key]: data }).problems, file).toEqual([]);
      expect(Value.Check(schema, Value.Default(schema, structuredClone(data)))).toBe(true);
    }
  });

  it.each([
    ['sovereignty', { classes: { secret: { jurisdictions: 'DE' } } }, 'classes.secret.jurisdictions must be "any" or a list of names'],
    ['sovereignty', { clases: {} }, 'unknown field clases (sovereignty data has classes and residencies)'],
    ['sovereignty', ['EU'], 'sovereignty data must be a map with classes and residencies'],
    ['supply-chain', { allowedSources: { default: 'registry.example.com' } }, 'allowedSources.default must be a list of registries or repository prefixes'],
    ['supply-chain', { allowedSources: { environments: { production: [5] } } }, 'allowedSources.environments.production must be a list of registries or repository prefixes'],
    ['supply-chain', { trust: [{ repositories: ['r/*'], keys: ['not a key'] }] }, /^trust\[0\]\.keys\[0\] must be a PEM public key \(/],
    ['supply-chain', { trust: [{ repositories: ['r/*'], keys: [] }] }, 'trust[0].keys must not be empty'],
    ['prices', { cpuCoreHour: 0.0000001 }, 'prices.cpuCoreHour must be a decimal number with at most 6 decimals'],
    ['prices', { hoursPerMonth: 0 }, 'prices.hoursPerMonth must be a positive whole number'],
    ['budgets', { softThresholdPercent: 120 }, 'budgets.softThresholdPercent must be a whole number from 1 to 100'],
    ['budgets', { tenants: { a: 'lots' } }, 'budgets.tenants.a must be a map of limits (cpu, memory, gpus, monthlyCost, softThresholdPercent)'],
    ['budgets', { tenant: {} }, 'budgets has unknown field tenant'],
    ['pod-security', { defaults: { enforce: 'strict' } }, 'defaults.enforce must be one of privileged, baseline, restricted, not "strict"'],
    ['pod-security', { exemptions: { usernames: [1] } }, 'exemptions.usernames must be a list of strings'],
    ['pod-security', { exceptions: [{ controls: ['pod-security.baseline.capabilities'], namespace: 'n', name: 'a', reason: 'r' }] }, 'exceptions[0].owner is required: who answers for it'],
    ['pod-security', { exceptions: [{ controls: ['x'], namespace: 'n', name: 'a', owner: 'o', reason: 'r' }] }, 'exceptions[0].controls must name pod-security.<level>.<control> ids'],
    ['pod-security', { exceptions: [{ controls: ['pod-security.baseline.capabilities'], namespace: 'n', owner: 'o', reason: 'r' }] }, 'exceptions[0] must have exactly one of name and labels'],
    ['pod-security', { exceptions: [{ controls: ['pod-security.baseline.capabilities'], namespace: 'n', name: 'a', owner: 'o', reason: 'r', expires: 'soon' }] }, 'exceptions[0].expires must be a date, YYYY-MM-DD'],
  ])('refuses bad %s data %j, naming the path and what was expected', (key, data, message) => {
    const provider = KINDS.find(([kind]) => kind === key)?.[2];
    if (!provider) throw new Error(`no provider reads ${key}`);
    const read = provider.read({ [key]: data });
    expect(read.problems).toEqual([typeof message === 'string' ? message : expect.stringMatching(message)]);
    expect(read.data === undefined || provider === quotaProvider).toBe(true);
  });

  it('names the data file in a policy set that refuses it', async () => {
    const error = await loadPolicyDirectory(policyDir({ 'data/budgets.yaml': 'tenants:\n  team-a: {cpu: lots}\n' })).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as Error).message).toMatch(/data\/budgets\.yaml:1:1: quota data: budgets\.tenants\.team-a\.cpu must be a Kubernetes quantity such as 8, 500m or 32Gi/);
  });
});
