// The retry schedule of the Kubernetes driver as pure arithmetic, and withRetries driven by a
// fake clock and a fake random source (no real waiting).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, backoffDelay, nextRetry, requestTimeoutMs, retryAfterMs } from '../../src/adapters/kubernetes/backoff.ts';
import { KubeRetryError, describeError, isRetryable } from '../../src/adapters/kubernetes/errors.ts';
import { withRetries } from '../../src/adapters/kubernetes/retry.ts';
import { KubeApiError } from '../../src/adapters/kubernetes/rest.ts';
import { HttpRequestError } from '../../src/adapters/http/request.ts';

const status = (code: number, reason: string, headers: Record<string, string> = {}): KubeApiError =>
  new KubeApiError(code, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message: `${reason} says no`, code }), headers, 'GET /x');

/** No answer: the socket failed with `code`, or (no code) closed before the whole answer came. */
const fetchFailed = (code?: string): HttpRequestError =>
  new HttpRequestError(code ? `read ${code}` : 'the connection closed before the whole answer came', { aborted: false, ...(code ? { code } : {}) });

/** A fake clock whose sleep advances it, recording each wait. */
const fakeClock = (start = 1_000_000) => {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
};

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling capped at 5 s', () => {
    expect(backoffDelay(1, () => 0.999999)).toBe(199);
    expect(backoffDelay(2, () => 0.999999)).toBe(399);
    expect(backoffDelay(3, () => 0.5)).toBe(400);
    expect(backoffDelay(10, () => 0.999999)).toBe(4999);
    expect(backoffDelay(4, () => 0)).toBe(0);
  });

  it('always lies in [0, min(cap, base·2^(n-1)))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (n, r) => {
        const d = backoffDelay(n, () => r);
        const ceiling = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** (n - 1));
        return d >= 0 && d < ceiling && Number.isInteger(d);
      }),
    );
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates, and ignores junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:02 GMT', now)).toBe(2000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(undefined, now)).toBeNull();
  });
});

describe('nextRetry', () => {
  const base = { retryAfterMs: null, now: 0, deadline: undefined, random: () => 0.5 };
  it('gives up after the fifth try', () => {
    expect(nextRetry({ ...base, tries: 4 })).toEqual({ kind: 'retry', delayMs: 800 });
    expect(nextRetry({ ...base, tries: 5 })).toEqual({ kind: 'give-up', why: 'gave up after 5 tries' });
  });
  it('prefers the server\'s Retry-After, up to a limit', () => {
    expect(nextRetry({ ...base, tries: 1, retryAfterMs: 3000 })).toEqual({ kind: 'retry', delayMs: 3000 });
    expect(nextRetry({ ...base, tries: 1, retryAfterMs: 120_000 }).kind).toBe('give-up');
  });
  it('never starts a wait that ends at or past the deadline', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 10_000 }), fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: null }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (tries, left, ra, r) => {
        const step = nextRetry({ tries, retryAfterMs: ra, now: 5_000, deadline: 5_000 + left, random: () => r });
        return step.kind === 'give-up' || 5_000 + step.delayMs < 5_000 + left;
      }),
    );
  });
});

describe('requestTimeoutMs', () => {
  it('is the usual timeout, shortened near the deadline, never below the floor', () => {
    expect(requestTimeoutMs(15_000, 0, undefined)).toBe(15_000);
    expect(requestTimeoutMs(15_000, 0, 4_000)).toBe(4_000);
    expect(requestTimeoutMs(15_000, 0, 100)).toBe(1_000);
    expect(requestTimeoutMs(500, 0, 100)).toBe(500);
  });
});

describe('error classification', () => {
  it('retries 429, 500, 502, 503, 504 and dropped or timed-out connections only', () => {
    for (const code of [429, 500, 502, 503, 504]) expect(isRetryable(status(code, 'X'))).toBe(true);
    for (const code of [400, 401, 403, 404, 409, 410, 413, 415, 422]) expect(isRetryable(status(code, 'X'))).toBe(false);
    expect(isRetryable(fetchFailed())).toBe(true);
    expect(isRetryable(fetchFailed('ECONNRESET'))).toBe(true);
    expect(isRetryable(fetchFailed('ETIMEDOUT'))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe(true);
    expect(isRetryable(fetchFailed('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe(false);
    expect(isRetryable(fetchFailed('ENOTFOUND'))).toBe(false);
    expect(isRetryable(new Error('bug'))).toBe(false);
  });

  it('describes a Status answer by code, reason and message', () => {
    expect(describeError(status(409, 'AlreadyExists'))).toBe('409 AlreadyExists: AlreadyExists says no');
    expect(describeError(fetchFailed('ECONNRESET'))).toBe('read ECONNRESET');
    expect(describeError(new HttpRequestError('the request timed out', { aborted: true }))).toBe('request timed out');
    expect(isRetryable(new HttpRequestError('the request timed out', { aborted: true }))).toBe(true);
  });
});

describe('withRetries', () => {
  it('retries a 503 with jittered backoff and returns the first success', async () => {
    const clock = fakeClock();
    let calls = 0;
    const got = await withRetries(
      async () => {
        calls += 1;
        if (calls < 3) throw status(503, 'ServiceUnavailable');
        return 'ok';
      },
      { ...clock, random: () => 0.5 },
    );
    expect(got).toBe('ok');
    expect(calls).toBe(3);
    expect(clock.slept).toEqual([100, 200]);
  });

  it('honours Retry-After on 429', async () => {
    const clock = fakeClock();
    let calls = 0;
    await withRetries(
      async () => {
        calls += 1;
        if (calls === 1) throw status(429, 'TooManyRequests', { 'retry-after': '2' });
      },
      { ...clock, random: () => 0.5 },
    );
    expect(clock.slept).toEqual([2000]);
  });

  it('gives up after 5 tries with the last failure as the cause', async () => {
    const clock = fakeClock();
    let calls = 0;
    const err = await withRetries(
      async () => {
        calls += 1;
        throw fetchFailed('ECONNRESET');
      },
      { ...clock, random: () => 0.999 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(5);
    expect(err).toBeInstanceOf(KubeRetryError);
    expect((err as KubeRetryError).tries).toBe(5);
    expect((err as Error).message).toContain('gave up after 5 tries');
    expect((err as Error).cause).toBeInstanceOf(HttpRequestError);
    expect(clock.slept).toHaveLength(4);
  });

  it('throws 409, 404, 422 and 403 at once', async () => {
    for (const [code, reason] of [[409, 'Conflict'], [404, 'NotFound'], [422, 'Invalid'], [403, 'Forbidden']] as const) {
      let calls = 0;
      const e = status(code, reason);
      await expect(
        withRetries(async () => {
          calls += 1;
          throw e;
        }, fakeClock()),
      ).rejects.toBe(e);
      expect(calls).toBe(1);
    }
  });

  it('stops retrying rather than wait past the deadline', async () => {
    const clock = fakeClock(0);
    let calls = 0;
    const err = await withRetries(
      async () => {
        calls += 1;
        throw status(500, 'InternalError');
      },
      { ...clock, random: () => 0.999, deadline: 700 },
    ).catch((e: unknown) => e);
    // Waits of 199 and 399 fit before 700; the third (799) would not.
    expect(clock.slept).toEqual([199, 399]);
    expect(calls).toBe(3);
    expect((err as Error).message).toContain('deadline');
  });
});
