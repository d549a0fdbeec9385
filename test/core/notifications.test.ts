// Events and notifications derive from the transitions a write appended: each once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idempotencyKey, newTransitions, notificationsFor } from '../../src/core/notifications.ts';
import { observe } from '../../src/core/observe.ts';
import type { Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import { HISTORY_LIMIT, initialState, transition, type FollowerState } from '../../src/core/state.ts';
import { fcParams, followerStateArb, phaseArb, timeArb } from '../support/arbitraries.ts';
import { A, ARMED, at, B, close, follower, obs, policyFor, SENTINEL, startRun } from './fixtures.ts';

const policy: Policy = policyFor(SENTINEL); // 3 attempts
const checks = follower(SENTINEL).checks;

describe('newTransitions', () => {
  it('a first write emits its whole history; a later one what it appended; a rewrite nothing', () => {
    const s1 = observe(null, obs(A, null), ARMED, policy, at(0)).state;
    expect(newTransitions(null, s1)).toEqual(s1.history);
    const run = startRun(policy, A, at(0));
    expect(newTransitions(s1, run)).toEqual([run.history.at(-1)]);
    expect(newTransitions(run, run)).toEqual([]);
    expect(newTransitions(run, { ...run, reason: 'rewritten' })).toEqual([]);
  });

  it('finds what was appended even when the bounded history dropped its oldest entries', () => {
    let s: FollowerState = initialState(SENTINEL, at(0));
    for (let i = 0; i < HISTORY_LIMIT; i++) s = transition(s, i % 2 ? 'Noop' : 'Skipped', `${i}`, at(i));
    const next = transition(transition(s, 'Blocked', 'a', at(100)), 'Noop', 'b', at(101));
    expect(next.history).toHaveLength(HISTORY_LIMIT);
    expect(newTransitions(s, next).map((t) => t.reason)).toEqual(['a', 'b']);
  });

  it('returns exactly the entries appended by any sequence of transitions', () => {
    fc.assert(
      fc.property(timeArb.chain((t) => fc.tuple(followerStateArb(t), fc.array(phaseArb, { maxLength: 8 }), fc.constant(t))), ([s, phases, t]) => {
        let next = s;
        phases.forEach((p, i) => (next = transition(next, p, `step ${i}`, t + i + 1)));
        const appended = newTransitions(s, next);
        expect(appended.map((x) => x.reason)).toEqual(next.history.filter((x) => x.reason.startsWith('step ')).map((x) => x.reason));
      }),
      fcParams(),
    );
  });
});

describe('notificationsFor', () => {
  it('notifies Succeeded once, with the run\'s sha and attempt', () => {
    const run = startRun(policy, A, at(0));
    const done = close(run, checks, { trigger: 'SUCCESS', target: 'SUCCESS' }, policy, at(60)).state;
    const name = run.inFlight.name;
    expect(notificationsFor(run, done)).toEqual([
      { id: SENTINEL, phase: 'Succeeded', sha: A, attempt: 1, run: name, idempotencyKey: `${name}/Succeeded`, reason: done.reason, at: toIso(at(60)) },
    ]);
    // A retry of the same write, or a later write of the same state, repeats nothing.
    expect(notificationsFor(done, done)).toEqual([]);
    expect(notificationsFor(done, { ...done, reason: 'drift', updatedAt: toIso(at(120)) })).toEqual([]);
  });

  it('does not notify the phases on the way (PendingTrigger, Triggering, ClosingOut)', () => {
    const s1 = observe(null, obs(A, null), ARMED, policy, at(0)).state;
    expect(notificationsFor(null, s1)).toEqual([]);
    const run = startRun(policy, A, at(0));
    expect(notificationsFor(s1, run)).toEqual([]);
  });

  it('notifies Failed once per (follower, run): each failed attempt is its own run, Blocked is new', () => {
    const f1 = close(startRun(policy, A, at(0)), checks, { trigger: 'FAILURE' }, policy, at(60)).state;
    expect(notificationsFor(null, f1).map((n) => [n.phase, n.sha, n.attempt])).toEqual([['Failed', A, 1]]);
    const run2 = startRun(policy, A, at(100), f1);
    const f2 = close(run2, checks, { trigger: 'FAILURE' }, policy, at(160)).state;
    expect(f2.phase).toBe('Failed');
    expect(notificationsFor(run2, f2).map((n) => [n.phase, n.attempt, n.idempotencyKey])).toEqual([['Failed', 2, `${run2.inFlight.name}/Failed`]]);
    expect(notificationsFor(f2, f2)).toEqual([]);
    const run3 = startRun(policy, A, at(200), f2);
    const blocked = close(run3, checks, { trigger: 'FAILURE' }, policy, at(260)).state;
    expect(notificationsFor(run3, blocked).map((n) => [n.phase, n.sha, n.attempt])).toEqual([['Blocked', A, 3]]);
    // Another sha failing is news again.
    const runB = startRun(policy, B, at(300), blocked);
    const fB = close(runB, checks, { trigger: 'FAILURE' }, policy, at(360)).state;
    expect(notificationsFor(runB, fB).map((n) => [n.phase, n.sha])).toEqual([['Failed', B]]);
  });

  it('a rollback is a new run: its Succeeded is announced again, under a key of its own', () => {
    const full = { trigger: 'SUCCESS', target: 'SUCCESS' } as const;
    const runA = startRun(policy, A, at(0));
    const aDone = close(runA, checks, full, policy, at(60)).state;
    const bDone = close(startRun(policy, B, at(120), aDone, A), checks, full, policy, at(180)).state;
    const runA2 = startRun(policy, A, at(240), bDone, B);
    expect(runA2.inFlight.name).not.toBe(runA.inFlight.name);
    const a2Done = close(runA2, checks, full, policy, at(300)).state;
    const notes = notificationsFor(runA2, a2Done);
    expect(notes.map((n) => [n.phase, n.sha, n.idempotencyKey])).toEqual([['Succeeded', A, `${runA2.inFlight.name}/Succeeded`]]);
    expect(a2Done.history.filter((t) => t.to === 'Succeeded' && t.sha === A)).toHaveLength(2);
  });

  it('a Blocked about no run is keyed by the visit of its sha: repeated within it is silent, a later visit is news', () => {
    const missing = { source: { kind: 'missing', repo: 'pikasTech/unidesk', branch: 'master' }, target: { kind: 'ok', sha: A } } as const;
    const noop = observe(null, obs(A, A), ARMED, policy, at(0)).state;
    const b1 = observe(noop, missing, ARMED, policy, at(60)).state;
    expect(notificationsFor(noop, b1).map((n) => n.idempotencyKey)).toEqual([`${SENTINEL}/${A}-e1/Blocked`]);
    const back = observe(b1, obs(A, A), ARMED, policy, at(120)).state;
    const b2 = observe(back, missing, ARMED, policy, at(180)).state;
    expect(b2.phase).toBe('Blocked');
    expect(notificationsFor(back, b2)).toEqual([]);
    const moved = observe(observe(b2, obs(B, B), ARMED, policy, at(240)).state, obs(A, A), ARMED, policy, at(300)).state;
    expect(moved.episode).toBe(3);
    expect(notificationsFor(moved, observe(moved, missing, ARMED, policy, at(360)).state).map((n) => n.idempotencyKey)).toEqual([`${SENTINEL}/${A}-e3/Blocked`]);
  });

  it('transitions stored before episodes count as episode 1, as their states do, so an upgrade repeats nothing', () => {
    const legacy = { at: toIso(at(0)), from: 'Triggering', to: 'Blocked', sha: A, attempt: 2, reason: 'attempts exhausted' } as const;
    expect(idempotencyKey(SENTINEL, legacy)).toBe(`${SENTINEL}/${A}-e1/Blocked`);
    expect(idempotencyKey(SENTINEL, { ...legacy, episode: 1, run: 'bf-x-a2' })).toBe(idempotencyKey(SENTINEL, legacy));
  });

  it('a visit Blocked by the closer and again by the observer (after the target read again) is announced once', () => {
    const one: Policy = { ...policy, budgets: { ...policy.budgets, maxAttempts: 1 } };
    const run = startRun(one, A, at(0));
    const blocked = close(run, checks, { trigger: 'FAILURE' }, one, at(60)).state;
    expect(notificationsFor(run, blocked).map((n) => n.idempotencyKey)).toEqual([`${SENTINEL}/${A}-e1/Blocked`]);
    const observed = observe(blocked, { source: { kind: 'ok', sha: A }, target: { kind: 'unreadable', message: 'forbidden' } }, ARMED, one, at(120)).state;
    expect(observed.phase).toBe('Observed');
    const again = observe(observed, obs(A, null), ARMED, one, at(180)).state;
    expect(again.phase).toBe('Blocked');
    expect(notificationsFor(observed, again)).toEqual([]);
  });

  it('a first write of a Blocked state notifies', () => {
    const s = observe(null, { source: { kind: 'missing', repo: 'pikasTech/unidesk', branch: 'master' }, target: { kind: 'ok', sha: null } }, ARMED, policy, at(0)).state;
    expect(notificationsFor(null, s)).toMatchObject([{ id: SENTINEL, phase: 'Blocked', sha: null }]);
  });

  it('over any write, notifies only appended Succeeded/Failed/Blocked entries, never a (run, phase) history already holds', () => {
    fc.assert(
      fc.property(timeArb.chain((t) => fc.tuple(followerStateArb(t), fc.array(phaseArb, { maxLength: 6 }), fc.constant(t))), ([s, phases, t]) => {
        let next = s;
        phases.forEach((p, i) => (next = transition(next, p, `step ${i}`, t + i + 1)));
        const notes = notificationsFor(s, next);
        const keys = notes.map((n) => n.idempotencyKey);
        expect(new Set(keys).size).toBe(keys.length);
        const before = new Set(s.history.map((h) => idempotencyKey(s.id, h)));
        for (const n of notes) {
          expect(['Succeeded', 'Failed', 'Blocked']).toContain(n.phase);
          expect(n.idempotencyKey.endsWith(`/${n.phase}`)).toBe(true);
          expect(before.has(n.idempotencyKey)).toBe(false);
          expect(n.id).toBe(s.id);
        }
        // And all of them are owed once more nowhere: writing the result again notifies nothing.
        expect(notificationsFor(next, next)).toEqual([]);
      }),
      fcParams(),
    );
  });
});
