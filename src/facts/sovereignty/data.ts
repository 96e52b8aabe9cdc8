// data/sovereignty.yaml: its schema, and reading it into the form facts.ts derives from.
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { dataMessage, schemaProblems } from '../schema-problems.js';
import type { Placement, Restriction, SovereigntyData } from './facts.js';

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

