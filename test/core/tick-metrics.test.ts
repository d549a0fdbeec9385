// The tick metrics core: a summary always fits a termination message and keeps what matters;
// totals only ever grow, count a summary once however often it is read, and do not depend on the
// order summaries are folded in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COUNTED_IDS_KEPT,
  decodeSummary,
  EMPTY_TICK_TOTALS,
  encodeSummary,
  foldTick,
  READ_OUTCOMES,
  summarizeTick,
  TERMINATION_MESSAGE_MAX_BYTES,
  TICK_LOOPS,
  TICK_OUTCOMES,
  tickMetrics,
  tickOutcomeOf,
  TickSummary,
  TickTotals,
  type RepoRead,
} from '../../src/core/tick-metrics.ts';
import { fcParams, T0 } from '../support/arbitraries.ts';

const segment = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCZ0189_.-'.split('')), minLength: 1, maxLength: 40 })
  .filter((s) => s !== '.' && s !== '..');
const repoArb = fc.oneof(fc.constantFrom('infra/homelab', 'apps/web', 'apps/api'), fc.tuple(segment, segment).map(([o, n]) => `${o}/${n}`));
const readArb: fc.Arbitrary<RepoRead> = fc
  .tuple(repoArb, fc.constantFrom(...READ_OUTCOMES), fc.double({ min: 0, max: 300, noNaN: true }))
  .map(([repo, outcome, s]) => [repo, outcome, outcome === 'held' ? null : Math.round(s * 1000) / 1000]);
const summaryArb = (maxReads = 300): fc.Arbitrary<TickSummary> =>
  fc.record({
    v: fc.constant(1 as const),
    loop: fc.constantFrom(...TICK_LOOPS),
    outcome: fc.constantFrom(...TICK_OUTCOMES),
    at: fc.integer({ min: T0, max: T0 + 40 * 24 * 3600 * 1000 }),
    seconds: fc.double({ min: 0, max: 400, noNaN: true }).map((s) => Math.round(s * 1000) / 1000),
    reads: fc.uniqueArray(readArb, { selector: (r) => r[0], maxLength: maxReads }),
    dropped: fc.constant(0),
  });

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('a tick summary as a termination message', () => {
  it('always fits 4096 bytes, reads back, and keeps every failed read before any quick ok one', () => {
    fc.assert(
      fc.property(summaryArb(), (s) => {
        const text = encodeSummary(s);
        expect(byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_MAX_BYTES);
        const back = decodeSummary(text);
        expect(back).not.toBeNull();
        if (!back) return;
        expect({ ...back, reads: [], dropped: 0 }).toEqual({ ...s, reads: [], dropped: 0 });
        expect(back.reads.length + back.dropped).toBe(s.reads.length);
        for (const r of back.reads) expect(s.reads).toContainEqual(r);
        if (byteLength(JSON.stringify(s)) <= TERMINATION_MESSAGE_MAX_BYTES) expect(back).toEqual(s);
        // A dropped read is never a failure while a kept one is ok, and never slower than a kept ok one.
        const kept = new Set(back.reads.map((r) => r[0]));
        const dropped = s.reads.filter((r) => !kept.has(r[0]));
        const keptOk = back.reads.filter((r) => r[1] === 'ok');
        if (keptOk.length > 0) expect(dropped.every((r) => r[1] === 'ok')).toBe(true);
        for (const d of dropped) if (d[1] === 'ok') for (const k of keptOk) expect(d[2] ?? 0).toBeLessThanOrEqual(k[2] ?? 0);
      }),
      fcParams(300),
    );
  });

  it('anything that is not a summary reads as none', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), summaryArb(3).map((s) => encodeSummary(s).slice(0, -1))), (text) => {
        const r = decodeSummary(text);
        if (r !== null) expect(TickSummary.safeParse(r).success).toBe(true);
      }),
      fcParams(),
    );
    expect(decodeSummary('{"v":1,"loop":"observer"}')).toBeNull();
    expect(decodeSummary('Error: connect ECONNREFUSED')).toBeNull();
  });
});

const sumTicks = (t: TickTotals): number => TICK_LOOPS.reduce((n, l) => n + Object.values(t.loops[l].ticks).reduce((a, b) => a + b, 0), 0);

/** Every counter of `a` is ≤ the same counter of `b` (repositories forgotten in `b` excepted). */
const grows = (a: TickTotals, b: TickTotals): void => {
  for (const l of TICK_LOOPS) {
    for (const o of TICK_OUTCOMES) expect(b.loops[l].ticks[o]).toBeGreaterThanOrEqual(a.loops[l].ticks[o]);
    a.loops[l].duration.buckets.forEach((n, i) => expect(b.loops[l].duration.buckets[i]).toBeGreaterThanOrEqual(n));
    expect(b.loops[l].duration.sumSeconds).toBeGreaterThanOrEqual(a.loops[l].duration.sumSeconds);
  }
  for (const [repo, r] of Object.entries(a.repos)) {
    const after = b.repos[repo];
    if (after) for (const o of READ_OUTCOMES) expect(after.reads[o]).toBeGreaterThanOrEqual(r.reads[o]);
  }
  expect(b.unreadable).toBeGreaterThanOrEqual(a.unreadable);
};

const idsArb = fc.uniqueArray(fc.uuid(), { minLength: 0, maxLength: 12 });

describe('tick totals', () => {
  it('only grow, by exactly one tick per new summary, and stay valid', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.option(summaryArb(8), { nil: null }), fc.option(fc.uuid(), { nil: null })), { maxLength: 20 }), (steps) => {
        let t = EMPTY_TICK_TOTALS;
        for (const [s, id] of steps) {
          const next = foldTick(t, s, id);
          grows(t, next);
          const seen = id !== null && t.counted.includes(id);
          expect(sumTicks(next) - sumTicks(t)).toBe(seen || s === null ? 0 : 1);
          expect(next.unreadable - t.unreadable).toBe(!seen && s === null ? 1 : 0);
          expect(TickTotals.safeParse(next).success).toBe(true);
          t = next;
        }
      }),
      fcParams(),
    );
  });

  it('count a summary once however often it is folded in, and not depend on the order', () => {
    fc.assert(
      fc.property(
        idsArb.chain((ids) => fc.tuple(fc.constant(ids), fc.array(summaryArb(4), { minLength: ids.length, maxLength: ids.length }))),
        fc.infiniteStream(fc.nat()),
        ([ids, summaries], picks) => {
          const once = ids.reduce((t, id, i) => foldTick(t, summaries[i] ?? null, id), EMPTY_TICK_TOTALS);
          // Each summary folded in again and again, in a shuffled order (as `serve` lists pods).
          const order = ids.map((_, i) => i);
          const it = picks[Symbol.iterator]();
          for (let i = order.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1);
            [order[i], order[j]] = [order[j] as number, order[i] as number];
          }
          const again = [...order, ...order].reduce((t, i) => foldTick(t, summaries[i] ?? null, ids[i] ?? null), EMPTY_TICK_TOTALS);
          expect(again.loops).toEqual(once.loops);
          for (const l of TICK_LOOPS) expect(again.loops[l].duration.count).toBe(summaries.filter((s) => s.loop === l).length);
          expect(Object.fromEntries(Object.entries(again.repos).map(([k, v]) => [k, v.reads]))).toEqual(
            Object.fromEntries(Object.entries(once.repos).map(([k, v]) => [k, v.reads])),
          );
          // The last read of a repository is from the latest summary that read it, whatever the order.
          for (const [repo, r] of Object.entries(again.repos)) {
            const latest = Math.max(...summaries.filter((s) => s.reads.some((x) => x[0] === repo)).map((s) => s.at));
            expect(r.last.at).toBe(latest);
          }
        },
      ),
      fcParams(300),
    );
  });

  it('remember the last 512 ids, not more', () => {
    let t = EMPTY_TICK_TOTALS;
    const s = summarizeTick({ loop: 'closer', at: T0, seconds: 0.2, threw: false, corrupt: false, followerError: false, stoppedAtDeadline: false, mirrorUnreadable: false, blocked: false, reads: [] });
    for (let i = 0; i < COUNTED_IDS_KEPT + 10; i++) t = foldTick(t, s, `pod-${i}`);
    expect(t.counted).toHaveLength(COUNTED_IDS_KEPT);
    expect(t.counted[0]).toBe('pod-10');
    expect(t.loops.closer.ticks.ok).toBe(COUNTED_IDS_KEPT + 10);
  });
});

describe('the outcome of a tick', () => {
  it('is its worst fact', () => {
    const flags = ['threw', 'corrupt', 'followerError', 'stoppedAtDeadline', 'mirrorUnreadable', 'blocked'] as const;
    const outcome = ['error', 'corrupt-state', 'follower-error', 'deadline', 'mirror-unreadable', 'blocked'] as const;
    fc.assert(
      fc.property(fc.tuple(...flags.map(() => fc.boolean())), (bits) => {
        const facts = Object.fromEntries(flags.map((f, i) => [f, bits[i] as boolean])) as Record<(typeof flags)[number], boolean>;
        const first = bits.indexOf(true);
        expect(tickOutcomeOf(facts)).toBe(first === -1 ? 'ok' : outcome[first]);
      }),
    );
  });
});

describe('tick metric families', () => {
  it('carry every loop and outcome, and only the registry\'s repositories', () => {
    fc.assert(
      fc.property(fc.array(summaryArb(6), { maxLength: 8 }), fc.uniqueArray(repoArb, { maxLength: 5 }), (summaries, registry) => {
        const t = summaries.reduce((acc, s) => foldTick(acc, s, null), EMPTY_TICK_TOTALS);
        const families = tickMetrics(t, registry);
        const ticks = families.find((f) => f.name === 'branch_follower_ticks_total');
        expect(ticks?.type === 'counter' && ticks.samples.length).toBe(TICK_LOOPS.length * TICK_OUTCOMES.length);
        if (ticks?.type === 'counter') expect(ticks.samples.reduce((n, s) => n + s.value, 0)).toBe(summaries.length);
        for (const f of families) {
          const labels = f.type === 'histogram' ? f.series.map((s) => s.labels) : f.samples.map((s) => s.labels);
          for (const l of labels) if ('repository' in l) expect(registry).toContain(l.repository);
        }
        const reads = families.find((f) => f.name === 'branch_follower_repository_reads_total');
        for (const repo of registry) {
          const expected = summaries.reduce((n, s) => n + s.reads.filter((r) => r[0] === repo).length, 0);
          const got = reads?.type === 'counter' ? reads.samples.filter((s) => s.labels.repository === repo).reduce((n, s) => n + s.value, 0) : -1;
          expect(got).toBe(expected);
        }
      }),
      fcParams(300),
    );
  });
});
