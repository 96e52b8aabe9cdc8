// Canopy's decision semantics (modes, fail closed) and the messages users read.
export { decide, failedDecision, type Decision, type PolicyHit, type SecurityLevels } from './decide.js';
export { denialMessage, renderAdvice, warningMessages } from './messages.js';
export type { MutationDecision } from './mutation.js';
