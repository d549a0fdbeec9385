// The Kubernetes state and arming stores against the API-server double, through the real
// client and a kubeconfig.
import { describe, expect, it } from 'vitest';
import { DISARMED, editArming, type Arming } from '../../src/core/arming.ts';
import { initialState, transition, type FollowerState } from '../../src/core/state.ts';
import { createKubernetesArmingStore } from '../../src/adapters/kubernetes/arming-store.ts';
import { LABEL_FOLLOWER, STATE_SELECTOR, followerLabels } from '../../src/adapters/kubernetes/labels.ts';
import { STATE_KEY, createKubernetesStateStore, stateConfigMapName } from '../../src/adapters/kubernetes/state-store.ts';
import { ConflictError, type Stored } from '../../src/adapters/ports.ts';
import { useK8sSuite } from '../support/k8s-suite.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const suite = useK8sSuite('bf-store');
const { freshNamespace, access } = suite;

const okState = (s: Stored | null | undefined): FollowerState => {
  if (!s || !('state' in s)) throw new Error(`expected a readable state, got ${JSON.stringify(s)}`);
  return s.state;
};

describe('kubernetes state store', () => {
  it('creates one labelled ConfigMap per follower and reads it back', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    const s = initialState('alpha', T0);
    const version = await store.create(s);
    const cm = suite.api.store.get('configmaps', namespace, 'branch-follower-state-alpha');
    expect(cm?.metadata?.resourceVersion).toBe(version);
    expect(cm?.metadata?.labels).toEqual(followerLabels('state', 'alpha'));
    expect(JSON.parse((cm?.['data'] as Record<string, string>)[STATE_KEY] ?? '')).toEqual(s);
    expect(await store.get('alpha')).toEqual({ id: 'alpha', version, state: s });
    expect(await store.get('nobody')).toBeNull();
  });

  it('lists every follower with one labelled LIST call, ignoring other ConfigMaps', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    const ids = ['c-one', 'a-two', 'b-three'];
    for (const id of ids) await store.create(initialState(id, T0));
    suite.api.store.put('configmaps', { metadata: { name: 'unrelated', namespace, labels: { app: 'x' } }, data: { [STATE_KEY]: '{}' } });
    suite.api.requests.reset();
    const listed = await store.list();
    expect(listed.map((s) => s.id)).toEqual(['a-two', 'b-three', 'c-one']);
    expect(listed.every((s) => 'state' in s)).toBe(true);
    expect(suite.api.requests.count()).toBe(1);
    const req = suite.api.requests.last();
    expect(req).toMatchObject({ verb: 'list', resource: 'configmaps', namespace });
    expect(new URLSearchParams(req?.query).get('labelSelector')).toBe(STATE_SELECTOR);
  });

  it('updates with compare-and-swap on resourceVersion: the stale writer gets ConflictError and the winner stays', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    const s0 = initialState('cas', T0);
    const v0 = await store.create(s0);
    const winner = transition(s0, 'Noop', 'target is at the source', T0 + 1000);
    const v1 = await store.update(winner, v0);
    expect(Number(v1)).toBeGreaterThan(Number(v0));
    const loser = transition(s0, 'Skipped', 'disarmed', T0 + 2000);
    await expect(store.update(loser, v0)).rejects.toBeInstanceOf(ConflictError);
    expect(okState(await store.get('cas'))).toEqual(winner);
    expect(suite.api.requests.last({ verb: 'update' })?.status).toBe(409);
    // A second create of the same follower is a conflict as well.
    await expect(store.create(s0)).rejects.toBeInstanceOf(ConflictError);
    // So is an update of a state deleted meanwhile.
    suite.api.store.delete('configmaps', namespace, stateConfigMapName('cas'));
    await expect(store.update(winner, v1)).rejects.toBeInstanceOf(ConflictError);
  });

  it('reports a ConfigMap with bad JSON or a bad state as corrupt, with where, and never overwrites it', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    await store.create(initialState('good', T0));
    const labels = (id: string) => followerLabels('state', id);
    suite.api.store.put('configmaps', { metadata: { name: stateConfigMapName('bad-json'), namespace, labels: labels('bad-json') }, data: { [STATE_KEY]: '{"schemaVersion":' } });
    const wrongPhase = { ...initialState('bad-schema', T0), phase: 'Exploded' };
    suite.api.store.put('configmaps', { metadata: { name: stateConfigMapName('bad-schema'), namespace, labels: labels('bad-schema') }, data: { [STATE_KEY]: JSON.stringify(wrongPhase) } });
    suite.api.store.put('configmaps', { metadata: { name: stateConfigMapName('no-key'), namespace, labels: labels('no-key') }, data: { other: 'x' } });
    const listed = new Map((await store.list()).map((s) => [s.id, s]));
    expect(listed.get('good')).toHaveProperty('state');
    expect(listed.get('bad-json')).toMatchObject({ corrupt: { where: `configmap ${namespace}/branch-follower-state-bad-json: data.state.json` } });
    expect(listed.get('bad-json')).toHaveProperty('corrupt.message', expect.stringContaining('not JSON'));
    expect(listed.get('bad-schema')).toMatchObject({ corrupt: { where: `configmap ${namespace}/branch-follower-state-bad-schema: data.state.json.phase` } });
    expect(listed.get('no-key')).toMatchObject({ corrupt: { where: `configmap ${namespace}/branch-follower-state-no-key: data.state.json`, message: 'missing key' } });
    const corrupt = await store.get('bad-schema');
    expect(corrupt).toHaveProperty('corrupt');
    // Its version is the live one: nothing is written over it unless someone writes that version on purpose.
    expect(corrupt?.version).toBe(suite.api.store.get('configmaps', namespace, stateConfigMapName('bad-schema'))?.metadata?.resourceVersion);
  });

  it('refuses to write an invalid state before making any request', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    suite.api.requests.reset();
    const bad = { ...initialState('x', T0), phase: 'Triggering' } as FollowerState;
    await expect(store.create(bad)).rejects.toThrow(/run in flight/);
    await expect(store.update({ ...initialState('x', T0), id: 'Not An Id' }, '1')).rejects.toThrow(/id/);
    expect(suite.api.requests.count()).toBe(0);
  });

  it('treats a retried write whose first try landed as its own win', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    const s0 = initialState('landed', T0);
    suite.api.faults.add({ match: { verb: 'create', resource: 'configmaps' }, respond: { drop: true, afterCommit: true } });
    const v0 = await store.create(s0);
    expect(v0).toBe(suite.api.store.get('configmaps', namespace, stateConfigMapName('landed'))?.metadata?.resourceVersion);
    const s1 = transition(s0, 'Noop', 'at target', T0 + 1);
    suite.api.faults.add({ match: { verb: 'update', resource: 'configmaps' }, respond: { status: 503, afterCommit: true } });
    const v1 = await store.update(s1, v0);
    expect(okState(await store.get('landed'))).toEqual(s1);
    expect(v1).toBe(suite.api.store.get('configmaps', namespace, stateConfigMapName('landed'))?.metadata?.resourceVersion);
  });

  it('labels states with the follower id so a selector finds one follower', async () => {
    const namespace = freshNamespace();
    const store = createKubernetesStateStore({ ...access(), namespace });
    await store.create(initialState('lab', T0));
    expect(suite.api.store.get('configmaps', namespace, 'branch-follower-state-lab')?.metadata?.labels?.[LABEL_FOLLOWER]).toBe('lab');
  });
});

describe('kubernetes arming store', () => {
  const who = { by: 'tester', at: '2026-01-01T00:00:00.000Z', reason: 'test' };

  it('reads absent when the ConfigMap does not exist, creates with version null, and refuses a second create', async () => {
    const namespace = freshNamespace();
    const arming = createKubernetesArmingStore({ ...access(), namespace });
    expect(await arming.read()).toEqual({ read: { kind: 'absent' }, version: null });
    await arming.write(DISARMED, null);
    const read = await arming.read();
    expect(read.read).toEqual({ kind: 'ok', arming: DISARMED });
    expect(read.version).toBe(suite.api.store.get('configmaps', namespace, 'branch-follower-arming')?.metadata?.resourceVersion);
    await expect(arming.write(DISARMED, null)).rejects.toBeInstanceOf(ConflictError);
  });

  it('writes with compare-and-swap: a stale version is a ConflictError and the winner stays', async () => {
    const namespace = freshNamespace();
    const arming = createKubernetesArmingStore({ ...access(), namespace });
    await arming.write(DISARMED, null);
    const first = await arming.read();
    const armed: Arming = editArming(first.read, { kind: 'arm', id: 'alpha' }, who);
    await arming.write(armed, first.version);
    const braked = editArming(first.read, { kind: 'kill-switch', on: true }, who);
    await expect(arming.write(braked, first.version)).rejects.toBeInstanceOf(ConflictError);
    expect((await arming.read()).read).toEqual({ kind: 'ok', arming: armed });
  });

  it('reports malformed data with where it is', async () => {
    const namespace = freshNamespace();
    const arming = createKubernetesArmingStore({ ...access(), namespace });
    suite.api.store.put('configmaps', { metadata: { name: 'branch-follower-arming', namespace }, data: { killSwitch: '{not json', allowlist: '[]' } });
    expect((await arming.read()).read).toMatchObject({ kind: 'malformed', where: `configmap ${namespace}/branch-follower-arming: data.killSwitch`, message: expect.stringContaining('not JSON') });
    suite.api.store.put('configmaps', { metadata: { name: 'branch-follower-arming', namespace }, data: { killSwitch: JSON.stringify(DISARMED.killSwitch) } });
    expect((await arming.read()).read).toEqual({ kind: 'malformed', where: `configmap ${namespace}/branch-follower-arming: data.allowlist`, message: 'missing key' });
    suite.api.store.put('configmaps', { metadata: { name: 'branch-follower-arming', namespace }, data: { killSwitch: JSON.stringify({ on: 'yes', by: 'x', at: null, reason: '' }), allowlist: '[]' } });
    expect((await arming.read()).read).toMatchObject({ kind: 'malformed', where: `configmap ${namespace}/branch-follower-arming: data.killSwitch.on` });
    // Malformed data can still be replaced (the brake always works), by its version.
    const { version } = await arming.read();
    await arming.write(DISARMED, version);
    expect((await arming.read()).read).toEqual({ kind: 'ok', arming: DISARMED });
  });
});
