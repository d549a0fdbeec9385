import type { Policy } from './policy.ts';
import { shortSha } from './primitives.ts';
import { allowedAttempts, attemptsFor, grantedFor, transition, withAttempts, type FollowerState } from './state.ts';

export type RetryGrant = { by: string; reason: string };

export type RetryResult = { kind: 'granted'; state: FollowerState; attempt: number } | { kind: 'refused'; why: string };

/**
 * A person grants a follower Blocked on used-up attempts one more attempt in the current
 * episode: no dummy commit, no registry edit. The grant is a transition (Blocked -> Observed)
 * carrying who and why, so it is in the history and the events; the next observer tick
 * dispatches the attempt through the usual gates (armed, written ahead). Anything else Blocked
 * (a missing branch, a broken configRef) is not cured by another attempt, so it is refused.
 */
export const grantRetry = (s: FollowerState | null, policy: Policy, grant: RetryGrant, now: number): RetryResult => {
  if (!s) return { kind: 'refused', why: 'it has not been observed yet' };
  if (s.phase !== 'Blocked') return { kind: 'refused', why: `it is ${s.phase}, not Blocked` };
  const sha = s.observedSha;
  if (sha === null || s.pending || s.inFlight) return { kind: 'refused', why: 'it has no settled commit to retry' };
  const used = attemptsFor(s, sha, s.episode);
  if (used < allowedAttempts(s, sha, s.episode, policy.budgets.maxAttempts)) {
    return { kind: 'refused', why: `it is Blocked with attempts left, so another attempt would not help: ${s.reason}` };
  }
  const attempt = used + 1;
  const granted = { ...s, attempts: withAttempts(s, sha, s.episode, used, grantedFor(s, sha, s.episode) + 1) };
  const state = transition(
    granted,
    'Observed',
    `retry granted by ${grant.by}: ${grant.reason}; the next observer tick dispatches ${shortSha(sha)} attempt ${attempt}`,
    now,
    { sha, attempt, episode: s.episode },
  );
  return { kind: 'granted', state, attempt };
};
