// sameState (what lets stamp() keep an idle follower's state, so an idle tick writes nothing)
// answers exactly what comparing the two states' canonical JSON, updatedAt aside, answers: for
// states the core builds, for copies that share every field, for copies with one field changed,
// added, dropped or renamed, and for copies whose keys come in another order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, initialState, sameState, stamp, type FollowerState } from '../../src/core/state.ts';
import { A, AGENTRUN, at, B, C, HWLAB, policyFor, startRun } from './fixtures.ts';

const byText = (a: FollowerState, b: FollowerState): boolean => canonicalJson({ ...a, updatedAt: '' }) === canonicalJson({ ...b, updatedAt: '' });

/** States as the core makes them: fresh, or with a run in flight (history, tally, attempts). */
const arbState: fc.Arbitrary<FollowerState> = fc
  .record({ id: fc.constantFrom(HWLAB, AGENTRUN), sha: fc.constantFrom(A, B, C), t: fc.integer({ min: 0, max: 100_000 }), run: fc.boolean() })
  .map(({ id, sha, t, run }) => (run ? startRun(policyFor(id), sha, at(t)) : initialState(id, at(t))));

type Edit =
  | { kind: 'share' }
  | { kind: 'set'; key: number; value: unknown }
  | { kind: 'copy-field'; key: number }
  | { kind: 'add'; name: string; value: unknown }
  | { kind: 'drop'; key: number }
  | { kind: 'rename'; key: number; name: string }
  | { kind: 'reorder' };

const arbEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.constant<Edit>({ kind: 'share' }),
  fc.record({ kind: fc.constant('set' as const), key: fc.nat(), value: fc.oneof(fc.jsonValue(), fc.constant(undefined)) }),
  fc.record({ kind: fc.constant('copy-field' as const), key: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), name: fc.constantFrom('extra', 'updatedAt', 'phase', '__proto__'), value: fc.oneof(fc.jsonValue(), fc.constant(undefined)) }),
  fc.record({ kind: fc.constant('drop' as const), key: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), key: fc.nat(), name: fc.constantFrom('extra', 'updatedAt', 'updatedat', 'phase') }),
  fc.constant<Edit>({ kind: 'reorder' }),
);

/** A copy of `s` (a new object, so never `===`) edited one way; keys are defined, never assigned, so "__proto__" stays a key. */
const edited = (s: FollowerState, e: Edit): FollowerState => {
  const entries: [string, unknown][] = Object.entries(s);
  const pick = (n: number): number => n % entries.length;
  switch (e.kind) {
    case 'share':
      break;
    case 'set':
      entries[pick(e.key)]![1] = e.value;
      break;
    case 'copy-field': {
      // The same value as JSON sees it, but another object: only the texts can tell.
      const i = pick(e.key);
      entries[i]![1] = JSON.parse(JSON.stringify(entries[i]![1] ?? null)) as unknown;
      break;
    }
    case 'add':
      entries.push([e.name, e.value]);
      break;
    case 'drop':
      entries.splice(pick(e.key), 1);
      break;
    case 'rename': {
      // As many keys as before, one of them another name (unless it is already there).
      const i = pick(e.key);
      if (!entries.some(([k]) => k === e.name)) entries[i] = [e.name, entries[i]![1]];
      break;
    }
    case 'reorder':
      entries.reverse();
      break;
  }
  return Object.fromEntries(entries) as FollowerState;
};

describe('sameState', () => {
  it('agrees with the canonical JSON texts, updatedAt aside, for any two states the core makes', () => {
    fc.assert(
      fc.property(arbState, arbState, (a, b) => {
        expect(sameState(a, b)).toBe(byText(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with the texts for copies that share fields, change, add, drop or rename one, or reorder them', () => {
    fc.assert(
      fc.property(arbState, fc.array(arbEdit, { minLength: 1, maxLength: 3 }), fc.array(arbEdit, { maxLength: 2 }), (s, edits, before) => {
        // `before` edits both sides alike (an undefined field on each, say), then `edits` one.
        const x = before.reduce(edited, s);
        const t = edits.reduce(edited, x);
        expect(sameState(x, t)).toBe(byText(x, t));
        expect(sameState(t, x)).toBe(byText(t, x));
      }),
      { numRuns: 3000 },
    );
  });

  it('ignores updatedAt', () => {
    fc.assert(
      fc.property(arbState, fc.date({ noInvalidDate: true }), (s, d) => {
        expect(sameState(s, { ...s, updatedAt: d.toISOString() })).toBe(true);
      }),
    );
  });

  it('lets stamp keep the very state it was given when a copy changed nothing', () => {
    fc.assert(
      fc.property(arbState, fc.constantFrom<Edit>({ kind: 'share' }, { kind: 'reorder' }), (s, e) => {
        const copy = edited(s, e);
        // stamp tracks time in the tally; at the state's own time nothing moves.
        expect(stamp(s, copy, Date.parse(s.updatedAt))).toBe(s);
      }),
    );
  });
});
