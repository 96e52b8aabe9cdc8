// Turns a policy directory's text into an active Cedar policy set: parse, read annotations, validate
// against the schema in strict mode, then preparse once. Nothing that fails any step is ever activated.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { cedar, type PolicyJson } from '../cedar/index.js';
import { findStaticConflicts, readMutationSpec, type MutationSpec } from '../mutation/index.js';
import type { FactProvider } from '../../facts/provider.js';
import { OPENCOST_PRICES, quotaProvider, type QuotaData } from '../../facts/quota/index.js';
import { sovereigntyProvider, type SovereigntyData } from '../../facts/sovereignty/index.js';
import { supplyChainProvider, type SupplyChainData } from '../../facts/supply-chain/index.js';
import { podSecurityProvider, type PodSecurityData } from '../../facts/pod-security/index.js';
import { declareFacts, type DeclaredFacts } from '../../facts/declared/index.js';
import {
  actionGraphOf,
  diagnosticsFromCedar,
  IMPLICIT_ALLOW_ID,
  PolicyLoadError,
  readPolicyInfo,
  scopeOf,
  type PolicyDiagnostic,
  type PolicyInfo,
  type PolicyScope,
  type SourcePosition,
  type SourceText,
} from '../engine/index.js';
import { parsePolicyText, parseSchemaText, validatePolicies } from './cedar-memo.js';
import { readPolicyData } from './data.js';
import { applyPackSetting, mutationIsActive, PACKS_DATA_KEY, readPackSettings, type PackSetting, type PackSummary } from './packs.js';
import type { PolicySetSource } from './policy-files.js';

/** The id of the policy Canopy adds so that whatever no forbid denies is allowed. */
export { IMPLICIT_ALLOW_ID };

/** A policy as it stands in its file: its text, where that text starts, and its annotations. */
interface LocatedPolicy<Info extends { id: string; position: SourcePosition }> {
  info: Info;
  text: string;
  json: PolicyJson;
  source: SourceText;
  byteOffset: number;
}

type AnnotationReader<Info> = (
  annotations: Readonly<Record<string, string>>,
  effect: 'permit' | 'forbid',
  position: SourcePosition,
) => Info | PolicyDiagnostic[];

export interface CheckedPolicySet {
  /** A content hash of the schema and every policy file: the same files give the same revision. */
  revision: string;
  /** The schema Cedar validates and evaluates against, in Cedar's JSON form: schema.cedarschema and the declared facts. */
  schemaText: string;
  /** policies/facts/*.yaml, compiled, and which policies read which facts. */
  facts: DeclaredFacts;
  policies: ReadonlyMap<string, PolicyInfo>;
  /** Cedar's validator warnings (they do not block activation). */
  warnings: PolicyDiagnostic[];
  /** Policy text keyed by @id: the form Cedar is given, so it answers with our ids. */
  texts: Readonly<Record<string, string>>;
  /** Mutation policies (policies/mutations/), in the order they run: @order, then @id. */
  mutations: readonly MutationSpec[];
  mutationTexts: Readonly<Record<string, string>>;
  /** What each policy and mutation can apply to, so a request is evaluated against only those (engine/policy-scope.ts). */
  scopes: Readonly<Record<string, PolicyScope>>;
  mutationScopes: Readonly<Record<string, PolicyScope>>;
  /** Policy data (policies/data/), for mutation templates. */
  data: Readonly<Record<string, unknown>>;
  /** data/sovereignty.yaml, checked. */
  sovereignty?: SovereigntyData;
  /** data/prices.yaml and data/budgets.yaml, checked. */
  quota: QuotaData;
  /** data/supply-chain.yaml, checked. */
  supplyChain?: SupplyChainData;
  /** data/pod-security.yaml, checked. */
  podSecurity?: PodSecurityData;
  /** The packs under packs/, as data/packs.yaml switches them; their inactive rules are in no other field. */
  packs: readonly PackSummary[];
}

/** Of the files' paths relative to the directory (not as the directory was written), and their contents. */
function revisionOf(source: PolicySetSource): string {
  const hash = createHash('sha256');
  // The same join that made each file's path (policy-files.ts): `./policies/` and `policies` alike.
  const prefix = path.posix.join(source.root, '.', '/');
  for (const file of [source.schema, ...source.files, ...source.mutationFiles, ...source.dataFiles, ...source.factFiles]) {
    const relative = file.file.startsWith(prefix) ? file.file.slice(prefix.length) : file.file;
    hash.update(relative).update('\0').update(file.bytes).update('\0');
  }
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

/** Splits one file into its policies, keeping each one's byte offset for error locations. */
function splitFile<Info extends { id: string; position: SourcePosition }>(
  source: SourceText,
  readInfo: AnnotationReader<Info>,
  diagnostics: PolicyDiagnostic[],
): LocatedPolicy<Info>[] {
  const parsed = parsePolicyText(source.text);
  if (parsed.type === 'failure') {
    for (const error of parsed.errors) diagnostics.push(...diagnosticsFromCedar(error, source));
    return [];
  }
  if (parsed.templates) {
    diagnostics.push({
      position: source.position(0),
      message: 'policy templates are not supported: write static policies',
    });
  }
  const located: LocatedPolicy<Info>[] = [];
  let cursor = 0;
  for (const policy of parsed.policies) {
    const { text } = policy;
    // The parts are verbatim slices of the file, in order, so searching on from the last one finds each.
    const index = source.text.indexOf(text, cursor);
    const start = index >= 0 ? index : cursor;
    cursor = start + text.length;
    const byteOffset = source.byteOffsetOf(start);
    const position = source.position(byteOffset);
    if ('errors' in policy) {
      for (const error of policy.errors) diagnostics.push(...diagnosticsFromCedar(error, source, byteOffset));
      continue;
    }
    const json = policy;
    const info = readInfo(json.json.annotations ?? {}, json.json.effect, position);
    if (Array.isArray(info)) diagnostics.push(...info);
    else located.push({ info, text, json: json.json, source, byteOffset });
  }
  return located;
}

/**
 * The fact sources whose data a policy set carries, and whose context attributes the schema must declare.
 * `npm run schemas` publishes their data files' schemas, and test/data-schemas.test.ts checks them, from here.
 */
export const FACT_PROVIDERS: readonly FactProvider<unknown, never, unknown>[] = [sovereigntyProvider, supplyChainProvider, quotaProvider, podSecurityProvider];

/** A provider's policy data, checked; each problem is located at the data file it comes from. */
function providerData<Data>(provider: FactProvider<Data, never, unknown>, data: Readonly<Record<string, unknown>>, source: PolicySetSource, diagnostics: PolicyDiagnostic[]): Data | undefined {
  const read = provider.read(data);
  const position = dataPosition(source, provider.dataKeys);
  for (const problem of read.problems) diagnostics.push({ position, message: `${provider.name} data: ${problem}` });
  return read.data;
}

/** Where a problem of the policy data under one of `keys` is reported: its file (data/KEY.yaml), else the schema. */
function dataPosition(source: PolicySetSource, keys: readonly string[]): SourcePosition {
  const file = source.dataFiles.find((f) => keys.some((key) => new RegExp(`[/\\\\]${key}\\.(ya?ml|json)$`).test(f.file)));
  return file?.position(0) ?? source.schema.position(0);
}

/** Each provider's schema fragment: the schema must declare the context attribute it fills. */
function missingContextAttributes(schemaJson: unknown): string[] {
  const context = (schemaJson as { k8s?: { commonTypes?: Record<string, { attributes?: Record<string, unknown> }> } }).k8s?.commonTypes?.['AdmissionContext']?.attributes;
  if (!context) return [];
  return FACT_PROVIDERS.filter((provider) => !(provider.contextAttribute in context)).map(
    (provider) => `the schema's AdmissionContext has no "${provider.contextAttribute}" attribute, which the ${provider.name} facts fill; declare it as in the shipped schema.cedarschema`,
  );
}

/** Parses, annotates and validates a policy set without activating it. Throws PolicyLoadError. */
export function checkPolicySet(source: PolicySetSource): CheckedPolicySet {
  const diagnostics: PolicyDiagnostic[] = [];
  const parsedSchema = parseSchemaText(source.schema.text);
  const schema = parsedSchema.check;
  if (schema.type === 'failure') {
    for (const error of schema.errors) diagnostics.push(...diagnosticsFromCedar(error, source.schema));
  }

  // One namespace of ids across validating policies and mutations: logs and reports name them alike.
  const byId = new Map<string, LocatedPolicy<{ id: string; position: SourcePosition }>>();
  const claim = (policy: LocatedPolicy<{ id: string; position: SourcePosition }>): boolean => {
    const id = policy.info.id;
    const first = byId.get(id);
    if (id === IMPLICIT_ALLOW_ID) {
      diagnostics.push({ position: policy.info.position, message: `@id("${id}") is reserved for Canopy` });
    } else if (first) {
      diagnostics.push({
        position: policy.info.position,
        message:
          `duplicate policy id "${id}": also used at ${first.source.file}:${first.info.position.line}` +
          ` (policy ids must be unique across all files)`,
      });
    } else {
      byId.set(id, policy);
      return true;
    }
    return false;
  };
  const validating = new Map<string, LocatedPolicy<PolicyInfo>>();
  for (const file of source.files) {
    for (const policy of splitFile(file, readPolicyInfo, diagnostics)) if (claim(policy)) validating.set(policy.info.id, policy);
  }
  const mutating = new Map<string, LocatedPolicy<MutationSpec>>();
  for (const file of source.mutationFiles) {
    for (const policy of splitFile(file, readMutationSpec, diagnostics)) if (claim(policy)) mutating.set(policy.info.id, policy);
  }
  const data = readPolicyData(source.dataFiles, diagnostics);
  const packSettings = packSettingsOf(source, data, validating, mutating, diagnostics);
  const sovereignty = providerData(sovereigntyProvider, data, source, diagnostics);
  const supplyChain = providerData(supplyChainProvider, data, source, diagnostics);
  const quota = providerData(quotaProvider, data, source, diagnostics) ?? { prices: OPENCOST_PRICES, budgets: {}, fleet: {} };
  const podSecurity = providerData(podSecurityProvider, data, source, diagnostics);
  const mutations = [...mutating.values()]
    .map((policy) => policy.info)
    .sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  diagnostics.push(...findStaticConflicts(mutations));

  // The schema as Cedar's JSON, with a `facts` record on every object type from the declared facts.
  let effectiveSchema: Record<string, unknown> | undefined;
  let facts: DeclaredFacts = { declarations: [], reads: {}, oldReads: {} };
  if (schema.type === 'success') {
    const schemaJson = parsedSchema.json ?? cedar.schemaToJson(source.schema.text);
    if (schemaJson.type === 'failure') {
      for (const error of schemaJson.errors) diagnostics.push(...diagnosticsFromCedar(error, source.schema));
    } else {
      const policyJson = new Map([...validating, ...mutating].map(([id, policy]) => [id, policy.json] as const));
      for (const problem of missingContextAttributes(schemaJson.json)) diagnostics.push({ position: source.schema.position(0), message: problem });
      const declared = declareFacts(source.factFiles, schemaJson.json, policyJson);
      facts = declared.facts;
      diagnostics.push(...declared.problems);
      diagnostics.push(...undeclaredReads([...validating.values(), ...mutating.values()], facts));
      if (declared.schemaProblem) diagnostics.push({ position: source.schema.position(0), message: declared.schemaProblem });
      effectiveSchema = declared.schema;
    }
  }
  if (diagnostics.length > 0 || !effectiveSchema) throw new PolicyLoadError(diagnostics);

  const texts: Record<string, string> = {};
  for (const [id, policy] of validating) texts[id] = policy.text;
  const mutationTexts: Record<string, string> = {};
  for (const [id, policy] of mutating) mutationTexts[id] = policy.text;
  // Both kinds are validated in one call: their ids are unique, and errors map back through byId.
  const validation = validatePolicies({
    schema: effectiveSchema as Parameters<typeof validatePolicies>[0]['schema'],
    policies: { staticPolicies: { ...texts, ...mutationTexts } },
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure') {
    // The validator itself refused (for example a schema it could parse but not resolve).
    for (const error of validation.errors) diagnostics.push(...diagnosticsFromCedar(error, source.schema));
    throw new PolicyLoadError(diagnostics);
  }
  const locate = (policyId: string, error: Parameters<typeof diagnosticsFromCedar>[0]) => {
    const policy = byId.get(policyId);
    return policy
      ? diagnosticsFromCedar(error, policy.source, policy.byteOffset)
      : diagnosticsFromCedar(error, source.schema);
  };
  for (const { policyId, error } of validation.validationErrors) diagnostics.push(...locate(policyId, error));
  if (diagnostics.length > 0) throw new PolicyLoadError(diagnostics);

  const warnings: PolicyDiagnostic[] = [];
  for (const { policyId, error } of validation.validationWarnings) warnings.push(...locate(policyId, error));

  // Every policy was validated, so a pack that is off still has to be correct; only the active ones go on.
  const packs = activatePacks(source, packSettings, validating, mutating, diagnostics);
  if (diagnostics.length > 0) throw new PolicyLoadError(diagnostics);
  for (const id of Object.keys(texts)) if (!validating.has(id)) delete texts[id];
  for (const id of Object.keys(mutationTexts)) if (!mutating.has(id)) delete mutationTexts[id];
  const activeMutations = mutations.filter((mutation) => mutating.has(mutation.id));

  const policies = new Map<string, PolicyInfo>();
  for (const [id, policy] of validating) policies.set(id, policy.info);
  // The effective schema holds the schema file's actions: no second parse of the file.
  const actions = actionGraphOf(effectiveSchema);
  const scopes: Record<string, PolicyScope> = {};
  for (const [id, policy] of validating) scopes[id] = scopeOf(policy.json, actions);
  const mutationScopes: Record<string, PolicyScope> = {};
  for (const [id, policy] of mutating) mutationScopes[id] = scopeOf(policy.json, actions);
  return {
    revision: revisionOf(source),
    schemaText: JSON.stringify(effectiveSchema),
    facts,
    policies,
    warnings,
    texts,
    mutations: activeMutations,
    mutationTexts,
    scopes,
    mutationScopes,
    data,
    ...(sovereignty ? { sovereignty } : {}),
    quota,
    ...(supplyChain ? { supplyChain } : {}),
    ...(podSecurity ? { podSecurity } : {}),
    packs,
  };
}

/** data/packs.yaml, read against the packs there are and the ids of their policies and mutations. */
function packSettingsOf(
  source: PolicySetSource,
  data: Readonly<Record<string, unknown>>,
  validating: ReadonlyMap<string, LocatedPolicy<PolicyInfo>>,
  mutating: ReadonlyMap<string, LocatedPolicy<MutationSpec>>,
  diagnostics: PolicyDiagnostic[],
): Map<string, PackSetting> {
  const rules = new Map<string, Set<string>>(source.packs.map((name) => [name, new Set<string>()]));
  for (const policy of [...validating.values(), ...mutating.values()]) {
    const pack = source.packOf.get(policy.source.file);
    if (pack !== undefined) rules.get(pack)?.add(policy.info.id);
  }
  const problems: string[] = [];
  const settings = readPackSettings(data[PACKS_DATA_KEY], rules, problems);
  const position = dataPosition(source, [PACKS_DATA_KEY]);
  for (const problem of problems) diagnostics.push({ position, message: `packs data: ${problem}` });
  return settings;
}

/**
 * Applies data/packs.yaml: drops the policies and mutations of packs that are off, and rules set `off`,
 * from `validating` and `mutating`, and gives the others their mode. Returns what each pack holds.
 */
function activatePacks(
  source: PolicySetSource,
  settings: ReadonlyMap<string, PackSetting>,
  validating: Map<string, LocatedPolicy<PolicyInfo>>,
  mutating: Map<string, LocatedPolicy<MutationSpec>>,
  diagnostics: PolicyDiagnostic[],
): PackSummary[] {
  const summaries = new Map<string, PackSummary & { rules: Array<PackSummary['rules'][number]> }>();
  for (const name of source.packs) summaries.set(name, { name, enabled: settings.get(name)?.enabled ?? true, rules: [] });
  for (const [id, policy] of validating) {
    const pack = source.packOf.get(policy.source.file);
    if (pack === undefined) continue;
    const info = applyPackSetting(policy.info, settings.get(pack), diagnostics);
    summaries.get(pack)?.rules.push({ id, mode: info ? info.mode : 'off' });
    if (info) validating.set(id, { ...policy, info });
    else validating.delete(id);
  }
  for (const [id, policy] of mutating) {
    const pack = source.packOf.get(policy.source.file);
    if (pack === undefined) continue;
    const active = mutationIsActive(id, settings.get(pack), policy.info.position, diagnostics);
    summaries.get(pack)?.rules.push({ id, mode: active ? 'mutation' : 'off' });
    if (!active) mutating.delete(id);
  }
  return [...summaries.values()].map((summary) => ({ ...summary, rules: summary.rules.sort((a, b) => (a.id < b.id ? -1 : 1)) }));
}

/**
 * Reads of facts no facts file declares, each at the place in the policy that reads it. Cedar alone
 * would not always say: `resource.facts has typo` just makes the policy impossible, silently.
 */
function undeclaredReads(policies: readonly LocatedPolicy<{ id: string; position: SourcePosition }>[], facts: DeclaredFacts): PolicyDiagnostic[] {
  const declared = new Set(facts.declarations.map((declaration) => declaration.name));
  const known = declared.size > 0 ? `the declared facts are ${[...declared].join(', ')}` : 'no facts are declared (policies/facts/*.yaml)';
  const diagnostics: PolicyDiagnostic[] = [];
  for (const policy of policies) {
    for (const name of facts.reads[policy.info.id] ?? []) {
      if (declared.has(name)) continue;
      const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const read = new RegExp(`facts\\s*(?:\\.\\s*|has\\s+)${escaped}\\b`).exec(policy.text);
      const position = policy.source.position(policy.byteOffset + Buffer.byteLength(policy.text.slice(0, read?.index ?? 0), 'utf8'));
      diagnostics.push({ position, message: `policy "${policy.info.id}" reads resource.facts.${name}, but no facts file declares "${name}"; ${known}` });
    }
  }
  return diagnostics;
}
