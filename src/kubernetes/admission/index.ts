// AdmissionReview v1: the wire format between the API server and Canopy.
export {
  ADMISSION_API_VERSION,
  AdmissionReviewError,
  OPERATIONS,
  judgedObject,
  parseAdmissionReview,
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  type GroupVersionKind,
  type GroupVersionResource,
  type Operation,
  type UserInfo,
} from './review.js';
export { objectCoordinates, pluralOf, syntheticReview, type SyntheticRequest } from './synthetic.js';
