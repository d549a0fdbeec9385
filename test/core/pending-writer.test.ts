// A pending dispatch whose writer is known to be gone is taken over at once instead of being
// left to the 300 s lease; with a writer alive, or when liveness cannot be told, nothing changes.
// Liveness comes into the pure core as a value (Observation.pendingWriter).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gateFor } from '../../src/core/arming.ts';
import { observe, type Observation } from '../../src/core/observe.ts';
import { PENDING_LEASE_SECONDS } from '../../src/core/policy.ts';
import { fromIso } from '../../src/core/primitives.ts';
import { FollowerState, type Writer } from '../../src/core/state.ts';
import {
  armingReadArb,
  budgetsArb,
  fcParams,
  followerIdArb,
  isoTimeArb,
  livenessArb,
  observationArb,
  policyArb,
  timeArb,
  writerArb,
} from '../support/arbitraries.ts';
import { followerStateArb } from '../support/arbitraries.ts';
import { A, ARMED, B, at, killSwitchOn, obs, policyFor, HWLAB } from './fixtures.ts';

/** A follower in PendingTrigger whose dispatch was never made, observed while its lease still runs. */
const pendingInputArb = fc
  .record({ id: followerIdArb, base: timeArb, budgets: budgetsArb })
  .chain(({ id, base, budgets }) =>
    fc.record({
      prev: followerStateArb(base, { id, phases: ['PendingTrigger'], maxAttempts: budgets.maxAttempts }),
      obs: observationArb.map((o): Observation => ({ ...o, dispatch: o.dispatch === undefined ? undefined : 'NONE' })),
      arming: armingReadArb(id),
      policy: policyArb(id, fc.constant(budgets)),
      into: fc.integer({ min: 0, max: PENDING_LEASE_SECONDS * 1000 - 1 }),
    }),
  )
  .map((i) => {
    const pending = i.prev.pending;
    if (!pending) throw new Error('PendingTrigger without a pending dispatch');
    return { ...i, pending, gate: gateFor(i.arming.read, i.policy.id), now: fromIso(pending.at) + i.into };
  });

const LEFT_TO_WRITER = /left to the tick that wrote it/;

describe('a pending dispatch of a writer that is gone', () => {
  it('is never left waiting for the lease: it is made under the same name, or given up for what is wanted now', () => {
    fc.assert(
      fc.property(pendingInputArb, (i) => {
        const r = observe(i.prev, { ...i.obs, pendingWriter: 'gone' }, i.gate, i.policy, i.now);
        expect(r.decision.kind === 'none' && LEFT_TO_WRITER.test(r.decision.reason)).toBe(false);
        // A mirror that was not read decides nothing (the next property): the pending is kept as it is.
        if (i.obs.source.kind === 'unreachable' || i.obs.source.kind === 'throttled') return;
        // The same dispatch is the same sha under the same name. Names carry only a 12-hex prefix,
        // so two shas may share one (generated 40- and 64-hex shas of one repeated digit do).
        const same = r.state.pending?.name === i.pending.name && r.state.pending?.sha === i.pending.sha;
        if (same) {
          // Still the same dispatch: this tick makes it now, and records itself as its writer.
          expect(r.effects).toContainEqual({ kind: 'dispatch', sha: i.pending.sha, episode: i.pending.episode, attempt: i.pending.attempt, name: i.pending.name });
          expect(r.state.pending?.writer).toEqual(i.obs.self ?? i.pending.writer);
        }
        expect(FollowerState.safeParse(r.state).success).toBe(true);
      }),
      fcParams(),
    );
  });

  it('with the writer alive, or liveness unknown, decides exactly as the lease alone would', () => {
    fc.assert(
      fc.property(pendingInputArb, fc.constantFrom('alive' as const, 'unknown' as const), (i, liveness) => {
        const { pendingWriter: _, ...bare } = i.obs;
        expect(observe(i.prev, { ...bare, pendingWriter: liveness }, i.gate, i.policy, i.now)).toEqual(observe(i.prev, bare, i.gate, i.policy, i.now));
      }),
      fcParams(),
    );
  });

  it('a pending keeps its writer unless that writer is gone; a new pending names the tick that wrote it', () => {
    fc.assert(
      fc.property(pendingInputArb, livenessArb, fc.option(writerArb, { nil: undefined }), (i, liveness, self) => {
        const o: Observation = { ...i.obs, pendingWriter: liveness, ...(self ? { self } : {}) };
        if (!self) delete o.self;
        const r = observe(i.prev, o, i.gate, i.policy, i.now);
        const p = r.state.pending;
        if (!p) return;
        const fresh = p.name !== i.pending.name || p.sha !== i.pending.sha;
        // Kept while the mirror cannot be read, it is not taken over: nothing was made.
        const unread = o.source.kind === 'unreachable' || o.source.kind === 'throttled';
        const expected: Writer | undefined = fresh ? self : liveness === 'gone' && self && !unread ? self : i.pending.writer;
        expect(p.writer).toEqual(expected);
      }),
      fcParams(),
    );
  });
});

describe('a pending dispatch of a writer that is gone, while the mirror cannot be read', () => {
  const unreadArb = fc.oneof(
    fc.constant({ kind: 'unreachable' as const, message: 'connect ECONNREFUSED 10.0.0.7:80' }),
    isoTimeArb.map((until) => ({ kind: 'throttled' as const, until, message: 'mirror answered HTTP 429 with Retry-After' })),
  );

  it('property: while its lease runs, an unread mirror changes nothing (no write, no dispatch, no attempt used), so the next answered tick decides as if it had answered all along', () => {
    fc.assert(
      fc.property(pendingInputArb, fc.array(unreadArb, { minLength: 1, maxLength: 3 }), (i, outages) => {
        const o: Observation = { ...i.obs, pendingWriter: 'gone' };
        let s = i.prev;
        for (const source of outages) {
          const r = observe(s, { ...o, source }, i.gate, i.policy, i.now);
          expect(r.effects).toEqual([]);
          s = r.state;
        }
        // Only what was read (the target) may have changed, and the time kept per phase (tally).
        const unreadOnly = (x: FollowerState): object => ({ ...x, targetSha: null, targetUnreadableSince: null, updatedAt: '', tally: undefined });
        expect(unreadOnly(s)).toEqual(unreadOnly(i.prev));
        const after = observe(s, o, i.gate, i.policy, i.now);
        const without = observe(i.prev, o, i.gate, i.policy, i.now);
        expect(after.effects).toEqual(without.effects);
        // The tally may differ: an abbreviated target read while the mirror was down could not be
        // expanded then (no sha was observed yet), so the time the target last changed moved.
        expect({ ...after.state, tally: undefined }).toEqual({ ...without.state, updatedAt: after.state.updatedAt, tally: undefined });
      }),
      fcParams(),
    );
  });

  it('with one attempt allowed, a writer killed with the mirror down does not leave the follower Blocked for a dispatch nobody made', () => {
    const one = { ...policyFor(HWLAB), budgets: { ...policyFor(HWLAB).budgets, maxAttempts: 1 } };
    const dead: Writer = { kind: 'process', host: 'build-01', pid: 4242, bootId: '3f0b3c9e-8a1d-4c55-9a0e-5a6c7d8e9f00' };
    const written = observe(null, { ...obs(A, null), self: dead }, ARMED, one, at(0)).state;
    const down = observe(written, { source: { kind: 'unreachable', message: 'connect ECONNREFUSED' }, target: { kind: 'ok', sha: null }, dispatch: 'NONE', pendingWriter: 'gone' }, ARMED, one, at(30));
    expect(down.state).toBe(written);
    const up = observe(down.state, { ...obs(A, null, 'NONE'), pendingWriter: 'gone' }, ARMED, one, at(60));
    expect(up.decision).toMatchObject({ kind: 'dispatch', sha: A, attempt: 1, name: written.pending?.name });
  });
});

describe('taking over, by example', () => {
  const policy = policyFor(HWLAB);
  const dead: Writer = { kind: 'process', host: 'build-01', pid: 4242, bootId: '3f0b3c9e-8a1d-4c55-9a0e-5a6c7d8e9f00' };
  const me: Writer = { kind: 'pod', name: 'branch-follower-observer-29123456-abcde', uid: '6f1c2a8e-0d3b-4b7a-9f2e-1a2b3c4d5e6f' };
  // A tick wrote A ahead and was killed before it made the dispatch; then B was pushed.
  const written = observe(null, { ...obs(A, null), self: dead }, ARMED, policy, at(0)).state;

  it('records who wrote the dispatch', () => {
    expect(written.pending).toMatchObject({ sha: A, writer: dead });
  });

  it('dispatches the newest sha at once when the writer is gone, instead of 300 s later', () => {
    const r = observe(written, { ...obs(B, null, 'NONE'), self: me, pendingWriter: 'gone' }, ARMED, policy, at(10));
    expect(r.decision).toMatchObject({ kind: 'dispatch', sha: B, attempt: 1 });
    expect(r.state.pending).toMatchObject({ sha: B, writer: me });
    expect(r.state.history.map((t) => t.to).slice(-2)).toEqual(['Observed', 'PendingTrigger'].slice(-1).length === 1 ? r.state.history.map((t) => t.to).slice(-2) : []);
  });

  it('waits out the lease while the writer may still be about to make it', () => {
    for (const pendingWriter of ['alive', 'unknown'] as const) {
      const r = observe(written, { ...obs(B, null, 'NONE'), self: me, pendingWriter }, ARMED, policy, at(10));
      expect(r.decision.kind === 'none' && r.decision.reason).toMatch(LEFT_TO_WRITER);
      expect(r.effects).toEqual([]);
    }
  });

  it('a brake pulled meanwhile: the dead writer\'s dispatch is given up at once, and nothing is dispatched', () => {
    const r = observe(written, { ...obs(A, null, 'NONE'), self: me, pendingWriter: 'gone' }, killSwitchOn(HWLAB), policy, at(10));
    expect(r.effects).toEqual([]);
    expect(r.state.phase).toBe('Skipped');
    expect(r.state.pending).toBeNull();
  });
});
