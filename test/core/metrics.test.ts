// The metric values of `/metrics` from stored states: counters never fall over generated
// histories (force-pushes back to old shas, revisits, retries, crashes, lost CAS races), every
// label value comes from a known set, and a known history gives known values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { followerMetrics, KNOWN_LABEL_VALUES, type FollowerInput, type MetricFamily } from '../../src/core/metrics.ts';
import { dispatched, observe } from '../../src/core/observe.ts';
import { closeRun, nextAction } from '../../src/core/next-action.ts';
import { foldStages } from '../../src/core/fold.ts';
import { PHASES } from '../../src/core/phases.ts';
import type { Policy } from '../../src/core/policy.ts';
import { FollowerState, initialState, type Run } from '../../src/core/state.ts';
import { BLOCKED_KINDS, EMPTY_TALLY, LEAD_TIME_BUCKETS_SECONDS, Tally, countTransition, leadTimeBucket, trackSince } from '../../src/core/tally.ts';
import { fcParams, followerStateArb, phaseArb, SHA_POOL, T0, timeArb } from '../support/arbitraries.ts';
import { rollbackSimArb, simArb, simulate } from './sim.ts';

/** Every counter value and every histogram bucket, count and sum, keyed by family and labels. */
const monotone = (families: readonly MetricFamily[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const f of families) {
    if (f.type === 'counter') for (const s of f.samples) m.set(`${f.name}${JSON.stringify(s.labels)}`, s.value);
    if (f.type === 'histogram')
      for (const s of f.series) {
        const k = `${f.name}${JSON.stringify(s.labels)}`;
        s.cumulative.forEach((c, i) => m.set(`${k}le${i}`, c));
        m.set(`${k}count`, s.count);
        m.set(`${k}sum`, s.sum);
      }
  }
  return m;
};

const input = (state: FollowerState | null, id = state?.id ?? 'x'): FollowerInput => ({ id, state, corrupt: false, armed: true, maxAttempts: 2 });

const labelProblems = (families: readonly MetricFamily[], ids: ReadonlySet<string>): string[] => {
  const bad: string[] = [];
  for (const f of families) {
    const sets = f.type === 'histogram' ? f.series.map((s) => s.labels) : f.samples.map((s) => s.labels);
    for (const labels of sets)
      for (const [k, v] of Object.entries(labels)) {
        if (!f.labelNames.includes(k)) bad.push(`${f.name}: undeclared label ${k}`);
        const known = k === 'follower' ? ids : new Set(KNOWN_LABEL_VALUES[k] ?? []);
        if (!known.has(v)) bad.push(`${f.name}: ${k}=${JSON.stringify(v)} outside its set`);
      }
  }
  return bad;
};

const tallyArb: fc.Arbitrary<Tally> = fc
  .record({
    dispatches: fc.nat(1000),
    succeeded: fc.nat(100),
    failed: fc.nat(100),
    blockedKind: fc.option(fc.constantFrom(...BLOCKED_KINDS), { nil: null }),
    buckets: fc.array(fc.nat(20), { minLength: LEAD_TIME_BUCKETS_SECONDS.length + 1, maxLength: LEAD_TIME_BUCKETS_SECONDS.length + 1 }),
    since: fc.option(timeArb, { nil: null }),
  })
  .map((r) => ({
    ...EMPTY_TALLY,
    dispatches: r.dispatches,
    results: { ...EMPTY_TALLY.results, succeeded: r.succeeded, failed: r.failed },
    blockedKind: r.blockedKind,
    leadTime: { buckets: r.buckets, count: r.buckets.reduce((a, b) => a + b, 0), sumSeconds: r.buckets.reduce((a, b) => a + b, 0) * 60 },
    observedSince: r.since === null ? null : new Date(r.since).toISOString(),
  }));

describe('metrics from stored states', () => {
  it('counters and histograms never fall between two stored states of any history, rollbacks and revisits included', () => {
    let checkedPairs = 0;
    let sawLeadTime = 0;
    for (const arb of [simArb(150), rollbackSimArb(12)]) {
      fc.assert(
        fc.property(arb, ({ cfg, steps }) => {
          const w = simulate(cfg, steps);
          let before = new Map<string, number>();
          for (const [i, s] of w.written.entries()) {
            // The schema accepts what the core stores, tally included.
            expect(FollowerState.safeParse(s).success).toBe(true);
            const now = T0 + i;
            const after = monotone(followerMetrics([input(s)], now));
            for (const [k, v] of before) expect(after.get(k), k).toBeGreaterThanOrEqual(v);
            before = after;
            checkedPairs++;
          }
          const last = w.written.at(-1);
          if (last) {
            // The tally counts what the world saw happen: every Succeeded and Failed run, once.
            expect(last.tally?.results.succeeded ?? 0).toBe(w.stats.succeeded);
            expect(last.tally?.results.failed ?? 0).toBe(w.stats.failed);
            expect(last.tally?.leadTime.count ?? 0).toBe(w.stats.succeeded);
            sawLeadTime += last.tally?.leadTime.count ?? 0;
          }
        }),
        fcParams(200),
      );
    }
    // Not a limit on the core: a floor on the histories, so the property saw something.
    expect(checkedPairs).toBeGreaterThan(1000);
    expect(sawLeadTime).toBeGreaterThan(100);
  });

  it('a phase change only ever adds to the tally, whatever the phases and kind', () => {
    fc.assert(
      fc.property(tallyArb, phaseArb, phaseArb, timeArb, fc.option(fc.constantFrom(...BLOCKED_KINDS), { nil: undefined }), (t, from, to, now, kind) => {
        const before = monotone(followerMetrics([input({ ...bare(), tally: t })], now));
        const after = monotone(followerMetrics([input({ ...bare(), tally: countTransition(t, from, to, now, kind) })], now));
        for (const [k, v] of before) expect(after.get(k)).toBeGreaterThanOrEqual(v);
        expect(Tally.safeParse(countTransition(t, from, to, now, kind)).success).toBe(true);
      }),
      fcParams(),
    );
  });

  it('no label value lies outside its known set, for any stored states, corrupt and missing ones included', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ state: followerStateArb(T0 + 3600_000), tally: fc.option(tallyArb, { nil: undefined }), corrupt: fc.boolean(), missing: fc.boolean() }), { selector: (r) => r.state.id, maxLength: 6 }),
        (rows) => {
          const inputs = rows.map((r) => ({ ...input(r.missing || r.corrupt ? null : { ...r.state, ...(r.tally ? { tally: r.tally } : {}) }, r.state.id), corrupt: r.corrupt }));
          const families = followerMetrics(inputs, T0 + 7200_000);
          expect(labelProblems(families, new Set(rows.map((r) => r.state.id)))).toEqual([]);
          const phase = families.find((f) => f.name === 'branch_follower_phase');
          // One series per phase and follower, exactly one of them 1.
          if (phase?.type !== 'gauge') throw new Error('no phase family');
          expect(phase.samples).toHaveLength(rows.length * PHASES.length);
          for (const r of rows) expect(phase.samples.filter((s) => s.labels['follower'] === r.state.id && s.value === 1)).toHaveLength(1);
          // Never a sha, anywhere in a label.
          expect(JSON.stringify(families.map((f) => (f.type === 'histogram' ? f.series.map((s) => s.labels) : f.samples.map((s) => s.labels))))).not.toMatch(/[0-9a-f]{40}/);
        },
      ),
      fcParams(300),
    );
  });

  it('a lead time falls in the first bucket whose bound it does not exceed', () => {
    expect(leadTimeBucket(0)).toBe(0);
    expect(leadTimeBucket(60)).toBe(0);
    expect(leadTimeBucket(60.001)).toBe(1);
    expect(leadTimeBucket(86400)).toBe(LEAD_TIME_BUCKETS_SECONDS.length - 1);
    expect(leadTimeBucket(86401)).toBe(LEAD_TIME_BUCKETS_SECONDS.length);
  });

  it('trackSince dates the start of each visit and each target change, and forgets the target when none is deployed', () => {
    const a = SHA_POOL[0];
    const b = SHA_POOL[1];
    const t1 = trackSince(undefined, null, { observedSha: a, episode: 1, targetSha: null }, T0);
    expect(t1?.observedSince).toBe(new Date(T0).toISOString());
    const t2 = trackSince(t1, { observedSha: a, episode: 1, targetSha: null }, { observedSha: a, episode: 1, targetSha: b }, T0 + 1000);
    expect([t2?.observedSince, t2?.targetSince]).toEqual([new Date(T0).toISOString(), new Date(T0 + 1000).toISOString()]);
    // Away and back to the same sha: a new visit, dated anew.
    const t3 = trackSince(t2, { observedSha: a, episode: 1, targetSha: b }, { observedSha: a, episode: 3, targetSha: b }, T0 + 5000);
    expect(t3?.observedSince).toBe(new Date(T0 + 5000).toISOString());
    const t4 = trackSince(t3, { observedSha: a, episode: 3, targetSha: b }, { observedSha: a, episode: 3, targetSha: null }, T0 + 6000);
    expect(t4?.targetSince).toBeNull();
    // Nothing moved: the very same tally (so an idle tick writes nothing).
    expect(trackSince(t4, { observedSha: a, episode: 3, targetSha: null }, { observedSha: a, episode: 3, targetSha: null }, T0 + 7000)).toBe(t4);
  });
});

const bare = (): FollowerState => ({ ...initialState('web-main', T0), phase: 'Noop', reason: '' });

describe('metric values of a known history', () => {
  const policy: Policy = { id: 'web-main', budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 }, onSupersede: 'wait', runKind: 'Process' };
  const armed = { armed: true } as const;
  const A = SHA_POOL[0];
  const B = SHA_POOL[1];
  const at = (s: number): number => T0 + s * 1000;

  /** Observe `sha` at `t0`, dispatch, and close the run at `t1` with `result`. */
  const deploy = (prev: FollowerState | null, sha: string, target: string | null, t0: number, t1: number, result: 'SUCCESS' | 'FAILURE'): FollowerState => {
    const o = observe(prev, { source: { kind: 'ok', sha }, target: { kind: 'ok', sha: target } }, armed, policy, at(t0));
    const run = dispatched(o.state, { name: o.state.pending?.name ?? 'none', kind: 'Process', startedAt: new Date(at(t0)).toISOString() }, at(t0));
    const fold = foldStages(['trigger'], () => ({ result, detail: '' }));
    const inFlight = run as FollowerState & { inFlight: Run };
    return closeRun(inFlight, nextAction({ state: inFlight, fold, policy }, at(t1)), fold, at(t1));
  };

  it('counts runs, dispatches, a lead time and a Blocked kind as they happened', () => {
    // A at t=0 succeeds at t=90 (lead time 90 s); B at t=1000 fails twice: Blocked, attempts exhausted.
    let s = deploy(null, A, null, 0, 90, 'SUCCESS');
    s = observe(s, { source: { kind: 'ok', sha: A }, target: { kind: 'ok', sha: A } }, armed, policy, at(100)).state;
    s = deploy(s, B, A, 1000, 1010, 'FAILURE');
    s = deploy(s, B, A, 1020, 1030, 'FAILURE');
    const families = followerMetrics([input(s)], at(2000));
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => {
      const f = families.find((x) => x.name === name);
      if (!f || f.type === 'histogram') return undefined;
      return f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    };
    expect(s.phase).toBe('Blocked');
    expect(value('branch_follower_phase', { phase: 'Blocked' })).toBe(1);
    expect(value('branch_follower_phase', { phase: 'Succeeded' })).toBe(0);
    expect(value('branch_follower_dispatches_total')).toBe(3);
    expect(value('branch_follower_runs_total', { result: 'succeeded' })).toBe(1);
    expect(value('branch_follower_runs_total', { result: 'failed' })).toBe(1);
    expect(value('branch_follower_runs_total', { result: 'blocked' })).toBe(1);
    expect(value('branch_follower_blocked_total', { kind: 'attempts-exhausted' })).toBe(1);
    expect(value('branch_follower_blocked_reason', { kind: 'attempts-exhausted' })).toBe(1);
    expect(value('branch_follower_attempts')).toBe(2);
    expect(value('branch_follower_last_success_timestamp_seconds')).toBe(at(90) / 1000);
    expect(value('branch_follower_succeeded_sha_age_seconds')).toBe(1910);
    expect(value('branch_follower_observed_sha_age_seconds')).toBe(1000);
    const lt = families.find((f) => f.name === 'branch_follower_lead_time_seconds');
    if (lt?.type !== 'histogram') throw new Error('no histogram');
    expect(lt.series[0]).toMatchObject({ count: 1, sum: 90 });
    // 90 s: above the 60 s bound, within 120 s.
    expect(lt.series[0]?.cumulative.slice(0, 3)).toEqual([0, 1, 1]);
  });
});
