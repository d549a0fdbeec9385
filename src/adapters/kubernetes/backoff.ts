/**
 * The retry schedule of every API call, as pure arithmetic: exponential backoff with full
 * jitter (many ticks retrying at once spread out instead of hammering a recovering API server
 * in lockstep), a server's Retry-After honoured, a bounded number of tries, and never a wait
 * that would end past the tick's deadline.
 */

export type BackoffPolicy = {
  /** The first retry waits up to this long. */
  baseMs: number;
  /** No computed wait exceeds this. */
  capMs: number;
  /** Tries in all, the first included. */
  maxTries: number;
  /** A server asking for longer than this is not waited for. */
  retryAfterCapMs: number;
};

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 200, capMs: 5_000, maxTries: 5, retryAfterCapMs: 30_000 });

/** Full jitter: uniform in [0, min(cap, base·2^(retry-1))); `retry` counts from 1. */
export const backoffDelay = (retry: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number => {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
};

/** A Retry-After header (delta-seconds or an HTTP-date) as milliseconds from `now`; null when absent or unreadable. */
export const retryAfterMs = (header: string | undefined, now: number): number | null => {
  if (header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
};

export type RetryStep = { kind: 'retry'; delayMs: number } | { kind: 'give-up'; why: string };

/**
 * After `tries` failed tries of a retryable call: wait how long, or give up and why. A wait
 * that would reach the deadline is not started: the tick must end in time to write what it has.
 */
export const nextRetry = (o: {
  tries: number;
  retryAfterMs: number | null;
  now: number;
  deadline: number | undefined;
  random: () => number;
  policy?: BackoffPolicy;
}): RetryStep => {
  const policy = o.policy ?? DEFAULT_BACKOFF;
  if (o.tries >= policy.maxTries) return { kind: 'give-up', why: `gave up after ${o.tries} tries` };
  if (o.retryAfterMs !== null && o.retryAfterMs > policy.retryAfterCapMs) {
    return { kind: 'give-up', why: `the server asked to retry after ${Math.ceil(o.retryAfterMs / 1000)}s, over the ${policy.retryAfterCapMs / 1000}s limit` };
  }
  const delayMs = o.retryAfterMs ?? backoffDelay(o.tries, o.random, policy);
  if (o.deadline !== undefined && o.now + delayMs >= o.deadline) {
    return { kind: 'give-up', why: `a retry in ${delayMs} ms would pass the tick deadline (after ${o.tries} ${o.tries === 1 ? 'try' : 'tries'})` };
  }
  return { kind: 'retry', delayMs };
};

/** The per-request timeout: the usual one, shortened near the deadline but never below a floor that lets a request finish. */
export const requestTimeoutMs = (timeoutMs: number, now: number, deadline: number | undefined, floorMs = 1_000): number =>
  deadline === undefined ? timeoutMs : Math.max(Math.min(floorMs, timeoutMs), Math.min(timeoutMs, deadline - now));
