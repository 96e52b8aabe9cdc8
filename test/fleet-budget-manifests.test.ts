// Fleet-wide budgets, as installed: webhooks/fleet-budgets.yaml (the fleet store's namespace, CRD, Roles
// and the ValidatingAdmissionPolicy that keeps each member cluster to its own ledger entry),
// webhooks/fleet-budget-example.yaml, and the chart's fleetBudgets values.
// - The CRD's openAPIV3Schema is checked to be structural, then run with ajv (JSON Schema) against the
//   example and against status entries written by clusterGrantJson (src/kubernetes/objects/fleet-budget.ts).
// - The policy's CEL is evaluated with the CEL evaluator Canopy uses (@marcbachmann/cel-js), bound as
//   the API server binds it: matchConstraints, then matchConditions, then variables, then validations.
// - The chart is rendered and linted with the real helm binary (node_modules), as test/helm.test.ts does.
import { readFileSync } from 'node:fs';
import { Environment } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  clusterGrantJson,
  DEFAULT_FLEET_NAMESPACE,
  FLEET_BUDGET_GROUP,
  FLEET_BUDGET_KIND,
  FLEET_BUDGET_PLURAL,
  FLEET_BUDGET_VERSION,
  HISTORY_DAYS,
  readFleetBudget,
  type ClusterGrant,
} from '../src/kubernetes/objects/fleet-budget.js';
import { REPO_ROOT } from './helpers/fixtures.js';
import { CHART, helm, KUBE_VERSION } from './helpers/helm.js';
import { ruleMatches, type RequestAttributes, type WebhookRule } from './helpers/webhook-match.js';

type Json = Record<string, unknown>;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [field: string]: unknown };
  [field: string]: unknown;
}

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const clone = <T>(value: T): T => structuredClone(value);

/** YAML as kubectl and Helm read it for the API server (YAML 1.1: `0440` is octal). */
function objectsOf(text: string): K8sObject[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message ?? ''}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

function find<T extends K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}

const FLEET_FILE = readFileSync(`${REPO_ROOT}webhooks/fleet-budgets.yaml`, 'utf8');
const FLEET = objectsOf(FLEET_FILE);
const EXAMPLE = parse(readFileSync(`${REPO_ROOT}webhooks/fleet-budget-example.yaml`, 'utf8')) as K8sObject & { spec: Json };

interface Crd extends K8sObject {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; listKind: string; shortNames: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: Json };
      additionalPrinterColumns: { name: string; type: string; jsonPath: string }[];
      schema: { openAPIV3Schema: Json };
    }[];
  };
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Vap extends K8sObject {
  spec: {
    failurePolicy: string;
    matchConstraints: { resourceRules: WebhookRule[] };
    matchConditions: { name: string; expression: string }[];
    variables: { name: string; expression: string }[];
    validations: { expression: string; message?: string; messageExpression?: string; reason?: string }[];
  };
}

const crd = find<Crd>(FLEET, 'CustomResourceDefinition');
const version = crd.spec.versions[0] as Crd['spec']['versions'][number];
const openApiSchema = version.schema.openAPIV3Schema;
const policy = find<Vap>(FLEET, 'ValidatingAdmissionPolicy');

// ---------------------------------------------------------------------------------------------------
// The CRD's schema.

/**
 * Where a schema breaks the rules of a structural schema (Kubernetes, "Specifying a structural
 * schema"): every node typed (but int-or-string and preserve-unknown-fields nodes), nothing typed or
 * described inside anyOf/allOf/oneOf/not but the int-or-string form, never both properties and
 * additionalProperties, additionalProperties a schema.
 */
function structuralProblems(node: Json, where = 'openAPIV3Schema', inJunctor = false): string[] {
  const problems: string[] = [];
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  if (!inJunctor && typeof node['type'] !== 'string' && !intOrString && node['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${where}: no type`);
  if (inJunctor) {
    for (const key of ['type', 'description', 'default', 'additionalProperties', 'nullable']) if (key in node) problems.push(`${where}: ${key} inside a junctor`);
  }
  if ('properties' in node && 'additionalProperties' in node) problems.push(`${where}: both properties and additionalProperties`);
  if ('additionalProperties' in node && !isRecord(node['additionalProperties'])) problems.push(`${where}: additionalProperties must be a schema`);
  for (const [name, child] of Object.entries(isRecord(node['properties']) ? node['properties'] : {})) problems.push(...structuralProblems(child as Json, `${where}.${name}`, inJunctor));
  if (isRecord(node['additionalProperties'])) problems.push(...structuralProblems(node['additionalProperties'], `${where}[*]`, inJunctor));
  if (isRecord(node['items'])) problems.push(...structuralProblems(node['items'], `${where}[]`, inJunctor));
  for (const junctor of ['anyOf', 'allOf', 'oneOf']) {
    const branches = node[junctor];
    if (!Array.isArray(branches)) continue;
    if (intOrString && junctor === 'anyOf' && JSON.stringify(branches) === JSON.stringify([{ type: 'integer' }, { type: 'string' }])) continue;
    for (const [index, branch] of (branches as Json[]).entries()) problems.push(...structuralProblems(branch, `${where}.${junctor}[${index}]`, true));
  }
  if (isRecord(node['not'])) problems.push(...structuralProblems(node['not'], `${where}.not`, true));
  return problems;
}

/**
 * An OpenAPI v3 structural schema as JSON Schema for ajv: x-kubernetes-* extensions dropped (ajv would
 * refuse unknown keywords; int-or-string is already spelled as its anyOf), `nullable: true` turned into
 * a null type. Field names (keys of `properties`) are never touched. Unknown fields are accepted, as
 * the API server accepts (and prunes) them. One difference: the API server prunes a null field that is
 * not nullable, where ajv refuses it.
 */
function jsonSchemaOf(node: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'nullable' || key === 'example' || key === 'externalDocs') continue;
    if (key === 'properties' && isRecord(value)) out[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, jsonSchemaOf(child as Json)]));
    else if ((key === 'items' || key === 'additionalProperties' || key === 'not') && isRecord(value)) out[key] = jsonSchemaOf(value);
    else if ((key === 'anyOf' || key === 'allOf' || key === 'oneOf') && Array.isArray(value)) out[key] = (value as Json[]).map(jsonSchemaOf);
    else out[key] = value;
  }
  if (node['nullable'] === true && typeof node['type'] === 'string') out['type'] = [node['type'], 'null'];
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
// ajv-formats is CommonJS: its default export is the plugin function itself.
addFormats.default(ajv, ['date-time', 'date']);
const validateFleetBudget: ValidateFunction = ajv.compile(jsonSchemaOf(openApiSchema));

/** ajv's verdict: [] when the object is accepted, else "instancePath: message" lines. */
function schemaErrors(object: unknown): string[] {
  if (validateFleetBudget(object)) return [];
  return (validateFleetBudget.errors ?? []).map((e: ErrorObject) => `${e.instancePath}: ${e.message ?? e.keyword}`);
}

const amounts = (cpuMillis: bigint, memoryBytes: bigint, gpus: bigint, monthlyCostMicros: bigint) => ({ cpuMillis, memoryBytes, gpus, monthlyCostMicros });

function grant(region: string, gpus: bigint, days: number): ClusterGrant {
  return {
    granted: amounts(64_000n, 512n * 2n ** 30n, gpus, 20_000_000_000n),
    claimed: amounts(50_000n, 320n * 2n ** 30n, gpus - 1n, 16_000_000_000n),
    used: amounts(48_500n, 300n * 2n ** 30n, gpus - 2n, 15_000_500_000n),
    expiresAt: new Date(Date.UTC(2026, 11, 6, 10, 5)).toISOString(),
    updatedAt: new Date(Date.UTC(2026, 11, 6, 10, 0)).toISOString(),
    region,
    provider: 'aws',
    history: Array.from({ length: days }, (_, day) => ({
      date: new Date(Date.UTC(2026, 10, 6 + day)).toISOString().slice(0, 10),
      used: amounts(40_000n + BigInt(day), 2n ** 40n, gpus - 1n, 12_345_678_901_234_567_890_123n),
    })),
  };
}

/** The example as the fleet store holds it, with the ledger two member clusters wrote. */
function withLedger(): K8sObject & { spec: Json; status: { clusters: Record<string, Json> } } {
  return {
    ...clone(EXAMPLE),
    metadata: { ...EXAMPLE.metadata, resourceVersion: '4711', uid: '7d9c2f4e-0000-4000-8000-000000000001', creationTimestamp: '2026-11-01T08:00:00Z' },
    status: { clusters: { 'de-1': clusterGrantJson(grant('eu-central-1', 40n, HISTORY_DAYS)), 'us-1': clusterGrantJson(grant('us-east-1', 24n, 3)) } },
  };
}

describe('webhooks/fleet-budgets.yaml: the fleet store', () => {
  it('creates the namespace, the CRD, two Roles and the policy with its binding, in that order', () => {
    expect(FLEET.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      `Namespace/${DEFAULT_FLEET_NAMESPACE}`,
      `CustomResourceDefinition/${FLEET_BUDGET_PLURAL}.${FLEET_BUDGET_GROUP}`,
      'Role/canopy-fleet-member',
      'Role/canopy-fleet-reader',
      'ValidatingAdmissionPolicy/canopy-fleet-budget-own-entry',
      'ValidatingAdmissionPolicyBinding/canopy-fleet-budget-own-entry',
    ]);
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
  });

  it('defines FleetBudget as src/kubernetes/objects/fleet-budget.ts reads it: group, version, plural, namespaced, status subresource, short name fb', () => {
    expect(crd.spec.group).toBe(FLEET_BUDGET_GROUP);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: FLEET_BUDGET_KIND, plural: FLEET_BUDGET_PLURAL, singular: 'fleetbudget', listKind: 'FleetBudgetList', shortNames: ['fb'] });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: FLEET_BUDGET_VERSION, served: true, storage: true, subresources: { status: {} } });
  });

  it('has a structural schema', () => {
    expect(structuralProblems(openApiSchema)).toEqual([]);
    // The checker itself: an untyped field and a typed anyOf branch are found.
    expect(structuralProblems({ type: 'object', properties: { a: {}, b: { type: 'string', anyOf: [{ type: 'string' }] } } })).toEqual([
      'openAPIV3Schema.a: no type',
      'openAPIV3Schema.b.anyOf[0]: type inside a junctor',
    ]);
  });

  it('prints tenant, GPUs, monthly cost and age, each column a field of the schema', () => {
    const columns = version.additionalPrinterColumns;
    expect(columns.map((c) => c.name)).toEqual(expect.arrayContaining(['Tenant', 'GPUs', 'Monthly cost', 'Age']));
    expect(columns.find((c) => c.name === 'Age')).toEqual({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
    // metadata is Kubernetes' own (the schema says only that it is an object).
    for (const column of columns.filter((c) => !c.jsonPath.startsWith('.metadata.'))) {
      let node: Json | undefined = openApiSchema;
      for (const field of column.jsonPath.slice(1).split('.')) node = isRecord(node?.['properties']) ? (node['properties'][field] as Json | undefined) : undefined;
      expect(node, column.jsonPath).toBeDefined();
    }
  });

  it('accepts the example FleetBudget, which Canopy reads as 64 GPUs and 50000 EUR a month', () => {
    expect(EXAMPLE).toMatchObject({ apiVersion: `${FLEET_BUDGET_GROUP}/${FLEET_BUDGET_VERSION}`, kind: FLEET_BUDGET_KIND, metadata: { name: 'ml-team', namespace: DEFAULT_FLEET_NAMESPACE } });
    expect(schemaErrors(EXAMPLE)).toEqual([]);
    const budget = readFleetBudget(EXAMPLE);
    expect(budget).toMatchObject({ tenant: 'ml-team', currency: 'EUR', limits: { gpus: 64n, monthlyCostMicros: 50_000_000_000n }, clusters: {} });
  });

  it('accepts a ledger as clusterGrantJson writes it (31 days of history, amounts beyond 2^53), and Canopy reads it back', () => {
    const full = withLedger();
    expect(schemaErrors(full)).toEqual([]);
    const budget = readFleetBudget(full);
    expect(budget.clusters['de-1']).toEqual(grant('eu-central-1', 40n, HISTORY_DAYS));
    expect(budget.clusters['us-1']?.history).toHaveLength(3);
  });

  it('accepts quantities and decimal costs as strings', () => {
    const budget = clone(EXAMPLE);
    budget.spec['limits'] = { cpu: '1500m', memory: '2Ti', gpus: '8', monthlyCost: '49999.95' };
    expect(schemaErrors(budget)).toEqual([]);
    expect(readFleetBudget(budget).limits).toEqual({ cpuMillis: 1_500n, memoryBytes: 2n * 2n ** 40n, gpus: 8n, monthlyCostMicros: 49_999_950_000n });
  });

  it.each<[string, (object: ReturnType<typeof withLedger>) => void, string]>([
    ['an amount that is not digits', (o) => { (o.status.clusters['de-1']?.['used'] as Json)['gpus'] = '3.5'; }, '/status/clusters/de-1/used/gpus: must match pattern'],
    ['a negative amount', (o) => { (o.status.clusters['us-1']?.['granted'] as Json)['cpuMillis'] = '-1000'; }, '/status/clusters/us-1/granted/cpuMillis: must match pattern'],
    ['an amount as a JSON number', (o) => { (o.status.clusters['us-1']?.['granted'] as Json)['memoryBytes'] = 1024; }, '/status/clusters/us-1/granted/memoryBytes: must be string'],
    ['an amount of 31 digits', (o) => { (o.status.clusters['us-1']?.['used'] as Json)['monthlyCostMicros'] = '1'.repeat(31); }, '/status/clusters/us-1/used/monthlyCostMicros: must NOT have more than 30 characters'],
    ['an entry without its grant', (o) => { delete o.status.clusters['us-1']?.['granted']; }, "/status/clusters/us-1: must have required property 'granted'"],
    [`${HISTORY_DAYS + 1} history samples`, (o) => { (o.status.clusters['de-1']?.['history'] as unknown[]).push({ date: '2026-12-07', used: { cpuMillis: '0', memoryBytes: '0', gpus: '0', monthlyCostMicros: '0' } }); }, '/status/clusters/de-1/history: must NOT have more than 31 items'],
    ['a history date that is no date', (o) => { ((o.status.clusters['de-1']?.['history'] as Json[])[0] as Json)['date'] = '2026-13-01'; }, '/status/clusters/de-1/history/0/date: must match pattern'],
    ['a history date with a time', (o) => { ((o.status.clusters['us-1']?.['history'] as Json[])[2] as Json)['date'] = '2026-11-08T00:00:00Z'; }, '/status/clusters/us-1/history/2/date: must match pattern'],
    ['an expiry that is no date-time', (o) => { (o.status.clusters['de-1'] as Json)['expiresAt'] = 'tomorrow'; }, '/status/clusters/de-1/expiresAt: must match pattern'],
    ['an update time without a zone', (o) => { (o.status.clusters['de-1'] as Json)['updatedAt'] = '2026-12-06T10:00:00'; }, '/status/clusters/de-1/updatedAt: must match pattern'],
    ['more than 256 clusters', (o) => { for (let i = 0; i < 255; i += 1) o.status.clusters[`c-${i}`] = clusterGrantJson(grant('r', 4n, 0)); }, '/status/clusters: must NOT have more than 256 properties'],
    ['a budget without a tenant', (o) => { delete o.spec['tenant']; }, "/spec: must have required property 'tenant'"],
    ['a budget without limits', (o) => { o.spec['limits'] = {}; }, '/spec/limits: must NOT have fewer than 1 properties'],
    ['a quantity that is no quantity', (o) => { (o.spec['limits'] as Json)['gpus'] = 'sixty-four'; }, '/spec/limits/gpus: must match pattern'],
    ['a fractional cost as a JSON number', (o) => { (o.spec['limits'] as Json)['monthlyCost'] = 49999.95; }, '/spec/limits/monthlyCost: must match a schema in anyOf'],
    ['a cost with 7 decimals', (o) => { (o.spec['limits'] as Json)['monthlyCost'] = '0.0000001'; }, '/spec/limits/monthlyCost: must match pattern'],
    ['a currency that is not ISO 4217', (o) => { o.spec['currency'] = 'euro'; }, '/spec/currency: must match pattern'],
  ])('refuses %s', (_name, spoil, error) => {
    const object = withLedger();
    spoil(object);
    const errors = schemaErrors(object);
    expect(errors.some((line) => line.startsWith(error)), errors.join('\n')).toBe(true);
  });

  it('gives members read access and status writes only, and the FinOps reader read access only', () => {
    const member = find<K8sObject & { rules: PolicyRule[] }>(FLEET, 'Role', 'canopy-fleet-member');
    const reader = find<K8sObject & { rules: PolicyRule[] }>(FLEET, 'Role', 'canopy-fleet-reader');
    expect(member.metadata.namespace).toBe(DEFAULT_FLEET_NAMESPACE);
    expect(reader.metadata.namespace).toBe(DEFAULT_FLEET_NAMESPACE);
    expect(member.rules).toEqual([
      { apiGroups: [FLEET_BUDGET_GROUP], resources: [FLEET_BUDGET_PLURAL], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [FLEET_BUDGET_GROUP], resources: [`${FLEET_BUDGET_PLURAL}/status`], verbs: ['get', 'update', 'patch'] },
    ]);
    expect(reader.rules).toEqual([{ apiGroups: [FLEET_BUDGET_GROUP], resources: [FLEET_BUDGET_PLURAL], verbs: ['get', 'list', 'watch'] }]);
  });
});

// ---------------------------------------------------------------------------------------------------
// The ValidatingAdmissionPolicy, evaluated as the API server evaluates it.
//
// Every CEL function the policy uses (startsWith, size, has, the filter macro on maps, `in`,
// substring and join of Kubernetes' strings library) exists in cel-js too. What cel-js cannot show:
// Kubernetes' cost limits (the 256-entry cap of status.clusters keeps the comprehensions small), and
// the API server's own handling of the status subresource (a /status write keeps spec and metadata,
// which `statusWrite` below models).

const VAP_INPUTS = ['object', 'oldObject', 'request', 'params', 'namespaceObject', 'authorizer'] as const;

function celEnvironment(withVariables: boolean): Environment {
  // As Kubernetes: mixed list and map literals, optional types; every input dyn (a policy may match any kind).
  let environment = new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false, enableOptionalTypes: true });
  for (const name of VAP_INPUTS) environment = environment.registerVariable(name, 'dyn');
  // matchConditions cannot see `variables`: they are decided before variables are composed.
  return withVariables ? environment.registerVariable('variables', 'dyn') : environment;
}
const CONDITIONS = celEnvironment(false);
const EXPRESSIONS = celEnvironment(true);

/** A JSON value as the API server gives it to CEL: JSON integers are int (int64), other numbers double. */
function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined).map(([key, item]) => [key, toCel(item)]));
  return value;
}

function evaluate(environment: Environment, expression: string, bound: Record<string, unknown>): unknown {
  const program = environment.parse(expression);
  const checked = program.check();
  if (!checked.valid) throw checked.error ?? new Error(`invalid CEL: ${expression}`);
  return program(bound);
}

interface Verdict {
  matched: boolean;
  allowed: boolean;
  messages: string[];
}

/** The AdmissionRequest as CEL's `request` sees it. */
function admissionRequest(attributes: RequestAttributes): Json {
  const kind = { group: FLEET_BUDGET_GROUP, version: FLEET_BUDGET_VERSION, kind: FLEET_BUDGET_KIND };
  const resource = { group: attributes.group, version: attributes.version, resource: attributes.resource };
  return {
    uid: 'b1d3c5e7-0000-4000-8000-000000000002',
    kind,
    resource,
    subResource: attributes.subResource,
    requestKind: kind,
    requestResource: resource,
    requestSubResource: attributes.subResource,
    name: attributes.name,
    namespace: attributes.namespace,
    operation: attributes.operation,
    userInfo: attributes.userInfo,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions', fieldManager: 'canopy' },
  };
}

/**
 * What the API server decides with this policy and its Deny binding (failurePolicy Fail: an error in
 * a condition, variable or validation refuses the request).
 */
function decide(vap: Vap, attributes: RequestAttributes): Verdict {
  if (!vap.spec.matchConstraints.resourceRules.some((rule) => ruleMatches(rule, attributes))) return { matched: false, allowed: true, messages: [] };
  const bound: Record<string, unknown> = {
    object: toCel(attributes.object ?? null),
    oldObject: toCel(attributes.oldObject ?? null),
    request: toCel(admissionRequest(attributes)),
    params: null,
    namespaceObject: toCel({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: attributes.namespace, labels: { 'kubernetes.io/metadata.name': attributes.namespace } } }),
  };
  try {
    for (const condition of vap.spec.matchConditions) {
      if (evaluate(CONDITIONS, condition.expression, bound) !== true) return { matched: false, allowed: true, messages: [] };
    }
    const variables: Record<string, unknown> = {};
    for (const variable of vap.spec.variables) variables[variable.name] = evaluate(EXPRESSIONS, variable.expression, { ...bound, variables });
    const messages: string[] = [];
    for (const validation of vap.spec.validations) {
      const withVariables = { ...bound, variables };
      if (evaluate(EXPRESSIONS, validation.expression, withVariables) === true) continue;
      let message = validation.message ?? `failed expression: ${validation.expression}`;
      if (validation.messageExpression) {
        try {
          const text = evaluate(EXPRESSIONS, validation.messageExpression, withVariables);
          if (typeof text === 'string' && text.trim() !== '') message = text;
        } catch {
          // The API server falls back to message.
        }
      }
      messages.push(message);
    }
    return { matched: true, allowed: messages.length === 0, messages };
  } catch (error) {
    return { matched: true, allowed: false, messages: [`policy error: ${(error as Error).message}`] };
  }
}

const MEMBER_GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${DEFAULT_FLEET_NAMESPACE}`, 'system:authenticated'];
const member = (cluster: string) => ({ username: `system:serviceaccount:${DEFAULT_FLEET_NAMESPACE}:cluster-${cluster}`, groups: MEMBER_GROUPS });
const ADMIN = { username: 'platform-admin@example.com', groups: ['platform-team', 'system:authenticated'] };

type Budget = ReturnType<typeof withLedger>;

function attributesFor(subResource: string, userInfo: RequestAttributes['userInfo'], object: Budget, oldObject: Budget): RequestAttributes {
  return {
    group: FLEET_BUDGET_GROUP,
    version: FLEET_BUDGET_VERSION,
    resource: FLEET_BUDGET_PLURAL,
    subResource,
    operation: 'UPDATE',
    namespace: DEFAULT_FLEET_NAMESPACE,
    name: oldObject.metadata.name,
    userInfo,
    object,
    oldObject,
  };
}

/** PUT or PATCH .../fleetbudgets/NAME/status: the API server keeps everything but status as it was. */
function statusWrite(userInfo: RequestAttributes['userInfo'], oldObject: Budget, change: (desired: Budget) => void): RequestAttributes {
  const desired = clone(oldObject);
  change(desired);
  const object: Partial<Budget> = clone(oldObject);
  delete object.status;
  if (desired.status !== undefined) object.status = desired.status;
  return attributesFor('status', userInfo, object as Budget, oldObject);
}

/** PUT or PATCH of the object itself: with a status subresource, the API server keeps status as it was. */
function objectWrite(userInfo: RequestAttributes['userInfo'], oldObject: Budget, change: (desired: Budget) => void): RequestAttributes {
  const desired = clone(oldObject);
  change(desired);
  return attributesFor('', userInfo, { ...desired, status: clone(oldObject.status) }, oldObject);
}

const renewed = (entry: Json | undefined): Json => ({ ...entry, expiresAt: '2026-12-06T10:10:00.000Z', updatedAt: '2026-12-06T10:05:00.000Z', used: { cpuMillis: '50000', memoryBytes: '1', gpus: '39', monthlyCostMicros: '1' } });

describe('ValidatingAdmissionPolicy canopy-fleet-budget-own-entry', () => {
  it('type-checks in CEL: every condition, variable, validation and message', () => {
    for (const { expression } of policy.spec.matchConditions) expect(CONDITIONS.parse(expression).check().valid, expression).toBe(true);
    for (const { expression } of [...policy.spec.variables, ...policy.spec.validations]) expect(EXPRESSIONS.parse(expression).check().valid, expression).toBe(true);
    for (const { messageExpression } of policy.spec.validations) expect(EXPRESSIONS.parse(messageExpression ?? "''").check().valid, messageExpression).toBe(true);
  });

  it('fails closed, and is bound to deny, for every namespace', () => {
    expect(policy.spec.failurePolicy).toBe('Fail');
    const binding = find<K8sObject & { spec: Json }>(FLEET, 'ValidatingAdmissionPolicyBinding');
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
  });

  it('lets a member cluster renew its own entry', () => {
    const verdict = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => { o.status.clusters['de-1'] = renewed(o.status.clusters['de-1']); }));
    expect(verdict).toEqual({ matched: true, allowed: true, messages: [] });
  });

  it('lets a member cluster write its first entry, in a budget without status, and in one whose ledger is empty', () => {
    const fresh = withLedger();
    delete (fresh as Partial<Budget>).status;
    const first = decide(policy, statusWrite(member('eu-2'), fresh, (o) => { o.status = { clusters: { 'eu-2': clusterGrantJson(grant('eu-west-1', 4n, 0)) } }; }));
    expect(first).toEqual({ matched: true, allowed: true, messages: [] });
    const empty = { ...withLedger(), status: { clusters: {} } };
    expect(decide(policy, statusWrite(member('eu-2'), empty, (o) => { o.status.clusters['eu-2'] = clusterGrantJson(grant('eu-west-1', 4n, 0)); })).allowed).toBe(true);
  });

  it("refuses a member cluster changing another cluster's entry, saying whose", () => {
    const verdict = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => {
      o.status.clusters['de-1'] = renewed(o.status.clusters['de-1']);
      (o.status.clusters['us-1']?.['granted'] as Json)['gpus'] = '0';
    }));
    expect(verdict).toEqual({ matched: true, allowed: false, messages: ['FleetBudget ml-team: cluster de-1 may change only status.clusters.de-1, not the entries of us-1'] });
  });

  it('refuses a member cluster adding an entry for another cluster', () => {
    const verdict = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => { o.status.clusters['eu-2'] = clusterGrantJson(grant('eu-west-1', 64n, 0)); }));
    expect(verdict.allowed).toBe(false);
    expect(verdict.messages).toEqual(['FleetBudget ml-team: cluster de-1 may change only status.clusters.de-1, not the entries of eu-2']);
  });

  it("refuses a member cluster removing another cluster's entry, or its own", () => {
    const others = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => { delete o.status.clusters['us-1']; }));
    expect(others).toEqual({ matched: true, allowed: false, messages: ['FleetBudget ml-team: cluster de-1 may not remove entries of status.clusters (us-1)'] });
    const own = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => { delete o.status.clusters['de-1']; }));
    expect(own.messages).toEqual(['FleetBudget ml-team: cluster de-1 may not remove entries of status.clusters (de-1)']);
    const all = decide(policy, statusWrite(member('de-1'), withLedger(), (o) => { delete (o as Partial<Budget>).status; }));
    expect(all.messages).toEqual(['FleetBudget ml-team: cluster de-1 may not remove entries of status.clusters (de-1, us-1)']);
  });

  it('refuses a member cluster changing spec, through the object or in a status request', () => {
    const raise = (o: Budget) => { (o.spec['limits'] as Json)['gpus'] = 128; };
    const message = 'FleetBudget ml-team: cluster de-1 may not change spec (the platform team writes it)';
    expect(decide(policy, objectWrite(member('de-1'), withLedger(), raise))).toEqual({ matched: true, allowed: false, messages: [message] });
    // Were the API server to pass a /status request's spec through, it would be refused all the same.
    const old = withLedger();
    const sneaky = statusWrite(member('de-1'), old, () => undefined);
    raise(sneaky.object as Budget);
    expect(decide(policy, sneaky).messages).toEqual([message]);
    // A write that changes nothing is no change of spec.
    expect(decide(policy, objectWrite(member('de-1'), withLedger(), () => undefined)).allowed).toBe(true);
  });

  it('does not match users that are not member clusters: the platform team, other service accounts', () => {
    const rewrite = (o: Budget) => {
      delete o.status.clusters['us-1'];
      (o.status.clusters['de-1']?.['granted'] as Json)['gpus'] = '64';
    };
    for (const userInfo of [
      ADMIN,
      { username: 'system:serviceaccount:canopy-fleet:finops-report', groups: MEMBER_GROUPS },
      { username: 'system:serviceaccount:other:cluster-de-1', groups: ['system:serviceaccounts', 'system:serviceaccounts:other', 'system:authenticated'] },
      { username: 'cluster-de-1', groups: ['system:authenticated'] },
    ]) {
      expect(decide(policy, statusWrite(userInfo, withLedger(), rewrite)), userInfo.username).toEqual({ matched: false, allowed: true, messages: [] });
    }
    expect(decide(policy, objectWrite(ADMIN, withLedger(), (o) => { (o.spec['limits'] as Json)['gpus'] = 128; })).matched).toBe(false);
  });

  it('matches only updates of FleetBudgets and their status', () => {
    const write = statusWrite(member('de-1'), withLedger(), (o) => { delete o.status.clusters['us-1']; });
    expect(decide(policy, write).matched).toBe(true);
    expect(decide(policy, { ...write, subResource: '' }).matched).toBe(true);
    expect(decide(policy, { ...write, operation: 'CREATE' }).matched).toBe(false);
    expect(decide(policy, { ...write, operation: 'DELETE' }).matched).toBe(false);
    expect(decide(policy, { ...write, group: '', resource: 'configmaps', subResource: '' }).matched).toBe(false);
    expect(decide(policy, { ...write, group: 'example.com' }).matched).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------
// The per-cluster example at the end of the file.

describe('the per-cluster example (member cluster de-1)', () => {
  const block = /^# BEGIN de-1\n([\s\S]*?)^# END de-1$/m.exec(FLEET_FILE)?.[1] ?? '';
  const objects = objectsOf(block.replace(/^# ?/gm, ''));

  it('is commented out: applying the file creates no per-cluster object', () => {
    expect(objects.length).toBe(3);
    expect(FLEET.some((o) => o.metadata.name.includes('de-1'))).toBe(false);
  });

  it("is ServiceAccount cluster-de-1, bound to canopy-fleet-member, with a long-lived token, whose user the policy knows as de-1", () => {
    const account = find(objects, 'ServiceAccount', 'cluster-de-1');
    expect(account.metadata.namespace).toBe(DEFAULT_FLEET_NAMESPACE);
    const binding = find<K8sObject & { roleRef: Json; subjects: Json[] }>(objects, 'RoleBinding');
    expect(binding.metadata.namespace).toBe(DEFAULT_FLEET_NAMESPACE);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'canopy-fleet-member' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'cluster-de-1', namespace: DEFAULT_FLEET_NAMESPACE }]);
    const token = find<K8sObject & { type: string }>(objects, 'Secret');
    expect(token.type).toBe('kubernetes.io/service-account-token');
    expect(token.metadata.namespace).toBe(DEFAULT_FLEET_NAMESPACE);
    expect(token.metadata.annotations).toEqual({ 'kubernetes.io/service-account.name': 'cluster-de-1' });
    // The user that token authenticates as may renew de-1's entry, and only it.
    const user = { username: `system:serviceaccount:${account.metadata.namespace}:${account.metadata.name}`, groups: MEMBER_GROUPS };
    expect(decide(policy, statusWrite(user, withLedger(), (o) => { o.status.clusters['de-1'] = renewed(o.status.clusters['de-1']); })).allowed).toBe(true);
    expect(decide(policy, statusWrite(user, withLedger(), (o) => { o.status.clusters['us-1'] = renewed(o.status.clusters['us-1']); })).allowed).toBe(false);
  });

  it('says how to build the kubeconfig from the token and hand it to the chart', () => {
    const after = FLEET_FILE.slice(FLEET_FILE.indexOf('# END de-1'));
    for (const step of ["jsonpath='{.data.ca\\.crt}'", "jsonpath='{.data.token}'", 'kubectl config set-cluster', 'kubectl config set-credentials cluster-de-1 --token', '--from-file=kubeconfig=', 'fleetBudgets.kubeconfigSecret=']) {
      expect(after, step).toContain(step);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// The chart: charts/canopy with fleetBudgets.

const FLEET_VALUES = `${REPO_ROOT}test/fixtures/helm/fleet-budgets.yaml`;

const template = (...args: string[]) => helm(['template', 'canopy', CHART, '--namespace', 'canopy-system', '--kube-version', KUBE_VERSION, ...args]);

async function render(...args: string[]): Promise<K8sObject[]> {
  const result = await template(...args);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return objectsOf(result.stdout);
}

interface PodSpec {
  containers: { name: string; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes: { name: string; secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] } }[];
}

const podSpec = (objects: K8sObject[]) => (find<K8sObject & { spec: { template: { spec: PodSpec } } }>(objects, 'Deployment')).spec.template.spec;
const canopyConfig = (objects: K8sObject[]) => parse(find<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap', 'canopy-config').data['canopy.yaml'] ?? '') as Json;

describe('charts/canopy with fleetBudgets', () => {
  let enabled: K8sObject[];
  let defaults: K8sObject[];
  beforeAll(async () => {
    [enabled, defaults] = await Promise.all([render('-f', FLEET_VALUES), render()]);
  });

  it('mounts the kubeconfig Secret read-only at /etc/canopy/fleet/, its key kubeconfig only', () => {
    const pod = podSpec(enabled);
    const mount = pod.containers[0]?.volumeMounts.find((m) => m.mountPath === '/etc/canopy/fleet');
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes.find((v) => v.name === mount?.name);
    expect(volume?.secret).toEqual({ secretName: 'canopy-fleet-kubeconfig', defaultMode: 0o440, items: [{ key: 'kubeconfig', path: 'kubeconfig' }] });
  });

  it("tells canopy serve where the kubeconfig is, the namespace and the lease, in its config file", () => {
    expect(canopyConfig(enabled)['fleetBudgets']).toEqual({ kubeconfig: '/etc/canopy/fleet/kubeconfig', namespace: 'budgets', leaseSeconds: 600 });
    // The rest of the config is the same as without fleet budgets (but the cluster name the fixture sets).
    const { fleetBudgets: _fleet, cluster, ...rest } = canopyConfig(enabled);
    const { cluster: _cluster, ...restDefault } = canopyConfig(defaults);
    expect(rest).toEqual(restDefault);
    expect(cluster).toMatchObject({ name: 'de-1' });
  });

  it('defaults to namespace canopy-fleet and 300 s leases', async () => {
    const objects = await render('--set', 'fleetBudgets.enabled=true', '--set', 'fleetBudgets.kubeconfigSecret=fleet');
    expect(canopyConfig(objects)['fleetBudgets']).toEqual({ kubeconfig: '/etc/canopy/fleet/kubeconfig', namespace: DEFAULT_FLEET_NAMESPACE, leaseSeconds: 300 });
  });

  it('installs no CRD, no FleetBudget and no other object: only the Deployment and its config change', () => {
    const ids = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(ids(enabled)).toEqual(ids(defaults));
    expect(enabled.some((o) => o.kind === 'CustomResourceDefinition' || o.apiVersion.startsWith(`${FLEET_BUDGET_GROUP}/`))).toBe(false);
  });

  it('renders nothing fleet-related by default', () => {
    expect(JSON.stringify(defaults)).not.toMatch(/fleet/i);
    expect(canopyConfig(defaults)).not.toHaveProperty('fleetBudgets');
  });

  it.each([
    ['the fixture', ['-f', FLEET_VALUES]],
    ['the default values', []],
  ])('passes helm lint with %s', async (_name, args) => {
    const result = await helm(['lint', CHART, ...args]);
    expect(result.stderr + result.stdout).not.toMatch(/\[(ERROR|WARNING)\]/);
    expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it.each([
    [['fleetBudgets.enabled=true'], 'fleetBudgets.kubeconfigSecret'],
    [['fleetBudgets.enabled=true', 'fleetBudgets.kubeconfigSecret='], 'fleetBudgets.kubeconfigSecret: String length must be greater than or equal to 1'],
    [['fleetBudgets.leaseSeconds=0'], 'fleetBudgets.leaseSeconds: Must be greater than or equal to 10'],
    [['fleetBudgets.namespace=Canopy_Fleet'], 'fleetBudgets.namespace: Does not match pattern'],
    [['fleetBudgets.kubeconfig=/x'], 'Additional property kubeconfig is not allowed'],
  ])('values.schema.json refuses --set %j', async (sets, message) => {
    const result = await template(...sets.flatMap((s) => ['--set', s]));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('documents every fleetBudgets value in values.yaml and charts/README.md', () => {
    const values = parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as { fleetBudgets: Json };
    expect(values.fleetBudgets).toEqual({ enabled: false, kubeconfigSecret: '', namespace: DEFAULT_FLEET_NAMESPACE, leaseSeconds: 300 });
    const readme = readFileSync(`${REPO_ROOT}charts/README.md`, 'utf8');
    for (const key of Object.keys(values.fleetBudgets)) expect(readme).toContain(`fleetBudgets.${key}`);
  });
});
