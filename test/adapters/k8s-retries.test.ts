// Every call of the Kubernetes driver goes through withRetries and a per-request timeout: here
// through the real client against the API-server double's injected faults, with a sleep that
// records the waits instead of waiting.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initialState, transition } from '../../src/core/state.ts';
import { createKubernetesDispatcher } from '../../src/adapters/kubernetes/dispatcher.ts';
import { KubeRetryError } from '../../src/adapters/kubernetes/errors.ts';
import { createKubernetesStateStore } from '../../src/adapters/kubernetes/state-store.ts';
import { ConflictError } from '../../src/adapters/ports.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let api: ApiServerDouble;
let nsCount = 0;
const freshNamespace = (): string => `bf-retry-${++nsCount}`;

beforeAll(async () => {
  api = await startApiServerDouble();
});
afterAll(async () => {
  await api.close();
});
afterEach(() => {
  api.faults.clear();
});

const recorder = () => {
  const slept: number[] = [];
  return { slept, access: { kc: api.connection(), sleep: async (ms: number) => void slept.push(ms), random: () => 0.5 } };
};

describe('withRetries through the real client', () => {
  it('honours 429 Retry-After', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    const store = createKubernetesStateStore({ ...access, namespace });
    api.faults.add({ match: { verb: 'list', resource: 'configmaps' }, respond: { status: 429, retryAfterSeconds: 2 } });
    api.requests.reset();
    expect(await store.list()).toEqual([]);
    expect(api.requests.count({ verb: 'list' })).toBe(2);
    expect(api.requests.all({ verb: 'list' }).map((r) => r.status)).toEqual([429, 200]);
    expect(slept).toEqual([2000]);
  });

  it('retries 500, 503 and a dropped connection with backoff, then succeeds', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    const store = createKubernetesStateStore({ ...access, namespace });
    api.faults.add({ match: { verb: 'create' }, respond: { status: 500 } });
    api.faults.add({ match: { verb: 'create' }, respond: { status: 503 } });
    api.faults.add({ match: { verb: 'create' }, respond: { drop: true } });
    api.requests.reset();
    await store.create(initialState('flaky', T0));
    expect(api.requests.all({ verb: 'create' }).map((r) => r.status)).toEqual([500, 503, 0, 201]);
    expect(slept).toEqual([100, 200, 400]);
  });

  it('gives up after 5 tries', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    const store = createKubernetesStateStore({ ...access, namespace });
    api.faults.add({ match: { verb: 'get' }, times: Infinity, respond: { status: 503 } });
    api.requests.reset();
    const err = await store.get('down').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeRetryError);
    expect((err as Error).message).toMatch(/^503 ServiceUnavailable: .* \(gave up after 5 tries\)$/);
    expect(api.requests.count({ verb: 'get' })).toBe(5);
    expect(slept).toHaveLength(4);
  });

  it('never retries 409 or 422', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    const store = createKubernetesStateStore({ ...access, namespace });
    const s0 = initialState('once', T0);
    const v0 = await store.create(s0);
    await store.update(transition(s0, 'Noop', 'a', T0 + 1), v0);
    api.requests.reset();
    await expect(store.update(transition(s0, 'Skipped', 'b', T0 + 2), v0)).rejects.toBeInstanceOf(ConflictError);
    expect(api.requests.count({ verb: 'update' })).toBe(1);

    const d = createKubernetesDispatcher({ ...access, namespace, image: 'img:1' });
    const req = { followerId: 'once', sha: 'a'.repeat(40), episode: 1, attempt: 1, name: 'x'.repeat(64), argv: ['true'], repo: 'o/r', branch: 'main', budgets: { triggerSeconds: 60, closeoutSeconds: 60, maxAttempts: 1 } };
    await expect(d.dispatch(req)).rejects.toThrow(/422/);
    expect(api.requests.count({ verb: 'create' })).toBe(1);
    expect(slept).toEqual([]);
  });

  it('ends a hung request with the per-request timeout and retries it', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    const store = createKubernetesStateStore({ ...access, namespace, timeoutMs: 200 });
    api.faults.add({ match: { verb: 'list' }, respond: { delayMs: 3_000 } });
    expect(await store.list()).toEqual([]);
    expect(slept).toEqual([100]);
  });

  it('does not retry past the tick deadline', async () => {
    const namespace = freshNamespace();
    const { slept, access } = recorder();
    let t = 0;
    const store = createKubernetesStateStore({ ...access, namespace, now: () => t, deadline: 250, sleep: async (ms) => void (slept.push(ms), (t += ms)) });
    api.faults.add({ match: { verb: 'list' }, times: Infinity, respond: { status: 500 } });
    api.requests.reset();
    await expect(store.list()).rejects.toThrow(/would pass the tick deadline/);
    // 100 ms fits before 250, the next 200 ms would not.
    expect(slept).toEqual([100]);
    expect(api.requests.count({ verb: 'list' })).toBe(2);
  });
});
