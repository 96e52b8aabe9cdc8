// The admission pipeline shared by the webhook and the CLI.
export { AdmissionPipeline, PolicyActivationError, type AdmissionResult, type PipelineOptions } from './pipeline.js';
export { AUDIT_ANNOTATION, toAdmissionReview } from './response.js';
export { WARM_UP_REQUESTS } from './warm-up.js';
