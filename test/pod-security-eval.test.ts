// How a reviewer checks the Pod Security pack: `canopy eval --policies DIR` on the upstream fixtures,
// with data/pod-security.yaml set to `defaults: {enforce: restricted}`, denies every restricted `fail`
// Pod and allows every `pass` Pod. DIR holds the pack alone (schema, its facts, its policies, its data),
// so what answers is Pod Security and nothing else of the shipped set.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCanopy, type CliResult } from './helpers/cli.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { admissionReview } from './helpers/review.js';

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'shared', 'pod-security', 'restricted');
type Json = Record<string, unknown>;

function packDirectory(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-pss-eval-'));
  cpSync(path.join(STARTER_POLICIES, 'schema.cedarschema'), path.join(dir, 'schema.cedarschema'));
  cpSync(path.join(STARTER_POLICIES, 'pod-security'), path.join(dir, 'pod-security'), { recursive: true });
  mkdirSync(path.join(dir, 'facts'));
  cpSync(path.join(STARTER_POLICIES, 'facts', 'pod-security.yaml'), path.join(dir, 'facts', 'pod-security.yaml'));
  mkdirSync(path.join(dir, 'data'));
  writeFileSync(path.join(dir, 'data', 'pod-security.yaml'), 'defaults: {enforce: restricted}\n');
  return dir;
}

function reviewsOf(outcome: 'pass' | 'fail'): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), `canopy-pss-${outcome}-`));
  return readdirSync(path.join(FIXTURES, outcome))
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => {
      const pod = parse(readFileSync(path.join(FIXTURES, outcome, name), 'utf8')) as Json;
      (pod['metadata'] as Json)['namespace'] = 'team-a';
      const file = path.join(dir, name.replace(/\.yaml$/, '.json'));
      writeFileSync(file, JSON.stringify(admissionReview(pod)));
      return file;
    });
}

describe('canopy eval on the upstream Pod Security fixtures, enforce: restricted', () => {
  let passing: { files: string[]; result: CliResult };
  let failing: { files: string[]; result: CliResult };

  beforeAll(async () => {
    const dir = packDirectory();
    const [pass, fail] = [reviewsOf('pass'), reviewsOf('fail')];
    const [passResult, failResult] = await Promise.all([runCanopy(['eval', '--policies', dir, ...pass]), runCanopy(['eval', '--policies', dir, ...fail])]);
    passing = { files: pass, result: passResult };
    failing = { files: fail, result: failResult };
  }, 60_000);

  it('allows every pass fixture (exit 0)', () => {
    expect(passing.files.length).toBeGreaterThan(20);
    expect(passing.result.stderr).toBe('');
    expect(passing.result.stdout).toContain(`${passing.files.length} judged: ${passing.files.length} allowed, 0 denied; 0 unreadable`);
    expect(passing.result.code).toBe(0);
  });

  it('denies every fail fixture with a pod-security control (exit 1)', () => {
    expect(failing.files.length).toBeGreaterThan(70);
    expect(failing.result.code).toBe(1);
    for (const file of failing.files) {
      expect(failing.result.stdout, file).toMatch(new RegExp(`DENY  ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*\\n {6}Canopy denied this request: \\[pod-security\\.(baseline|restricted)\\.`));
    }
    expect(failing.result.stdout).toContain(`${failing.files.length} judged: 0 allowed, ${failing.files.length} denied; 0 unreadable`);
  });
});
