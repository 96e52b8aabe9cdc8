// A policy set: read from a directory or a bundle's files (schema, policies, mutations, data, declared
// facts), checked against the schema with every provider's data and facts, and prepared for the engine.
export { checkPolicySet, FACT_PROVIDERS, type CheckedPolicySet } from './compile.js';
export { preparePolicySet, type CompiledPolicySet } from './prepare.js';
export { loadPolicyDirectory } from './load.js';
export { policiesInScope } from './in-scope.js';
export {
  policyFilesOf,
  policyFilePaths,
  policySourceFromFiles,
  readPolicyDirectory,
  isExample,
  PolicyDirectoryError,
  DATA_DIR,
  EXAMPLES_DIR,
  FACTS_DIR,
  MUTATIONS_DIR,
  SCHEMA_FILE,
  type PolicySetSource,
} from './policy-files.js';
export { inPackSwitchedOff, packOfPath, PACKS_DATA_KEY, PACKS_DIR, type PackRuleMode, type PackSummary } from './packs.js';
export { describeSet } from './describe.js';
export { portablePolicySet, revivedPolicySet, type PortablePolicySet } from './portable.js';
