// AdmissionReview v1, as the API server sends it, and the checks that turn a body into a request we can
// judge. Only the envelope is checked strictly: the object inside is judged whatever its shape.
import { isRecord, type JsonRecord } from '../objects/json.js';
import { CanopyError } from '../../operations/errors/index.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource: string;
  name: string;
  namespace: string;
  operation: Operation;
  userInfo: UserInfo;
  object: unknown;
  oldObject: unknown;
  dryRun: boolean;
}

/** The object a request is about: on DELETE the object is gone from the request, so it is the old one. */
export const judgedObject = (request: AdmissionRequest): unknown => (request.operation === 'DELETE' ? request.oldObject : request.object);

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: 'JSONPatch';
  patch?: string;
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The body is not an AdmissionReview v1 we can answer: the caller gets a 400 with this message. */
export class AdmissionReviewError extends CanopyError {
  constructor(message: string) {
    super('admission-review', message);
  }
}


function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return typeof value;
}

function requireRecord(value: unknown, path: string): JsonRecord {
  if (!isRecord(value)) throw new AdmissionReviewError(`${path} must be an object, got ${describe(value)}`);
  return value;
}

function requireString(record: JsonRecord, key: string, path: string, allowEmpty = false): string {
  const value = record[key];
  if (value === undefined) throw new AdmissionReviewError(`${path}.${key} is missing`);
  if (typeof value !== 'string') throw new AdmissionReviewError(`${path}.${key} must be a string, got ${describe(value)}`);
  if (!allowEmpty && value === '') throw new AdmissionReviewError(`${path}.${key} must not be empty`);
  return value;
}

function optionalString(record: JsonRecord, key: string, path: string): string {
  const value = record[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new AdmissionReviewError(`${path}.${key} must be a string, got ${describe(value)}`);
  return value;
}

function readUserInfo(value: unknown): UserInfo {
  const info = requireRecord(value, 'request.userInfo');
  const username = optionalString(info, 'username', 'request.userInfo');
  const rawGroups = info['groups'] ?? [];
  if (!Array.isArray(rawGroups) || rawGroups.some((g) => typeof g !== 'string')) {
    throw new AdmissionReviewError('request.userInfo.groups must be an array of strings');
  }
  const uid = optionalString(info, 'uid', 'request.userInfo');
  return { username, groups: rawGroups as string[], ...(uid ? { uid } : {}) };
}

/**
 * How many levels of objects and arrays a body may nest. Parts of the pipeline recurse over the object
 * (copying it for the mutation runner, translating it, the recorder's redaction), and V8's stack runs out
 * somewhere past a thousand levels: the fuzz suite found a 5,000-level body answered with a 500. No
 * Kubernetes object comes close (CRD schemas, the deepest, stay far below), so a deeper body is refused
 * with the other malformed ones.
 */
const MAX_NESTING_DEPTH = 512;

/** Whether a parsed JSON value nests deeper than `limit`; the recursion itself stops one level past it. */
function nestsDeeperThan(value: unknown, limit: number, depth = 1): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > limit) return true;
  if (Array.isArray(value)) return value.some((child) => nestsDeeperThan(child, limit, depth + 1));
  for (const key in value) {
    if (nestsDeeperThan((value as JsonRecord)[key], limit, depth + 1)) return true;
  }
  return false;
}

/** Checks an AdmissionReview body and returns its request, or throws AdmissionReviewError. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const review = requireRecord(body, 'the body');
  if (nestsDeeperThan(review, MAX_NESTING_DEPTH)) {
    throw new AdmissionReviewError(`the body nests objects and arrays more than ${MAX_NESTING_DEPTH} levels deep`);
  }
  if (review['kind'] !== 'AdmissionReview') {
    throw new AdmissionReviewError(`kind must be "AdmissionReview", got ${describe(review['kind'])}`);
  }
  if (review['apiVersion'] !== ADMISSION_API_VERSION) {
    throw new AdmissionReviewError(
      `apiVersion must be "${ADMISSION_API_VERSION}", got ${describe(review['apiVersion'])}` +
        ' (configure the webhook with admissionReviewVersions: [v1])',
    );
  }
  const request = requireRecord(review['request'], 'request');
  const uid = requireString(request, 'uid', 'request');
  const kind = requireRecord(request['kind'], 'request.kind');
  const resource = requireRecord(request['resource'], 'request.resource');
  const operation = request['operation'];
  if (!OPERATIONS.includes(operation as Operation)) {
    throw new AdmissionReviewError(`request.operation must be one of ${OPERATIONS.join(', ')}, got ${describe(operation)}`);
  }
  const dryRun = request['dryRun'];
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') {
    throw new AdmissionReviewError(`request.dryRun must be a boolean, got ${describe(dryRun)}`);
  }
  return {
    uid,
    kind: {
      group: requireString(kind, 'group', 'request.kind', true),
      version: requireString(kind, 'version', 'request.kind'),
      kind: requireString(kind, 'kind', 'request.kind'),
    },
    resource: {
      group: requireString(resource, 'group', 'request.resource', true),
      version: requireString(resource, 'version', 'request.resource'),
      resource: requireString(resource, 'resource', 'request.resource'),
    },
    subResource: optionalString(request, 'subResource', 'request'),
    name: optionalString(request, 'name', 'request'),
    namespace: optionalString(request, 'namespace', 'request'),
    operation: operation as Operation,
    userInfo: readUserInfo(request['userInfo']),
    object: request['object'] ?? null,
    oldObject: request['oldObject'] ?? null,
    dryRun: dryRun === true,
  };
}

