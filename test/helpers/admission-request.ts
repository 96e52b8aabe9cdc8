// A checked AdmissionRequest, as parseAdmissionReview would give it, for unit tests of what reads one.
import type { AdmissionRequest } from '../../src/kubernetes/admission/index.js';

/** A CREATE of `object` (kind, API group) in namespace n by user u; `extra` overrides any field. */
export const admissionRequest = (kind: string, group: string, object: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u',
  kind: { group, version: 'v1', kind },
  resource: { group, version: 'v1', resource: `${kind.toLowerCase()}s` },
  subResource: '',
  name: 'w',
  namespace: 'n',
  operation: 'CREATE',
  userInfo: { username: 'u', groups: [] },
  object,
  oldObject: null,
  dryRun: false,
  ...extra,
});
