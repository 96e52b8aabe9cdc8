// The Cedar engine: load a policy directory, validate it against the schema, preparse it, evaluate.
export { ON_ERROR, POLICY_MODES, SEVERITIES, type OnError, type PolicyInfo, type PolicyMode, type Severity } from './annotations.js';
export {
  checkPolicySet,
  preparePolicySet,
  IMPLICIT_ALLOW_ID,
  type CheckedPolicySet,
  type CompiledPolicySet,
} from './compile.js';
export { formatDiagnostic, PolicyLoadError, type PolicyDiagnostic } from './diagnostics.js';
export { evaluate, type CedarRequest, type EntityRef, type Evaluation, type PolicyError, type PolicyKind } from './evaluate.js';
export { loadPolicyDirectory } from './load.js';
export {
  policyFilesOf,
  policySourceFromFiles,
  readPolicyDirectory,
  PolicyDirectoryError,
  DATA_DIR,
  EXAMPLES_DIR,
  FACTS_DIR,
  isExample,
  MUTATIONS_DIR,
  SCHEMA_FILE,
  type PolicySetSource,
} from './policy-files.js';
export { SourceText, formatPosition, type SourcePosition } from './source-text.js';
export { EvaluationPool, UNKNOWN_REVISION, type PoolStatus } from './pool.js';
export { ScopedPolicySet, type EnginePolicySet } from './scoped.js';
export type { PolicyScope, RequestScope } from './scope.js';
export { policiesInScope } from './in-scope.js';
