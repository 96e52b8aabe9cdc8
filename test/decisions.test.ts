// Decision semantics: enforce, warn and audit modes; fail closed on policy errors, engine failures and
// when no policy set is active; refusing a policy set the engine cannot evaluate.
import { describe, expect, it } from 'vitest';
import { decide } from '../src/policy/decision/index.js';
import { evaluate } from '../src/policy/engine/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline, PolicyActivationError } from '../src/pipeline/index.js';
import { toCedarRequest } from '../src/policy/translate/index.js';
import { parseAdmissionReview } from '../src/kubernetes/admission/index.js';
import { fixture } from './helpers/fixtures.js';
import { SCHEMA_TEXT, policyDir } from './helpers/policy-dir.js';
import { pipelineFor } from './helpers/pipeline.js';

const policy = (id: string, body: string, annotations = '') =>
  `@id("${id}")\n@advice("advice of ${id}")\n${annotations}forbid (principal, action, resource is k8s::Workload)\n${body};\n`;

// Cedar cannot tell statically that this overflows: it errors at evaluation time for any pod.
const OVERFLOWS = 'when { resource.containers.contains("nginx") && 4611686018427387904 * 4 > 0 }';
const MATCHES_POD = 'when { resource.kind == "Pod" }';

describe('decision semantics', () => {
  it('denies when a policy cannot be evaluated (fail closed), naming the policy and the error', async () => {
    const t = await pipelineFor(policyDir({ 'errors.cedar': policy('always-errors', OVERFLOWS) }));
    const { review, decision } = t.review(fixture(12));
    expect(review.response.allowed).toBe(false);
    expect(decision.denials).toHaveLength(1);
    expect(review.response.status?.message).toMatch(
      /\[always-errors\] could not be evaluated \(integer overflow[^)]*\), so Canopy fails closed\. advice of always-errors/,
    );
    const line = t.logLines.find((l) => l['msg'] === 'decision');
    expect(line?.['decision']).toBe('deny');
    expect(line?.['errors']).toEqual([{ policy: 'always-errors', error: expect.stringContaining('integer overflow') }]);
  });

  it('lets a policy opt out of failing closed with @onError("skip"), and still records the error', async () => {
    const t = await pipelineFor(policyDir({ 'errors.cedar': policy('skips', OVERFLOWS, '@onError("skip")\n') }));
    const { review, decision } = t.review(fixture(12));
    expect(review.response.allowed).toBe(true);
    expect(decision.audits.map((a) => a.id)).toEqual(['skips']);
    expect(t.logLines.find((l) => l['msg'] === 'decision')?.['errors']).toHaveLength(1);
  });

  it('turns a warn-mode match into an admission warning and allows', async () => {
    const t = await pipelineFor(policyDir({ 'warn.cedar': policy('warns', MATCHES_POD, '@mode("warn")\n') }));
    const { review } = t.review(fixture(12));
    expect(review.response.allowed).toBe(true);
    expect(review.response.warnings).toEqual(['[warns] advice of warns']);
    expect(t.logLines.find((l) => l['msg'] === 'decision')?.['warned']).toEqual(['warns']);
  });

  it('records an audit-mode match in the decision log and audit annotations only', async () => {
    const t = await pipelineFor(policyDir({ 'audit.cedar': policy('audits', MATCHES_POD, '@mode("audit")\n') }));
    const { review } = t.review(fixture(12));
    expect(review.response).toEqual({
      uid: fixture(12).request.uid,
      allowed: true,
      auditAnnotations: { 'audit-mode-policies': 'audits' },
    });
    expect(t.logLines.find((l) => l['msg'] === 'decision')?.['audited']).toEqual(['audits']);
  });

  it('keeps warnings on a denial', async () => {
    const t = await pipelineFor(
      policyDir({
        'enforce.cedar': policy('enforces', MATCHES_POD),
        'warn.cedar': policy('warns', MATCHES_POD, '@mode("warn")\n'),
      }),
    );
    const { review } = t.review(fixture(12));
    expect(review.response.allowed).toBe(false);
    expect(review.response.status?.message).toBe('Canopy denied this request: [enforces] advice of enforces.');
    expect(review.response.warnings).toEqual(['[warns] advice of warns']);
  });

  it('allows what no policy forbids', async () => {
    const t = await pipelineFor(policyDir({ 'pods.cedar': policy('pods', MATCHES_POD) }));
    expect(t.review(fixture(28)).review.response.allowed).toBe(true); // a ConfigMap
  });

  it('denies every request while no policy set is active', () => {
    const { review } = new AdmissionPipeline().review(fixture(28));
    expect(review.response.allowed).toBe(false);
    expect(review.response.status?.message).toContain('no validated policy set is active yet');
  });

  it('denies when the engine answers failure', async () => {
    const checked = await loadPolicyDirectory(policyDir({ 'pods.cedar': policy('pods', MATCHES_POD) }));
    const active = await new AdmissionPipeline().activate(checked);
    // A translation bug would look like this: an attribute of the wrong type, which the schema refuses.
    const request = toCedarRequest(parseAdmissionReview(fixture(12)));
    const resource = request.entities.find((entity) => JSON.stringify(entity.uid) === JSON.stringify(request.resource));
    if (!resource) throw new Error('no resource entity');
    resource.attrs = { ...resource.attrs, hostNetwork: 'yes' };
    const decision = decide(active, evaluate(active, request));
    expect(decision.allowed).toBe(false);
    expect(decision.failure).toContain('hostNetwork');
  });

  it('refuses to activate a set whose schema rejects the requests Canopy builds, and keeps the active one', async () => {
    const pipeline = new AdmissionPipeline();
    const good = await pipeline.activate(await loadPolicyDirectory(policyDir({ 'pods.cedar': policy('pods', MATCHES_POD) })));
    // A schema edit that drops an attribute Canopy sends: every policy still validates against it.
    const narrowed = SCHEMA_TEXT.replace('    serviceAccountName: String,\n', '');
    expect(narrowed).not.toBe(SCHEMA_TEXT);
    const broken = await loadPolicyDirectory(policyDir({ 'pods.cedar': policy('pods', MATCHES_POD) }, narrowed));
    await expect(pipeline.activate(broken)).rejects.toThrow(PolicyActivationError);
    await expect(pipeline.activate(broken)).rejects.toThrow(/serviceAccountName/);
    expect(pipeline.policySet?.revision).toBe(good.revision);
    expect(pipeline.review(fixture(12)).review.response.allowed).toBe(false);
  });

  it('refuses a schema that no longer accepts an optional fact Canopy sends (quota, sovereignty, supply chain, ...)', async () => {
    const retyped = SCHEMA_TEXT.replace('type Quota = {\n    tenant: String,', 'type Quota = {\n    tenant: Long,');
    expect(retyped).not.toBe(SCHEMA_TEXT);
    const broken = await loadPolicyDirectory(policyDir({ 'pods.cedar': policy('pods', MATCHES_POD) }, retyped));
    await expect(new AdmissionPipeline().activate(broken)).rejects.toThrow(/quota: \{.*tenant: "warm-up".*is not valid/);
  });

  it('reuses its two preparse slots across reloads, and keeps serving the active set', async () => {
    const pipeline = new AdmissionPipeline();
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const set = await pipeline.activate(await loadPolicyDirectory(policyDir({ [`p${i}.cedar`]: policy(`p${i}`, MATCHES_POD) })));
      ids.add(set.engine.slot);
      expect(pipeline.review(fixture(12)).decision.denials.map((d) => d.id)).toEqual([`p${i}`]);
    }
    expect(ids.size).toBe(2);
  });
});
