// Bearer tokens, compared in constant time: the webhook's /status and the bundle store check them.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** True when the Authorization header carries the token; digests of both sides make the lengths leak nothing. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  return header !== undefined && timingSafeEqual(digest(header), digest(`Bearer ${token}`));
}
