// What both webhooks make of a request before Cedar answers: its decision already, or the Cedar request
// that decides it with the set it was planned with and how to finish once the evaluation is known.
// AdmissionPipeline runs every plan the same way (deadline, worker, re-planning; pipeline.ts).
import type { CedarRequest, Evaluation } from '../policy/engine/index.js';
import type { CompiledPolicySet } from '../policy/set/index.js';

export type Plan<D> = { decision: D } | { set: CompiledPolicySet; cedarRequest: CedarRequest; finish: (evaluation: Evaluation) => D };
