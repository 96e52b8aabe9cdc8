// Supply-chain data (policies/data/supply-chain.yaml): where images may come from, where digests are
// required, and which keys sign which repositories. Checked at load time.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { messageOf } from '../../operations/errors/index.js';
import { dataMessage, schemaProblems } from '../schema-problems.js';

export interface TrustRule {
  id: string;
  /** Glob patterns over registry/repository ("registry.example.com/team-*\/*"): `*` matches anything. */
  patterns: RegExp[];
  keys: KeyObject[];
}

export interface SupplyChainData {
  allowedSources: { default?: string[]; environments: Record<string, string[]>; classes: Record<string, string[]> };
  requireDigest: { environments: string[]; classes: string[] };
  trust: TrustRule[];
}

/** A PEM public key cosign signs with, or why it is not one. */
function keyProblem(pem: string): string | undefined {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return "must be an ECDSA P-256 public key (cosign's key type)";
    return undefined;
  } catch (error) {
    return `must be a PEM public key (${messageOf(error)})`;
  }
}

const Sources = Type.Array(Type.String(), {
  errorMessage: 'must be a list of registries or repository prefixes',
  description: 'registries ("registry.example.com", "127.0.0.1:5000") or repository prefixes ending in "/" ("docker.io/library/")',
});
const SourcesByName = (description: string) =>
  Type.Optional(Type.Record(Type.String(), Sources, { errorMessage: 'must map names to lists of registries or repository prefixes', description }));
const Names = (description: string) => Type.Optional(Type.Array(Type.String(), { description }));

const PublicKey = Type.Refine(
  Type.String({ description: 'a PEM public key, ECDSA P-256 (cosign generate-key-pair)' }),
  (pem) => keyProblem(pem) === undefined,
  (pem) => keyProblem(pem) ?? '',
);

/** data/supply-chain.yaml: where images may come from, where digests are required, who signs what. */
export const SUPPLY_CHAIN_DATA = Type.Object(
  {
    allowedSources: Type.Optional(
      Type.Object(
        {
          default: Type.Optional(Sources),
          environments: SourcesByName("by the cluster's environment"),
          classes: SourcesByName("by the namespace's data class (canopy.io/data-class)"),
        },
        { additionalProperties: false, errorMessage: 'must be a map with default, environments and classes', description: 'the most specific list applies: the data class, else the environment, else default' },
      ),
    ),
    requireDigest: Type.Optional(
      Type.Object(
        { environments: Names('environments where images must be pinned to a digest'), classes: Names('data classes where images must be pinned to a digest') },
        { additionalProperties: false, errorMessage: 'must be a map with environments and classes' },
      ),
    ),
    trust: Type.Optional(
      Type.Array(
        Type.Object(
          {
            repositories: Type.Array(Type.String(), { description: 'globs over registry/repository: * matches anything' }),
            keys: Type.Array(PublicKey, { minItems: 1, description: 'the keys whose cosign signature admits an image' }),
          },
          { additionalProperties: false, errorMessage: 'must be {repositories: [patterns], keys: [PEM public keys]}' },
        ),
        { errorMessage: 'must be a list of {repositories, keys}' },
      ),
    ),
  },
  { additionalProperties: false, title: 'supply-chain data', errorMessage: 'must be a map with allowedSources, requireDigest and trust' },
);

export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
}

/** Checks data/supply-chain.yaml against its schema, and reads its keys. */
export function readSupplyChainData(value: unknown): { data?: SupplyChainData; problems: string[] } {
  const problems = schemaProblems(SUPPLY_CHAIN_DATA, value).map((problem) => dataMessage(problem, 'supply-chain data'));
  if (problems.length > 0 || !Value.Check(SUPPLY_CHAIN_DATA, value)) return { problems };
  const sources = value.allowedSources ?? {};
  const trust = (value.trust ?? []).map((rule, index): TrustRule => {
    // The id names the keys too, so that cached verifications end with a change of keys.
    const fingerprint = createHash('sha256').update(JSON.stringify([rule.repositories, rule.keys])).digest('hex').slice(0, 16);
    return { id: `trust[${index}]:${fingerprint}`, patterns: rule.repositories.map(globToRegExp), keys: rule.keys.map((pem) => createPublicKey(pem)) };
  });
  return {
    data: {
      allowedSources: { ...(sources.default ? { default: sources.default } : {}), environments: sources.environments ?? {}, classes: sources.classes ?? {} },
      requireDigest: { environments: value.requireDigest?.environments ?? [], classes: value.requireDigest?.classes ?? [] },
      trust,
    },
    problems,
  };
}
