// Policy packs: folders under packs/ that ship a whole set of rules (policies, facts, data, tests).
// data/packs.yaml switches each pack on or off and sets its rules' modes, so adopting, loosening or
// turning off a pack is a reviewed data change, never an edit of its Cedar.
import { POLICY_MODES, type PolicyDiagnostic, type PolicyInfo, type PolicyMode, type SourcePosition } from '../engine/index.js';

/** Policy packs, each a folder laid out like the policy directory, switched by data/packs.yaml. */
export const PACKS_DIR = 'packs';

/** The data file (data/packs.yaml) that switches packs and sets their rules' modes. */
export const PACKS_DATA_KEY = 'packs';

/** A rule's mode as packs.yaml may set it: one of the policy modes, or `off` (not part of the active set). */
export type PackRuleMode = PolicyMode | 'off';
const PACK_RULE_MODES: readonly PackRuleMode[] = [...POLICY_MODES, 'off'];

export interface PackSetting {
  enabled: boolean;
  /** Rule id → mode, for the rules whose mode differs from their @mode. */
  modes: ReadonlyMap<string, PackRuleMode>;
}

/** A pack as the active set holds it: whether it is on, and each of its rules' effective mode. */
export interface PackSummary {
  name: string;
  enabled: boolean;
  /** Its validating policies and mutations, by id, with the mode in force (`off` when not active). */
  rules: ReadonlyArray<{ id: string; mode: PackRuleMode | 'mutation' }>;
}

/** The pack a path relative to the policy directory belongs to: `packs/NAME/...` is in pack NAME. */
export function packOfPath(relative: string): string | undefined {
  const [top, name, ...rest] = relative.split('/');
  return top === PACKS_DIR && name !== undefined && rest.length > 0 ? name : undefined;
}

/** Whether a file (by path relative to the policy directory) belongs to a pack the set has switched off: its tests do not run. */
export function inPackSwitchedOff(relative: string, set: { packs: ReadonlyArray<{ name: string; enabled: boolean }> }): boolean {
  const pack = packOfPath(relative);
  return pack !== undefined && set.packs.some((entry) => entry.name === pack && !entry.enabled);
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads data/packs.yaml (`data.packs`): `packs: {NAME: {enabled, modes: {ID: MODE}}}`. Every pack not
 * named there is on, with the modes its policies declare. Problems name the pack, the rule and what
 * is allowed; `known` are the packs under packs/, with the ids of their rules.
 */
export function readPackSettings(
  data: unknown,
  known: ReadonlyMap<string, ReadonlySet<string>>,
  problems: string[],
): Map<string, PackSetting> {
  const settings = new Map<string, PackSetting>();
  for (const name of known.keys()) settings.set(name, { enabled: true, modes: new Map() });
  if (data === undefined || data === null) return settings;
  const knownList = known.size > 0 ? `the packs are ${[...known.keys()].sort().join(', ')}` : 'there are no packs (folders under packs/)';
  if (!isRecord(data)) {
    problems.push('must be a mapping with one key, packs');
    return settings;
  }
  for (const key of Object.keys(data)) if (key !== 'packs') problems.push(`unknown key "${key}": the only key is packs`);
  const packs = data['packs'] ?? {};
  if (!isRecord(packs)) {
    problems.push('packs must be a mapping from pack name to {enabled, modes}');
    return settings;
  }
  for (const [name, value] of Object.entries(packs)) {
    const rules = known.get(name);
    if (!rules) {
      problems.push(`packs.${name}: no such pack (no folder packs/${name}/); ${knownList}`);
      continue;
    }
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      problems.push(`packs.${name} must be a mapping with enabled and modes`);
      continue;
    }
    for (const key of Object.keys(value)) if (key !== 'enabled' && key !== 'modes') problems.push(`packs.${name}: unknown key "${key}" (allowed: enabled, modes)`);
    const enabled = value['enabled'] ?? true;
    if (typeof enabled !== 'boolean') problems.push(`packs.${name}.enabled must be true or false`);
    const modes = new Map<string, PackRuleMode>();
    const given = value['modes'] ?? {};
    if (!isRecord(given)) problems.push(`packs.${name}.modes must be a mapping from rule id to ${PACK_RULE_MODES.join(' | ')}`);
    else {
      for (const [id, mode] of Object.entries(given)) {
        if (!rules.has(id)) problems.push(`packs.${name}.modes: "${id}" is not a rule of pack ${name} (its rules are ${[...rules].sort().join(', ') || 'none'})`);
        else if (typeof mode !== 'string' || !(PACK_RULE_MODES as readonly string[]).includes(mode)) problems.push(`packs.${name}.modes.${id} must be one of ${PACK_RULE_MODES.join(', ')}`);
        else modes.set(id, mode as PackRuleMode);
      }
    }
    settings.set(name, { enabled: enabled !== false, modes });
  }
  return settings;
}

/**
 * A pack policy's annotations with packs.yaml applied: its mode, or undefined when it is not part of
 * the active set (its pack is off, or its mode is `off`). A Pod Security control takes its mode from
 * the namespace, so packs.yaml cannot set one: that is a problem at the policy.
 */
export function applyPackSetting(info: PolicyInfo, setting: PackSetting | undefined, problems: PolicyDiagnostic[]): PolicyInfo | undefined {
  if (!setting) return info;
  if (!setting.enabled) return undefined;
  const mode = setting.modes.get(info.id);
  if (mode === undefined) return info;
  if (mode === 'off') return undefined;
  if (info.level) {
    problems.push({ position: info.position, message: `data/packs.yaml sets the mode of "${info.id}", a Pod Security control (@level) whose mode comes from the namespace` });
    return info;
  }
  return { ...info, mode };
}

/** Whether a mutation of a pack is active: its pack is on, and packs.yaml does not turn it off. */
export function mutationIsActive(id: string, setting: PackSetting | undefined, position: SourcePosition, problems: PolicyDiagnostic[]): boolean {
  if (!setting) return true;
  if (!setting.enabled) return false;
  const mode = setting.modes.get(id);
  if (mode !== undefined && mode !== 'off') problems.push({ position, message: `data/packs.yaml sets the mode of mutation "${id}" to ${mode}: a mutation can only be turned off` });
  return mode !== 'off';
}
