// retry's grant, as properties: one grant is one extra attempt in the current episode (invariant
// 2 with a person's grant counted), the grant is a recorded transition, disarmed still means no
// dispatch (invariant 1), and a refused grant changes nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { observe, type Observation } from '../../src/core/observe.ts';
import { PHASES } from '../../src/core/phases.ts';
import { grantRetry } from '../../src/core/retry.ts';
import { attemptsFor, initialState, withAttempts, type FollowerState } from '../../src/core/state.ts';
import { fcParams, followerIdArb, gateArb, policyArb, shaArb, timeArb } from '../support/arbitraries.ts';
import { ARMED } from './fixtures.ts';
import { expectValidStep } from './helpers.ts';

const WHO = { by: 'alice@host', reason: 'cause fixed' };

/** A follower Blocked on `sha` with every attempt of its episode (and `granted` grants) used. */
const exhausted = (id: string, sha: string, episode: number, max: number, granted: number, now: number): FollowerState => {
  const s: FollowerState = { ...initialState(id, now), phase: 'Blocked', reason: 'attempts exhausted', observedSha: sha, episode };
  return { ...s, attempts: withAttempts(s, sha, episode, max + granted, granted) };
};

const sameSha = (sha: string): Observation => ({ source: { kind: 'ok', sha }, target: { kind: 'ok', sha: null } });

const caseArb = fc.record({ id: followerIdArb, sha: shaArb, episode: fc.integer({ min: 1, max: 50 }), granted: fc.integer({ min: 0, max: 3 }), now: timeArb }).chain((c) =>
  policyArb(c.id).map((policy) => ({ ...c, policy })),
);

describe('grantRetry', () => {
  it('one grant is exactly one more attempt at the same sha and episode, recorded as Blocked -> Observed with who and why', () => {
    fc.assert(
      fc.property(caseArb, ({ id, sha, episode, granted, now, policy }) => {
        const max = policy.budgets.maxAttempts;
        const s = exhausted(id, sha, episode, max, granted, now);
        // Without a grant the observer keeps it Blocked and dispatches nothing.
        expect(observe(s, sameSha(sha), ARMED, policy, now + 1000).effects).toEqual([]);
        const g = grantRetry(s, policy, WHO, now + 1000);
        expect(g.kind).toBe('granted');
        if (g.kind !== 'granted') return;
        expect(g.attempt).toBe(max + granted + 1);
        expectValidStep(s, g.state);
        expect(g.state.history.at(-1)).toMatchObject({ from: 'Blocked', to: 'Observed', sha, attempt: g.attempt });
        expect(g.state.reason).toContain('retry granted by alice@host: cause fixed');
        const next = observe(g.state, sameSha(sha), ARMED, policy, now + 2000);
        expect(next.effects).toEqual([expect.objectContaining({ kind: 'dispatch', sha, episode, attempt: g.attempt })]);
        // A second grant before the attempt ran is refused: a grant is one attempt, not a tally.
        expect(grantRetry(next.state, policy, WHO, now + 2000).kind).toBe('refused');
        // Once that attempt is used up the follower is Blocked again, with no further dispatch.
        const used: FollowerState = { ...g.state, phase: 'Blocked', attempts: withAttempts(g.state, sha, episode, g.attempt) };
        expect(attemptsFor(used, sha, episode)).toBe(g.attempt);
        expect(observe(used, sameSha(sha), ARMED, policy, now + 3000).effects).toEqual([]);
      }),
      fcParams(300),
    );
  });

  it('disarmed, a granted attempt is still not dispatched', () => {
    fc.assert(
      fc.property(caseArb.chain((c) => gateArb(c.id, 'disarmed').map((gate) => ({ ...c, gate }))), ({ id, sha, episode, granted, now, policy, gate }) => {
        const g = grantRetry(exhausted(id, sha, episode, policy.budgets.maxAttempts, granted, now), policy, WHO, now);
        expect(g.kind).toBe('granted');
        if (g.kind === 'granted') expect(observe(g.state, sameSha(sha), gate, policy, now + 1000).effects).toEqual([]);
      }),
      fcParams(300),
    );
  });

  it('refuses what another attempt cannot cure, and a refusal changes nothing', () => {
    fc.assert(
      fc.property(caseArb, fc.constantFrom(...PHASES), fc.integer({ min: 1, max: 3 }), ({ id, sha, episode, granted, now, policy }, phase, short) => {
        const max = policy.budgets.maxAttempts;
        // Blocked with attempts left (a missing branch, a broken configRef), or not Blocked at all.
        const left = exhausted(id, sha, episode, max, granted, now);
        const withLeft = { ...left, attempts: withAttempts(left, sha, episode, Math.max(0, max + granted - short), granted) };
        expect(grantRetry(withLeft, policy, WHO, now)).toMatchObject({ kind: 'refused' });
        if (phase !== 'Blocked' && phase !== 'PendingTrigger' && phase !== 'Triggering' && phase !== 'ClosingOut') {
          expect(grantRetry({ ...left, phase }, policy, WHO, now)).toMatchObject({ kind: 'refused', why: expect.stringContaining(`it is ${phase}, not Blocked`) });
        }
        expect(grantRetry(null, policy, WHO, now).kind).toBe('refused');
      }),
      fcParams(300),
    );
  });
});
