// The Cedar engine: policy annotations, diagnostics with source positions, scopes, preparsed sets per
// scope, evaluation in this thread. It knows Cedar and nothing of Kubernetes'
// domains: policy-set/ composes a set from files, providers and mutations.
export { ON_ERROR, POLICY_MODES, SECURITY_LEVELS, SEVERITIES, checkPolicyId, readPolicyInfo, type OnError, type PolicyInfo, type PolicyMode, type SecurityLevel, type Severity } from './annotations.js';
export { diagnosticsFromCedar, formatDiagnostic, PolicyLoadError, type PolicyDiagnostic } from './diagnostics.js';
export { evaluate, type CedarRequest, type EntityRef, type Evaluation, type PolicyError, type PolicyKind } from './evaluate.js';
export { SourceText, formatPosition, type SourcePosition } from './source-text.js';
export { IMPLICIT_ALLOW_ID, ScopedPolicySet, type EnginePolicySet, type PlannedEvaluation } from './scoped-policy-set.js';
export { actionGraphOf, inScope, scopeOf, type PolicyScope, type RequestScope } from './policy-scope.js';
