// `canopy serve`'s configuration: one YAML file, CANOPY_* environment variables and flags, one set of keys.
export { CONFIG_SCHEMA, envNameOf, SETTINGS, settingsHelp, type Setting, type SettingKind } from './settings.js';
export {
  checkCombinations,
  DEFAULT_BODY_LIMIT,
  LOG_LEVELS,
  parseCanopyConfig,
  type BootstrapTlsConfig,
  type BundleConfig,
  type CanopyConfig,
  type LogLevel,
} from './parse.js';
export { loadCanopyConfig, podNamespace, readFleetConfig, type ConfigSources, type FlagValue } from './load.js';
