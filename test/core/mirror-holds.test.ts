// Mirror back-pressure holds: a repository held until a time is never read before it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activeHolds, MAX_HOLD_SECONDS, MirrorHolds, NO_HOLDS, nextHolds, type FreshHold } from '../../src/core/mirror-holds.ts';
import { observe } from '../../src/core/observe.ts';
import { fromIso, toIso } from '../../src/core/primitives.ts';
import { observeInputArb, T0 } from '../support/arbitraries.ts';

const repoArb = fc.constantFrom('acme/app', 'acme/lib', 'pikasTech/HWLAB', 'x/y');
const freshArb = (now: number): fc.Arbitrary<FreshHold[]> =>
  fc.array(
    fc.record({ repo: repoArb, until: fc.integer({ min: now - 60_000, max: now + 3 * 86_400_000 }).map(toIso), reason: fc.constant('HTTP 429') }),
    { maxLength: 4 },
  );

describe('mirror holds', () => {
  it('property: across any sequence of ticks, a held repository stays held until its time, and only until the latest time asked (capped)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 7200_000 }), fc.nat()), { minLength: 1, maxLength: 8 }), fc.infiniteStream(freshArb(T0)), (steps, stream) => {
        let holds: MirrorHolds = NO_HOLDS;
        let now = T0;
        /** The latest `until` each repository was asked for, capped as the core caps it. */
        const asked = new Map<string, number>();
        const it = stream[Symbol.iterator]();
        for (const [dt] of steps) {
          now += dt;
          const fresh = (it.next().value as FreshHold[]).map((f) => ({ ...f, until: toIso(fromIso(f.until) + (now - T0)) }));
          for (const f of fresh) {
            const u = Math.min(fromIso(f.until), now + MAX_HOLD_SECONDS * 1000);
            if (u > now) asked.set(f.repo, Math.max(asked.get(f.repo) ?? 0, u));
          }
          holds = nextHolds(holds, fresh, now) ?? holds;
          expect(MirrorHolds.safeParse(holds).success).toBe(true);
          const active = activeHolds(holds, now);
          for (const [repo, until] of asked) {
            if (until > now) expect(fromIso(active.get(repo)?.until ?? toIso(0)), repo).toBe(until);
            else expect(active.has(repo), repo).toBe(false);
          }
          for (const repo of active.keys()) expect(asked.has(repo)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('writes nothing when nothing changed, and drops expired holds', () => {
    const now = T0;
    const one = nextHolds(NO_HOLDS, [{ repo: 'acme/app', until: toIso(now + 60_000), reason: 'HTTP 429' }], now)!;
    expect(nextHolds(one, [], now + 1000)).toBeNull();
    expect(nextHolds(one, [{ repo: 'acme/app', until: toIso(now + 30_000), reason: 'HTTP 429' }], now)).toBeNull();
    expect(nextHolds(one, [], now + 60_000)).toEqual(NO_HOLDS);
  });

  it('property: a throttled source leaves a settled follower in its phase, naming the time, and never dispatches', () => {
    fc.assert(
      fc.property(observeInputArb(), ({ prev, obs, gate, policy, now }) => {
        fc.pre(obs.source.kind === 'throttled');
        const r = observe(prev, obs, gate, policy, now);
        expect(r.effects.filter((e) => e.kind === 'dispatch')).toEqual([]);
        if (!r.state.inFlight && !r.state.pending && obs.source.kind === 'throttled') {
          // A held mirror decides nothing: a Succeeded follower stays Succeeded (and so keeps
          // its succeeded sha from being redeployed), a Blocked one Blocked.
          const was = prev === null || prev.phase === 'PendingTrigger' ? 'Observed' : prev.phase;
          if (!prev?.pending && !prev?.inFlight) expect(r.state.phase).toBe(was);
          expect(r.state.reason).toContain(`not read again before ${obs.source.until}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
