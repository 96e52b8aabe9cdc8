// Data sovereignty: which data class a request's namespace (or kcp workspace) declares, and where
// policies/data/sovereignty.yaml lets that class (narrowed by a declared residency) live. The result is
// flat facts (`context.sovereignty`) that the policies in policies/sovereignty/ judge with set operations.
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { FactProvider } from '../provider.js';
import { EU_MEMBERS, type FleetFacts } from '../../kubernetes/objects/fleet.js';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { asRecord, asStringMap, own } from '../../kubernetes/objects/json.js';
import { dataMessage, schemaProblems } from '../schema-problems.js';

/** `context.sovereignty`: where the request's data may live. */
export interface SovereigntyFacts {
  dataClass: string;
  residency: string;
  anyJurisdiction: boolean;
  jurisdictions: string[];
  anyRegion: boolean;
  regions: string[];
}

export const DATA_CLASS_LABEL = 'canopy.io/data-class';
export const RESIDENCY_LABEL = 'canopy.io/residency';

/** A list of values, or `any` for no restriction. */
type Restriction = { any: true } | { any: false; values: string[] };

interface Placement {
  jurisdictions: Restriction;
  regions: Restriction;
}

export interface SovereigntyData {
  classes: Record<string, Placement>;
  residencies: Record<string, Placement>;
}

const RestrictionSchema = (what: string) =>
  Type.Optional(Type.Union([Type.Literal('any'), Type.Array(Type.String())], { errorMessage: 'must be "any" or a list of names', description: `${what}, or "any" (the default) for no restriction` }));
const PlacementSchema = Type.Object(
  {
    jurisdictions: RestrictionSchema('ISO 3166-1 alpha-2 codes, or EU for every member state'),
    regions: RestrictionSchema("the cloud providers' region names"),
  },
  { additionalProperties: false, errorMessage: 'must be a map with jurisdictions and regions' },
);
const Placements = (description: string) =>
  Type.Optional(Type.Record(Type.String(), PlacementSchema, { errorMessage: 'must be a map of names to {jurisdictions, regions}', description }));

/** data/sovereignty.yaml: where each data class, and each residency, lets data live. */
export const SOVEREIGNTY_DATA = Type.Object(
  {
    classes: Placements('data classes (a namespace\'s canopy.io/data-class label) and where each may live'),
    residencies: Placements('residencies (a namespace\'s canopy.io/residency label), which narrow their class'),
  },
  { additionalProperties: false, title: 'sovereignty data', errorMessage: 'must be a map with classes and residencies' },
);

function restrictionOf(value: 'any' | string[] | undefined, jurisdictions: boolean): Restriction {
  if (value === 'any' || value === undefined) return { any: true };
  return { any: false, values: jurisdictions ? value.map((v) => v.toUpperCase()) : value };
}

function placementsOf(value: Record<string, Static<typeof PlacementSchema>> | undefined): Record<string, Placement> {
  return Object.fromEntries(
    Object.entries(value ?? {}).map(([name, entry]) => [name, { jurisdictions: restrictionOf(entry.jurisdictions, true), regions: restrictionOf(entry.regions, false) }]),
  );
}

/** Checks data/sovereignty.yaml against its schema; problems are sentences naming the offending key. */
export function readSovereigntyData(value: unknown): { data?: SovereigntyData; problems: string[] } {
  const problems = schemaProblems(SOVEREIGNTY_DATA, value).map((problem) => dataMessage(problem, 'sovereignty data'));
  if (problems.length > 0 || !Value.Check(SOVEREIGNTY_DATA, value)) return { problems };
  return { data: { classes: placementsOf(value.classes), residencies: placementsOf(value.residencies) }, problems };
}

/** Does a list of jurisdictions allow `code`? "EU" allows each member state. */
function allowsJurisdiction(list: readonly string[], code: string): boolean {
  return list.includes(code) || (EU_MEMBERS.has(code) && list.includes('EU'));
}

function intersect(a: Restriction, b: Restriction, jurisdictions: boolean): Restriction {
  if (a.any) return b;
  if (b.any) return a;
  if (!jurisdictions) return { any: false, values: a.values.filter((v) => b.values.includes(v)) };
  const candidates = [...new Set([...a.values, ...b.values])];
  return { any: false, values: candidates.filter((code) => allowsJurisdiction(a.values, code) && allowsJurisdiction(b.values, code)) };
}

/** The nearest declaration of a label: the namespace's, then the workspace's, then its ancestors'. */
function declared(label: string, facts: FleetFacts): string {
  const fromNamespace = own(facts.namespaceLabels, label);
  if (fromNamespace) return fromNamespace;
  const workspace = facts.workspace;
  if (!workspace) return '';
  const segments = workspace.path.split(':');
  for (let end = segments.length; end > 0; end--) {
    const value = own(own(workspace.labels, segments.slice(0, end).join(':')), label);
    if (value) return value;
  }
  return '';
}

/**
 * The sovereignty facts for a request, or undefined when neither its namespace nor its workspace
 * declares a data class. An undeclared residency does not narrow; an unknown class or residency allows
 * nothing (a typo must not open the door).
 */
export function sovereigntyFacts(data: SovereigntyData | undefined, facts: FleetFacts): SovereigntyFacts | undefined {
  const dataClass = declared(DATA_CLASS_LABEL, facts);
  if (!dataClass) return undefined;
  const residency = declared(RESIDENCY_LABEL, facts);
  const nothing: Placement = { jurisdictions: { any: false, values: [] }, regions: { any: false, values: [] } };
  const everywhere: Placement = { jurisdictions: { any: true }, regions: { any: true } };
  const byClass = own(data?.classes, dataClass) ?? nothing;
  const byResidency = residency ? (own(data?.residencies, residency) ?? nothing) : everywhere;
  const jurisdictions = intersect(byClass.jurisdictions, byResidency.jurisdictions, true);
  const regions = intersect(byClass.regions, byResidency.regions, false);
  return {
    dataClass,
    residency,
    anyJurisdiction: jurisdictions.any,
    jurisdictions: jurisdictions.any ? [] : jurisdictions.values,
    anyRegion: regions.any,
    regions: regions.any ? [] : regions.values,
  };
}

/**
 * Where a request's data class is declared: by its namespace (or kcp workspace); a cluster-scoped
 * object (a Crossplane v1 managed resource, a PersistentVolume) has no namespace, so it declares its
 * own, with the same labels on itself, before its workspace's.
 */
function declaringLabels(request: AdmissionRequest, facts: FleetFacts): FleetFacts {
  if (request.namespace) return facts;
  const labels = asStringMap(asRecord(asRecord(judgedObject(request))['metadata'])['labels']);
  return { ...facts, namespaceLabels: labels };
}

/** Sovereignty as a fact source: data/sovereignty.yaml, `context.sovereignty`. */
export const sovereigntyProvider: FactProvider<SovereigntyData, FleetFacts, SovereigntyFacts> = {
  name: 'sovereignty',
  dataKeys: ['sovereignty'],
  dataSchemas: { sovereignty: SOVEREIGNTY_DATA },
  contextAttribute: 'sovereignty',
  read: (data) => (data['sovereignty'] === undefined ? { problems: [] } : readSovereigntyData(data['sovereignty'])),
  derive: (request, data, facts) => sovereigntyFacts(data, declaringLabels(request, facts)),
};
