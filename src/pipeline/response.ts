// Decision → AdmissionReview response.
import { ADMISSION_API_VERSION, type AdmissionResponse, type AdmissionReviewResponse } from '../kubernetes/admission/index.js';
import { denialMessage, warningMessages, type Decision } from '../policy/decision/index.js';
import type { MutationDecision } from './mutate.js';

/** The key under which audit-mode matches are recorded in the API server's audit log. */
export const AUDIT_ANNOTATION = 'audit-mode-policies';

export function toAdmissionReview(uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: decision.allowed };
  if (!decision.allowed) {
    response.status = { code: 403, reason: 'Forbidden', message: denialMessage(decision) };
  }
  const warnings = warningMessages(decision);
  if (warnings.length > 0) response.warnings = warnings;
  if (decision.audits.length > 0) {
    response.auditAnnotations = { [AUDIT_ANNOTATION]: decision.audits.map((hit) => hit.id).join(',') };
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

export function toMutationReview(uid: string, decision: MutationDecision): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: decision.allowed };
  if (!decision.allowed) {
    response.status = { code: 403, reason: 'Forbidden', message: `Canopy could not mutate this request: ${decision.failure ?? 'unknown error'}` };
  } else if (decision.operations.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.operations), 'utf8').toString('base64');
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
