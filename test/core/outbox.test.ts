// The outbox as pure functions: a won write carries what it owes; delivery removes exactly what
// went out; the outbox is bounded and counts what it dropped; keys are stable and distinct;
// states written before the outbox existed still read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newTransitions, notificationsFor } from '../../src/core/notifications.ts';
import { claimLeftovers, dueLeftovers, enqueue, eventKey, OUTBOX_GRACE_SECONDS, owed, withDelivered } from '../../src/core/outbox.ts';
import { observe } from '../../src/core/observe.ts';
import { toIso } from '../../src/core/primitives.ts';
import { FollowerState, initialState, OUTBOX_LIMIT, type OutboxItem } from '../../src/core/state.ts';
import { fcParams, observeInputArb, T0 } from '../support/arbitraries.ts';

const oldItem = (k: number, at = '2025-01-01T00:00:00.000Z'): OutboxItem => ({
  kind: 'event',
  key: `old/${k}`,
  transition: { at, from: 'Observed', to: 'Noop', sha: null, attempt: null, reason: 'old' },
});

/** A write of observe(): the state before (with leftovers in its outbox, maybe) and after. */
const writeArb = observeInputArb().chain((i) =>
  fc.nat({ max: OUTBOX_LIMIT + 5 }).map((leftover) => {
    const prev = i.prev;
    const r = observe(prev, i.obs, i.gate, i.policy, i.now);
    const junk = Array.from({ length: prev ? leftover : 0 }, (_, k) => oldItem(k));
    const withLeft = (s: FollowerState): FollowerState => (junk.length ? { ...s, outbox: { items: junk.slice(-OUTBOX_LIMIT), dropped: Math.max(0, junk.length - OUTBOX_LIMIT) } } : s);
    return { prev: prev ? withLeft(prev) : null, next: prev ? withLeft(r.state) : r.state };
  }),
);

describe('the outbox', () => {
  it('a write carries an event for every transition it appends and a notification for every one it owes; past the limit the oldest go, counted', () => {
    fc.assert(
      fc.property(writeArb, ({ prev, next }) => {
        const { state: out, fresh } = enqueue(prev, next);
        expect(FollowerState.safeParse(out).success).toBe(true);
        const want = [...newTransitions(prev, next).map((t) => eventKey(next.id, t)), ...notificationsFor(prev, next).map((n) => n.idempotencyKey)];
        expect(owed(prev, next).map((i) => i.key)).toEqual(want);
        const keys = out.outbox?.items.map((i) => i.key) ?? [];
        const before = next.outbox?.items.length ?? 0;
        const dropped = (out.outbox?.dropped ?? 0) - (next.outbox?.dropped ?? 0);
        expect(dropped).toBe(Math.max(0, before + want.length - OUTBOX_LIMIT));
        expect(keys.length).toBeLessThanOrEqual(OUTBOX_LIMIT);
        // Nothing owed is lost silently: it is in the outbox, or counted as dropped.
        expect(want.filter((k) => !keys.includes(k)).length).toBeLessThanOrEqual(dropped);
        // The newest are kept, and the writer delivers exactly those it added.
        if (want.length > 0 && want.length <= OUTBOX_LIMIT) expect(keys.slice(-want.length)).toEqual(want);
        expect(fresh).toEqual(want.filter((k) => keys.includes(k)));
        if (want.length === 0) expect(out).toBe(next);
      }),
      fcParams(),
    );
  });

  it('removes exactly the delivered items, and the outbox itself once nothing is left or dropped', () => {
    fc.assert(
      fc.property(writeArb, fc.double({ min: 0, max: 1, noNaN: true }), ({ prev, next }, share) => {
        const s = enqueue(prev, next).state;
        const items = s.outbox?.items ?? [];
        const delivered = new Set(items.filter((_, i) => i < items.length * share).map((i) => i.key));
        const after = withDelivered(s, delivered);
        expect(after.outbox?.items.map((i) => i.key) ?? []).toEqual(items.map((i) => i.key).filter((k) => !delivered.has(k)));
        if (after.outbox === undefined) expect((s.outbox?.dropped ?? 0) === 0 && items.every((i) => delivered.has(i.key))).toBe(true);
        expect(withDelivered(after, delivered)).toBe(after);
        expect(FollowerState.safeParse(after).success).toBe(true);
      }),
      fcParams(),
    );
  });

  it('keys are the same for the same transition and differ between the transitions of a history', () => {
    fc.assert(
      fc.property(writeArb, ({ next }) => {
        const keys = next.history.map((t) => eventKey(next.id, t));
        expect(new Set(keys).size).toBe(keys.length);
        expect(next.history.map((t) => eventKey(next.id, structuredClone(t)))).toEqual(keys);
      }),
      fcParams(),
    );
  });

  it('leaves an item to its writer for the grace, then any tick delivers it', () => {
    const s = { ...initialState('web', T0), outbox: { items: [oldItem(1, toIso(T0))], dropped: 0 } };
    expect(dueLeftovers(s, T0 + OUTBOX_GRACE_SECONDS * 1000 - 1)).toEqual([]);
    const due = T0 + OUTBOX_GRACE_SECONDS * 1000;
    expect(dueLeftovers(s, due).map((i) => i.key)).toEqual(['old/1']);
    // A tick that claims it holds it for the grace again: a racing tick leaves it alone.
    const claimed = claimLeftovers(s, due);
    expect(claimed?.keys).toEqual(['old/1']);
    expect(FollowerState.safeParse(claimed?.state).success).toBe(true);
    expect(claimLeftovers(claimed?.state ?? s, due + 1)).toBeNull();
    expect(dueLeftovers(claimed?.state ?? s, due + OUTBOX_GRACE_SECONDS * 1000).map((i) => i.key)).toEqual(['old/1']);
  });

  it('a state written before the outbox existed reads, without one', () => {
    const { outbox: _none, ...before } = initialState('web', T0);
    const r = FollowerState.safeParse(JSON.parse(JSON.stringify(before)));
    expect(r.success).toBe(true);
    expect(r.data?.outbox).toBeUndefined();
  });

  it('a full outbox stays far below the 1 MiB a ConfigMap holds', () => {
    const reason = 'x'.repeat(2000);
    const run = `bf-${'a'.repeat(40)}-${'b'.repeat(12)}-a9`.slice(0, 63);
    const t = (k: number) => ({ at: toIso(T0 + k), from: 'ClosingOut' as const, to: 'Failed' as const, sha: 'c'.repeat(64), attempt: 9, reason, episode: 9, run });
    const items: OutboxItem[] = Array.from({ length: OUTBOX_LIMIT }, (_, k) =>
      k % 2 ? { kind: 'event', key: eventKey('a'.repeat(40), t(k)), transition: t(k) } : { kind: 'notification', key: `${run}/Failed${k}`, notification: { id: 'a'.repeat(40), phase: 'Failed', sha: 'c'.repeat(64), attempt: 9, run, idempotencyKey: `${run}/Failed`, reason, at: toIso(T0) } },
    );
    const s = { ...initialState('a'.repeat(40), T0), history: Array.from({ length: 50 }, (_, k) => t(k)), outbox: { items, dropped: 7 } };
    expect(FollowerState.safeParse(s).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(s, null, 2))).toBeLessThan(400 * 1024);
  });
});
