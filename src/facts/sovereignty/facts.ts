// Data sovereignty: which data class a request's namespace (or kcp workspace) declares, and where
// policies/data/sovereignty.yaml lets that class (narrowed by a declared residency) live. The result is
// flat facts (`context.sovereignty`) that the policies in policies/sovereignty/ judge with set operations.
// The derivation only: data.ts reads and checks the data (an evaluation worker needs only this).
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import { EU_MEMBERS, type FleetFacts } from '../../kubernetes/objects/fleet.js';
import { asRecord, asStringMap, own } from '../../kubernetes/objects/json.js';

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
export type Restriction = { any: true } | { any: false; values: string[] };

export interface Placement {
  jurisdictions: Restriction;
  regions: Restriction;
}

export interface SovereigntyData {
  classes: Record<string, Placement>;
  residencies: Record<string, Placement>;
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


/** The provider's derivation: the facts for a request, its data class declared where it lives. */
export function deriveSovereignty(request: AdmissionRequest, data: SovereigntyData | undefined, facts: FleetFacts): SovereigntyFacts | undefined {
  return sovereigntyFacts(data, declaringLabels(request, facts));
}
