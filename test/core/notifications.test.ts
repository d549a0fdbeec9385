// Events and notifications derive from the transitions a write appended: each once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newTransitions, notificationsFor } from '../../src/core/notifications.ts';
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
    expect(notificationsFor(run, done)).toEqual([{ id: SENTINEL, phase: 'Succeeded', sha: A, attempt: 1, reason: done.reason, at: toIso(at(60)) }]);
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

  it('notifies Failed once per (follower, sha): a second failure of the same sha is silent, Blocked is new', () => {
    const f1 = close(startRun(policy, A, at(0)), checks, { trigger: 'FAILURE' }, policy, at(60)).state;
    expect(notificationsFor(null, f1).map((n) => [n.phase, n.sha, n.attempt])).toEqual([['Failed', A, 1]]);
    const run2 = startRun(policy, A, at(100), f1);
    const f2 = close(run2, checks, { trigger: 'FAILURE' }, policy, at(160)).state;
    expect(f2.phase).toBe('Failed');
    expect(notificationsFor(run2, f2)).toEqual([]);
    const run3 = startRun(policy, A, at(200), f2);
    const blocked = close(run3, checks, { trigger: 'FAILURE' }, policy, at(260)).state;
    expect(notificationsFor(run3, blocked).map((n) => [n.phase, n.sha, n.attempt])).toEqual([['Blocked', A, 3]]);
    // Another sha failing is news again.
    const runB = startRun(policy, B, at(300), blocked);
    const fB = close(runB, checks, { trigger: 'FAILURE' }, policy, at(360)).state;
    expect(notificationsFor(runB, fB).map((n) => [n.phase, n.sha])).toEqual([['Failed', B]]);
  });

  it('a first write of a Blocked state notifies', () => {
    const s = observe(null, { source: { kind: 'missing', repo: 'pikasTech/unidesk', branch: 'master' }, target: { kind: 'ok', sha: null } }, ARMED, policy, at(0)).state;
    expect(notificationsFor(null, s)).toMatchObject([{ id: SENTINEL, phase: 'Blocked', sha: null }]);
  });

  it('over any write, notifies only appended Succeeded/Failed/Blocked entries, never a (phase, sha) history already holds', () => {
    fc.assert(
      fc.property(timeArb.chain((t) => fc.tuple(followerStateArb(t), fc.array(phaseArb, { maxLength: 6 }), fc.constant(t))), ([s, phases, t]) => {
        let next = s;
        phases.forEach((p, i) => (next = transition(next, p, `step ${i}`, t + i + 1)));
        const notes = notificationsFor(s, next);
        const keys = notes.map((n) => `${n.phase}/${n.sha}`);
        expect(new Set(keys).size).toBe(keys.length);
        const before = new Set(s.history.map((h) => `${h.to}/${h.sha}`));
        for (const n of notes) {
          expect(['Succeeded', 'Failed', 'Blocked']).toContain(n.phase);
          expect(before.has(`${n.phase}/${n.sha}`)).toBe(false);
          expect(n.id).toBe(s.id);
        }
        // And all of them are owed once more nowhere: writing the result again notifies nothing.
        expect(notificationsFor(next, next)).toEqual([]);
      }),
      fcParams(),
    );
  });
});
