// README's example of a policy that sees the fleet ("no region may hold more than 20% of a fleet
// budget's GPUs"), taken from README itself, beside the shipped quota policies: it validates against
// the shipped schema, and denies and admits what it says, as `canopy test` runs cases.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicyTests } from '../src/policy/tests/index.js';
import { REPO_ROOT, STARTER_POLICIES } from './helpers/fixtures.js';

/** The cedar block of README's Fleet-wide budgets section. */
function readmeExample(): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Fleet-wide budgets'));
  const block = /```cedar\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README's Fleet-wide budgets section has no cedar block");
  // The block is indented as part of a list item.
  return block.replace(/^ {2}/gm, '');
}

const CASES = `cases:
  - name: a GPU that takes the region past 20% of the fleet budget is denied
    namespace: {labels: {canopy.io/tenant: example-fleet-team}}
    cluster: {name: de-1, region: eu-central-1}
    fleet: {example-fleet-team: {limit: {gpus: 50}, share: {gpus: 20}, used: {gpus: 10}}}
    object: &pod
      apiVersion: v1
      kind: Pod
      metadata: {name: train, namespace: ml}
      spec: {containers: [{name: train, image: train:1, resources: {limits: {nvidia.com/gpu: 1}}}]}
    expect: {allowed: false, denied: [fleet.region-gpus]}
  - name: a GPU that keeps the region within 20% is admitted
    namespace: {labels: {canopy.io/tenant: example-fleet-team}}
    cluster: {name: de-1, region: eu-central-1}
    fleet: {example-fleet-team: {limit: {gpus: 50}, share: {gpus: 20}, used: {gpus: 8}}}
    object: *pod
    expect: {allowed: true, denied: []}
`;

describe("README's fleet policy example", () => {
  it('validates against the shipped schema, denies a region past 20% of the fleet GPUs and admits one within', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canopy-fleet-region-'));
    for (const folder of ['quota', 'data', 'fleet']) mkdirSync(path.join(dir, folder));
    writeFileSync(path.join(dir, 'schema.cedarschema'), readFileSync(path.join(STARTER_POLICIES, 'schema.cedarschema')));
    for (const file of ['budgets.yaml', 'prices.yaml']) writeFileSync(path.join(dir, 'data', file), readFileSync(path.join(STARTER_POLICIES, 'data', file)));
    writeFileSync(path.join(dir, 'quota/fleet.cedar'), readFileSync(path.join(STARTER_POLICIES, 'quota/fleet.cedar')));
    writeFileSync(path.join(dir, 'fleet/region-gpus.cedar'), readmeExample());
    writeFileSync(path.join(dir, 'fleet/region-gpus.test.yaml'), CASES);
    const suite = await runPolicyTests(dir);
    expect(suite.problems).toEqual([]);
    expect(suite.results.map((result) => [result.testCase.name, result.passed, result.failures, result.error])).toEqual([
      ['a GPU that takes the region past 20% of the fleet budget is denied', true, [], undefined],
      ['a GPU that keeps the region within 20% is admitted', true, [], undefined],
    ]);
  });
});
