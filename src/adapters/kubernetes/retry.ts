import { DEFAULT_BACKOFF, nextRetry, retryAfterMs, type BackoffPolicy } from './backoff.ts';
import { KubeRetryError, apiFailure, isRetryable } from './errors.ts';

export type RetryOptions = {
  /** Epoch ms: no retry wait ends past it (the tick's own deadline). */
  deadline?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  policy?: Partial<BackoffPolicy>;
  /** Told about each retry, e.g. to log it. */
  onRetry?: (info: { tries: number; delayMs: number; error: unknown }) => void;
};

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one API call, retrying what a later try can fix (429, 500/502/503/504, dropped or
 * timed-out connections) and nothing else: a 403, 404, 409 or 422 is an answer, thrown at once.
 * A retried write may have landed the first time; callers make that safe (creates adopt
 * AlreadyExists, updates carry a resourceVersion).
 */
export const withRetries = async <T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> => {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? realSleep;
  const random = o.random ?? Math.random;
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...o.policy };
  for (let tries = 1; ; tries++) {
    try {
      return await fn(tries);
    } catch (e) {
      if (!isRetryable(e)) throw e;
      const t = now();
      const step = nextRetry({ tries, retryAfterMs: retryAfterMs(apiFailure(e)?.retryAfter, t), now: t, deadline: o.deadline, random, policy });
      if (step.kind === 'give-up') throw new KubeRetryError(e, tries, step.why);
      o.onRetry?.({ tries, delayMs: step.delayMs, error: e });
      await sleep(step.delayMs);
    }
  }
};
