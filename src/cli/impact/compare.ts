// Replaying requests through two policy sets and keeping those whose outcome differs: the decision,
// the denying policies, or the patch.
import { isDeepStrictEqual } from 'node:util';
import { AdmissionReviewError, parseAdmissionReview } from '../../kubernetes/admission/index.js';
import { summarizeAdmission, type AdmissionPipeline } from '../../pipeline/index.js';
import type { RecordedRequest } from './requests.js';

export interface Outcome {
  allowed: boolean;
  denied: string[];
  mutations: string[];
  patch: unknown[];
  message?: string;
}

export interface Change {
  source: string;
  uid: string;
  request: string;
  before: Outcome;
  after: Outcome;
  changed: ('decision' | 'denied' | 'patch')[];
}

function outcomeOf(pipeline: AdmissionPipeline, recorded: RecordedRequest): Outcome {
  if (recorded.endpoint === 'validate') {
    const { decision, review } = pipeline.review(recorded.review);
    const message = review.response.status?.message;
    return { allowed: decision.allowed, denied: decision.denials.map((d) => d.id).sort(), mutations: [], patch: [], ...(message ? { message } : {}) };
  }
  if (recorded.endpoint === 'mutate') {
    const { decision } = pipeline.mutate(recorded.review);
    return { allowed: decision.allowed, denied: [], mutations: decision.applied, patch: decision.operations, ...(decision.failure ? { message: decision.failure } : {}) };
  }
  const { allowed, denied, mutations, patch, message } = summarizeAdmission(pipeline.admit(recorded.review));
  return { allowed, denied: denied.sort(), mutations, patch, ...(message ? { message } : {}) };
}

function describe(review: unknown): { uid: string; request: string } {
  const request = parseAdmissionReview(review);
  const where = request.namespace && request.kind.kind !== 'Namespace' ? `${request.namespace}/` : '';
  const sub = request.subResource ? `/${request.subResource}` : '';
  return { uid: request.uid, request: `${request.operation} ${request.kind.kind}${sub} ${where}${request.name || '<unnamed>'}` };
}

export interface Comparison {
  replayed: number;
  changes: Change[];
  problems: string[];
}

export function compareOutcomes(before: AdmissionPipeline, after: AdmissionPipeline, requests: readonly RecordedRequest[]): Comparison {
  const changes: Change[] = [];
  const problems: string[] = [];
  let replayed = 0;
  for (const recorded of requests) {
    let old: Outcome;
    let now: Outcome;
    let described;
    try {
      described = describe(recorded.review);
      old = outcomeOf(before, recorded);
      now = outcomeOf(after, recorded);
    } catch (error) {
      if (!(error instanceof AdmissionReviewError)) throw error;
      problems.push(`${recorded.source}: not a valid AdmissionReview v1: ${error.message}`);
      continue;
    }
    replayed += 1;
    const changed: Change['changed'] = [];
    if (old.allowed !== now.allowed) changed.push('decision');
    if (!isDeepStrictEqual(old.denied, now.denied)) changed.push('denied');
    if (!isDeepStrictEqual(old.patch, now.patch)) changed.push('patch');
    if (changed.length > 0) changes.push({ source: recorded.source, ...described, before: old, after: now, changed });
  }
  return { replayed, changes, problems };
}
