import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HookCredential } from '../core/push.ts';

/**
 * Whether a request's credential proves it knows the secret, over the raw body as received (never
 * re-serialised JSON). Both sides are compared as fixed-length digests with timingSafeEqual, so
 * neither the time taken nor an early length check says how much of a guess was right.
 */
export const verifyCredential = (credential: HookCredential, body: Buffer, secret: string): boolean => {
  if (credential === null || secret === '') return false;
  if (credential.scheme === 'hmac-sha256') {
    const want = createHmac('sha256', secret).update(body).digest();
    const got = Buffer.from(credential.hex, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }
  // GitLab sends the secret itself: compare keyed digests of both, equal in length whatever was sent.
  const key = createHmac('sha256', 'branch-follower push token').update(secret).digest();
  const a = createHmac('sha256', key).update(credential.token).digest();
  const b = createHmac('sha256', key).update(secret).digest();
  return timingSafeEqual(a, b);
};

/** What a forge would send as its HMAC-SHA256 signature of `body` (hex), for tests and the docs' examples. */
export const signBody = (body: Buffer | string, secret: string): string => createHmac('sha256', secret).update(body).digest('hex');
