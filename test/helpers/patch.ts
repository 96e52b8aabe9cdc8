// Applying a returned AdmissionReview patch the way the API server does, with an RFC 6902 library.
import { expect } from 'vitest';
import { applyPatch, type Operation } from 'rfc6902';

export interface MutationResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  status?: { code: number; message: string };
}

export function decodePatch(response: MutationResponse): Operation[] {
  if (response.patch === undefined) return [];
  expect(response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
}

/** The object after the response's patch, failing the test if any operation does not apply. */
export function patched<T>(object: T, response: MutationResponse): T {
  const copy = structuredClone(object);
  const results = applyPatch(copy, decodePatch(response));
  expect(results.filter((r) => r !== null)).toEqual([]);
  return copy;
}
