// Supply-chain data (policies/data/supply-chain.yaml): where images may come from, where digests are
// required, and which keys sign which repositories. Checked at load time.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { isRecord } from '../../kubernetes/objects/json.js';
import { messageOf } from '../../operations/errors/index.js';

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

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
}

export function readSupplyChainData(value: unknown): { data?: SupplyChainData; problems: string[] } {
  const problems: string[] = [];
  if (!isRecord(value)) return { problems: ['supply-chain data must be a map with allowedSources, requireDigest and trust'] };
  const unknown = Object.keys(value).filter((k) => !['allowedSources', 'requireDigest', 'trust'].includes(k));
  if (unknown.length > 0) problems.push(`unknown field ${unknown.join(', ')}`);

  const sources = value['allowedSources'] ?? {};
  const allowed: SupplyChainData['allowedSources'] = { environments: {}, classes: {} };
  if (!isRecord(sources)) problems.push('allowedSources must be a map with default, environments and classes');
  else {
    if (sources['default'] !== undefined) {
      if (isStringList(sources['default'])) allowed.default = sources['default'];
      else problems.push('allowedSources.default must be a list of registries or repository prefixes');
    }
    for (const key of ['environments', 'classes'] as const) {
      const map = sources[key] ?? {};
      if (!isRecord(map) || !Object.values(map).every(isStringList)) problems.push(`allowedSources.${key} must map names to lists of registries or repository prefixes`);
      else allowed[key] = map as Record<string, string[]>;
    }
  }

  const digest = value['requireDigest'] ?? {};
  const requireDigest = { environments: [] as string[], classes: [] as string[] };
  if (!isRecord(digest)) problems.push('requireDigest must be a map with environments and classes');
  else {
    for (const key of ['environments', 'classes'] as const) {
      const list = digest[key] ?? [];
      if (!isStringList(list)) problems.push(`requireDigest.${key} must be a list of names`);
      else requireDigest[key] = list;
    }
  }

  const trust: TrustRule[] = [];
  const rules = value['trust'] ?? [];
  if (!Array.isArray(rules)) problems.push('trust must be a list of {repositories, keys}');
  else {
    rules.forEach((rule, index) => {
      const where = `trust[${index}]`;
      if (!isRecord(rule) || !isStringList(rule['repositories']) || !isStringList(rule['keys']) || rule['keys'].length === 0) {
        problems.push(`${where} must be {repositories: [patterns], keys: [PEM public keys]}`);
        return;
      }
      const keys: KeyObject[] = [];
      rule['keys'].forEach((pem, k) => {
        try {
          const key = createPublicKey(pem);
          if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') problems.push(`${where}.keys[${k}] is not an ECDSA P-256 public key (cosign's key type)`);
          else keys.push(key);
        } catch (error) {
          problems.push(`${where}.keys[${k}] is not a PEM public key: ${messageOf(error)}`);
        }
      });
      // The id names the keys too, so that cached verifications end with a change of keys.
      const fingerprint = createHash('sha256').update(JSON.stringify([rule['repositories'], rule['keys']])).digest('hex').slice(0, 16);
      trust.push({ id: `trust[${index}]:${fingerprint}`, patterns: rule['repositories'].map(globToRegExp), keys });
    });
  }
  return problems.length > 0 ? { problems } : { data: { allowedSources: allowed, requireDigest, trust }, problems };
}
