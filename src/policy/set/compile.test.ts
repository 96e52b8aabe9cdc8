import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyDir } from '../../../test/helpers/policy-dir.js';
import { PACK_POLICY_IDS, SHIPPED_POLICY_IDS, STARTER_POLICIES } from '../../../test/helpers/fixtures.js';
import { PolicyLoadError } from '../engine/index.js';
import { loadPolicyDirectory, PolicyDirectoryError } from './index.js';

const FORBID = (id: string, condition = 'resource.hostNetwork') => `@id("${id}")
@advice("advice for ${id}")
forbid (principal, action, resource is k8s::Workload)
when { ${condition} };
`;

async function loadError(dir: string): Promise<string[]> {
  try {
    await loadPolicyDirectory(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyLoadError);
    return (error as PolicyLoadError).message.split('\n').slice(1).map((line) => line.trim());
  }
  throw new Error('the policy set was accepted');
}

describe('loading a policy directory', () => {
  it('loads the starter policies with their annotations', async () => {
    const set = await loadPolicyDirectory(STARTER_POLICIES);
    expect([...set.policies.keys()].sort()).toEqual([...SHIPPED_POLICY_IDS, ...PACK_POLICY_IDS].sort());
    // The models pack's mutation pins an InferenceService's images and oci:// models, as mutations.pin-digests pins a pod's.
    expect(set.mutations.map((m) => m.id)).toEqual(['mutations.default-resources', 'mutations.sovereignty-regions', 'models.pin-digests', 'mutations.pin-digests']);
    expect(set.sovereignty?.classes['restricted']?.jurisdictions).toEqual({ any: false, values: ['DE'] });
    const privileged = set.policies.get('pod-security.baseline.privileged');
    expect(privileged?.severity).toBe('high');
    expect(privileged?.mode).toBe('enforce');
    expect(privileged?.level).toBe('baseline');
    expect(privileged?.advice).toContain('privileged');
    expect(privileged?.position.file).toMatch(/pod-security\/baseline\/privileged\.cedar$/);
    expect(set.revision).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it('gives the same revision for the same files and a new one when a file changes', async () => {
    const a = await loadPolicyDirectory(policyDir({ 'a.cedar': FORBID('a') }));
    const b = await loadPolicyDirectory(policyDir({ 'a.cedar': FORBID('a') }));
    const c = await loadPolicyDirectory(policyDir({ 'a.cedar': FORBID('a', 'resource.hostPID') }));
    expect(a.revision).not.toBe(c.revision);
    // Wherever the directory is, and however it is written: the revision is of the files, by relative path.
    expect(a.revision).toBe(b.revision);
    const relative = path.relative(process.cwd(), STARTER_POLICIES);
    const revisions = await Promise.all([STARTER_POLICIES, relative, `./${relative}/`].map(async (dir) => (await loadPolicyDirectory(dir)).revision));
    expect(new Set(revisions).size).toBe(1);
  });

  it('reports a syntax error at its file, line and column', async () => {
    const dir = policyDir({ 'bad.cedar': `${FORBID('first')}\n@id("second")\n@advice("x")\nforbid (principal, action, resource)\nwhen { 1 + };\n` });
    const lines = await loadError(dir);
    expect(lines.some((line) => line.startsWith(`${dir}/bad.cedar:9:12:`))).toBe(true);
  });

  it('reports a policy that does not validate against the schema at the offending expression', async () => {
    // The non-ASCII advice before the error proves byte offsets are turned into character columns.
    const text = `${FORBID('ok')}\n@id("uses-unknown")\n@advice("évitez ça")\nforbid (principal, action, resource is k8s::Workload)\nwhen { resource.replicaz > 3 };\n`;
    const lines = await loadError(policyDir({ 'sub/dir/rules.cedar': text }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\/sub\/dir\/rules\.cedar:9:8: .*attribute `replicaz` on entity type `k8s::Workload` not found/);
  });

  it('validates in strict mode: an unguarded tag read is refused', async () => {
    const lines = await loadError(policyDir({ 'tag.cedar': FORBID('tag', 'resource.getTag("team") == "a"') }));
    expect(lines.join('\n')).toContain('unable to guarantee safety of access to tag');
  });

  it('refuses a duplicate @id and names both files', async () => {
    const dir = policyDir({ 'a.cedar': FORBID('same'), 'b/c.cedar': FORBID('same') });
    const lines = await loadError(dir);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${dir}/b/c.cedar:1:1: duplicate policy id "same": also used at ${dir}/a.cedar:1`);
  });

  it('refuses policies without @id or @advice, with unknown modes or severities, and permits', async () => {
    const lines = await loadError(
      policyDir({
        'noid.cedar': '@advice("x")\nforbid (principal, action, resource);\n',
        'noadvice.cedar': '@id("no-advice")\nforbid (principal, action, resource);\n',
        'mode.cedar': '@id("bad-mode")\n@advice("x")\n@mode("block")\nforbid (principal, action, resource);\n',
        'severity.cedar': '@id("bad-severity")\n@advice("x")\n@severity("urgent")\nforbid (principal, action, resource);\n',
        'permit.cedar': '@id("a-permit")\n@advice("x")\npermit (principal, action, resource);\n',
        'reserved.cedar': '@id("canopy.implicit-allow")\n@advice("x")\nforbid (principal, action, resource);\n',
      }),
    );
    const text = lines.join('\n');
    expect(text).toMatch(/noid\.cedar:1:1: policy has no @id/);
    expect(text).toMatch(/noadvice\.cedar:1:1: policy "no-advice": policy has no @advice/);
    expect(text).toMatch(/mode\.cedar:1:1: policy "bad-mode": @mode must be one of enforce, warn, audit/);
    expect(text).toMatch(/severity\.cedar:1:1: policy "bad-severity": @severity must be one of/);
    expect(text).toMatch(/permit\.cedar:1:1: policy "a-permit": permit policies have no effect/);
    expect(text).toMatch(/reserved\.cedar:1:1: @id\("canopy.implicit-allow"\) is reserved/);
  });

  it('reports an error in the schema at its location', async () => {
    const dir = policyDir({ 'a.cedar': FORBID('a') }, 'namespace k8s {\n  entity Workload = { hostNetwork: Boool };\n}\n');
    const lines = await loadError(dir);
    expect(lines[0]).toMatch(new RegExp(`^${dir}/schema\\.cedarschema:2:36: failed to resolve type: Boool`));
  });

  it('says clearly when the directory has no schema', async () => {
    await expect(loadPolicyDirectory('/nonexistent/policies')).rejects.toThrow(PolicyDirectoryError);
    await expect(loadPolicyDirectory('/nonexistent/policies')).rejects.toThrow(/no policy schema at \/nonexistent\/policies\/schema\.cedarschema/);
  });
});

describe('policies/README.md', () => {
  it('shows example policies and mutations that all validate against the schema', async () => {
    const readme = readFileSync(`${STARTER_POLICIES}/README.md`, 'utf8');
    const examples = [...readme.matchAll(/```cedar\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
    const files = Object.fromEntries(
      examples.map((text, index) => [`${/^permit/m.test(text) ? 'mutations/' : ''}example-${index}.cedar`, text]),
    );
    const set = await loadPolicyDirectory(policyDir(files));
    expect([...set.policies.keys()]).toEqual(['example.no-exec-in-payments']);
    expect(set.mutations.map((m) => m.id).sort()).toEqual(['mutations.payments-in-eu', 'mutations.team-annotation']);
  });
});
