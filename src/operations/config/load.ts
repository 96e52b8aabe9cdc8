// One config from three layers: the --config file, CANOPY_* environment variables, and flags, later
// layers winning key by key. Each environment variable and flag is checked on its own first, so an
// error names the variable or flag that carried the bad value, not just the merged result.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type FleetConfig } from '../../facts/fleet/index.js';
import { checkCombinations, parseCanopyConfig, POD_NAMESPACE_FILE, type CanopyConfig } from './parse.js';
import { envNameOf, OTHER_ENVIRONMENT, SETTINGS, type Setting } from './settings.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { messageOf } from '../errors/index.js';

type Json = Record<string, unknown>;

/** A flag's value as commander hands it over: text, a list of texts (repeatable), or true (a bare boolean flag). */
export type FlagValue = string | string[] | boolean;

export interface ConfigSources {
  /** The --config file, if any. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by setting key (`tls.certFile`), only for flags that were given. */
  flags?: Record<string, FlagValue>;
  /** The pod's namespace, when running in one (the bootstrap Secret's default namespace). */
  podNamespace?: string;
}

function setPath(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isRecord(next)) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1] ?? key] = value;
}

/** Text from the environment or a flag → the value the config file would hold. */
function coerce(setting: Setting, text: FlagValue, source: string): unknown {
  const fail = (message: string): never => {
    throw new ConfigError(source, `${setting.key}: ${message}`);
  };
  if (Array.isArray(text)) return text; // a repeated flag
  if (typeof text === 'boolean') {
    if (setting.kind !== 'boolean') fail('needs a value');
    return text;
  }
  switch (setting.kind) {
    case 'integer':
      return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text;
    case 'boolean':
      if (text === 'true' || text === 'false') return text === 'true';
      return fail(`must be true or false (got ${JSON.stringify(text)})`);
    case 'list': {
      if (text.trim().startsWith('[')) return parseYamlValue(text, fail);
      return text.split(',').map((item) => item.trim()).filter(Boolean);
    }
    case 'yaml':
      return parseYamlValue(text, fail);
    case 'string':
      return text;
  }
}

function parseYamlValue(text: string, fail: (message: string) => never): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    return fail(`not valid YAML: ${messageOf(error).split('\n')[0]}`);
  }
}

async function readConfigFile(file: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `cannot read: ${messageOf(error)}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, `not valid YAML: ${messageOf(error).split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) throw new ConfigError(file, 'the config must be a map of keys to values');
  return value;
}

/**
 * CANOPY_* variables that are no setting are refused: a misspelt variable would otherwise be ignored
 * without a word. Kubernetes' service links are the usual culprit, hence the hint.
 */
function checkUnknownEnvironment(env: NodeJS.ProcessEnv): void {
  const known = new Set([...SETTINGS.map((setting) => envNameOf(setting.key)), ...OTHER_ENVIRONMENT]);
  const unknown = Object.keys(env).filter((name) => name.startsWith('CANOPY_') && !known.has(name));
  if (unknown.length === 0) return;
  const serviceLinks = unknown.some((name) => name === 'CANOPY_SERVICE_HOST' || name.startsWith('CANOPY_PORT_'));
  throw new ConfigError(
    'environment',
    `${unknown.sort().join(', ')}: unknown CANOPY_* variable${unknown.length > 1 ? 's' : ''} (canopy serve --help lists them)` +
      (serviceLinks ? '; these look like the variables Kubernetes injects for a Service named canopy: set enableServiceLinks: false on the pod' : ''),
  );
}

/** The pod's namespace from the service account mount, when Canopy runs in a pod. */
export function podNamespace(): string | undefined {
  try {
    return readFileSync(POD_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The fleet part (cluster, kubernetes, kcp, registries) of a config file, for commands other than serve. */
export async function readFleetConfig(file: string): Promise<FleetConfig> {
  return parseCanopyConfig(await readConfigFile(file), file).fleet;
}

/** Reads, layers and checks the config; throws ConfigError naming the file, variable or flag at fault. */
export async function loadCanopyConfig(sources: ConfigSources): Promise<CanopyConfig> {
  const env = sources.env ?? {};
  checkUnknownEnvironment(env);
  const fileLayer = sources.file ? await readConfigFile(sources.file) : {};
  // The file is checked as a whole: unknown keys and types are named with the file.
  parseCanopyConfig(fileLayer, sources.file ?? 'config', sources.podNamespace);

  const merged: Json = structuredClone(fileLayer);
  const layers: [string, (setting: Setting) => FlagValue | undefined, (setting: Setting) => string][] = [
    ['environment', (setting) => env[envNameOf(setting.key)], (setting) => envNameOf(setting.key)],
    ['flags', (setting) => sources.flags?.[setting.key], (setting) => setting.flag],
  ];
  for (const [, read, nameOf] of layers) {
    for (const setting of SETTINGS) {
      const text = read(setting);
      if (text === undefined) continue;
      const value = coerce(setting, text, nameOf(setting));
      const single: Json = {};
      setPath(single, setting.key, value);
      parseCanopyConfig(single, nameOf(setting), sources.podNamespace);
      setPath(merged, setting.key, value);
    }
  }
  const label = sources.file ? `${sources.file} with environment and flags` : 'config';
  const config = parseCanopyConfig(merged, label, sources.podNamespace);
  checkCombinations(config, label);
  return config;
}
