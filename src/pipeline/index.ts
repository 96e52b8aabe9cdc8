// The admission pipeline shared by the webhook and the CLI.
export {
  AdmissionPipeline,
  PolicyActivationError,
  summarizeAdmission,
  type AdmissionOutcome,
  type AdmissionSummary,
  type AdmissionResult,
  type MutationResult,
  type PipelineOptions,
} from './pipeline.js';
export { NO_POLICY_SET, type MutationDecision } from './mutate.js';
export { AUDIT_ANNOTATION, toAdmissionReview, toMutationReview } from './response.js';
export { WARM_UP_REQUESTS } from './warm-up.js';
export { deadlineFor, DEFAULT_DEADLINE_MS, parseGoDuration } from './deadline.js';
export { isPolicyProblem } from './policy-problems.js';
export { EvaluationPool, UNKNOWN_REVISION, type PoolStatus } from './pool.js';
