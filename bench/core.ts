// Benchmark 4 (core throughput): how many observe and nextAction decisions per second the pure
// core makes, in process, over generated states shaped like a real cluster's (mostly idle
// followers with a long history, some new commits, some runs in flight), after a warm-up.
import { performance } from 'node:perf_hooks';
import type { Gate } from '../src/core/arming.ts';
import type { Fold, StageReading } from '../src/core/fold.ts';
import { closeRun, nextAction, type RunState } from '../src/core/next-action.ts';
import { observe, type Observation } from '../src/core/observe.ts';
import type { Policy } from '../src/core/policy.ts';
import { toIso } from '../src/core/primitives.ts';
import { runName } from '../src/core/run-name.ts';
import { FollowerState, HISTORY_LIMIT, type Transition } from '../src/core/state.ts';
import { round, summarize } from './lib/stats.ts';

export type Rate = { perSecond: number; usPerOp: number; batches: number[] };
export type CoreResult = {
  inputs: number;
  mix: { observe: Record<string, number>; nextAction: Record<string, number> };
  observe: Rate;
  nextAction: Rate;
  /** nextAction plus closeRun: the closer's whole pure step. */
  closerStep: Rate;
  /** FollowerState.safeParse of a stored state: what each store read costs every follower, for scale. */
  stateParse: Rate;
};

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const POLICY = (id: string): Policy => ({ id, budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 }, onSupersede: 'wait', runKind: 'Job' });
const ARMED: Gate = { armed: true };
const DISARMED: Gate = { armed: false, gate: 'kill-switch', reason: 'disarmed: kill switch is on (by install: ships disabled)' };

/** A small deterministic generator (mulberry32), so every run measures the same inputs. */
const prng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const shaOf = (rand: () => number): string => Array.from({ length: 40 }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');

/** A follower that has lived a while: a history of deploys, bounded as the state bounds it. */
const livedState = (rand: () => number, id: string, sha: string): FollowerState => {
  const length = Math.floor(rand() * (HISTORY_LIMIT + 1));
  const cycle = ['PendingTrigger', 'Triggering', 'ClosingOut', 'Succeeded', 'Noop'] as const;
  const history: Transition[] = Array.from({ length }, (_, i) => ({
    at: toIso(NOW - (length - i) * 3_600_000),
    from: cycle[i % cycle.length] as Transition['from'],
    to: cycle[(i + 1) % cycle.length] as Transition['to'],
    sha: shaOf(rand),
    attempt: 1,
    reason: `target is at ${sha.slice(0, 12)} after the deploy of run ${i}`,
  }));
  return {
    schemaVersion: 1,
    id,
    phase: 'Noop',
    reason: `target is at ${sha.slice(0, 12)}`,
    observedSha: sha,
    targetSha: sha,
    lastTriggeredSha: sha,
    lastSucceededSha: sha,
    pending: null,
    inFlight: null,
    episode: 1,
    attempts: [{ sha, episode: 1, count: 1 }],
    targetUnreadableSince: null,
    checks: [],
    updatedAt: toIso(NOW - 3_600_000),
    history,
  };
};

type ObserveInput = { kind: string; prev: FollowerState | null; obs: Observation; gate: Gate; policy: Policy };

const observeInputs = (count: number): ObserveInput[] => {
  const rand = prng(7);
  return Array.from({ length: count }, (_, i) => {
    const id = `f-${i}`;
    const sha = shaOf(rand);
    const base = livedState(rand, id, sha);
    const ok = (s: string) => ({ kind: 'ok' as const, sha: s });
    const r = rand();
    if (r < 0.7) return { kind: 'idle', prev: base, obs: { source: ok(sha), target: ok(sha) }, gate: DISARMED, policy: POLICY(id) };
    if (r < 0.8) return { kind: 'new commit, disarmed', prev: base, obs: { source: ok(shaOf(rand)), target: ok(sha) }, gate: DISARMED, policy: POLICY(id) };
    if (r < 0.88) return { kind: 'new commit, armed', prev: base, obs: { source: ok(shaOf(rand)), target: ok(sha) }, gate: ARMED, policy: POLICY(id) };
    if (r < 0.95) {
      const next = shaOf(rand);
      const run = { sha: next, episode: 2, attempt: 1, name: runName(id, next, 2, 1), kind: 'Job' as const, startedAt: toIso(NOW - 120_000), superseded: false };
      const prev: FollowerState = { ...base, phase: 'Triggering', inFlight: run, observedSha: next, episode: 2, lastTriggeredSha: next };
      return { kind: 'run in flight', prev, obs: { source: ok(next), target: ok(sha), dispatch: 'PENDING' }, gate: ARMED, policy: POLICY(id) };
    }
    return { kind: 'first observation', prev: null, obs: { source: ok(sha), target: ok(sha) }, gate: DISARMED, policy: POLICY(id) };
  });
};

type CloserInput = { kind: string; rs: RunState };

const reading = (result: StageReading['result'], detail: string): StageReading => ({ result, detail });

const closerInputs = (count: number): CloserInput[] => {
  const rand = prng(11);
  return Array.from({ length: count }, (_, i) => {
    const id = `f-${i}`;
    const old = shaOf(rand);
    const sha = shaOf(rand);
    const run = { sha, episode: 2, attempt: 1, name: runName(id, sha, 2, 1), kind: 'Job' as const, startedAt: toIso(NOW - Math.floor(rand() * 2400) * 1000), superseded: false };
    const state: RunState['state'] = { ...livedState(rand, id, old), phase: 'Triggering', observedSha: sha, episode: 2, lastTriggeredSha: sha, inFlight: run };
    const r = rand();
    let kind: string;
    let fold: Fold;
    let s = state;
    if (r < 0.5) {
      kind = 'waiting';
      fold = { verdict: 'PENDING', decidedBy: 'trigger', readings: [{ check: 'trigger', reading: reading('PENDING', `Job bf/${run.name} running (active 1, ready 1, failed 0)`) }] };
    } else if (r < 0.75) {
      kind = 'green';
      s = { ...state, phase: 'ClosingOut' };
      fold = {
        verdict: 'GREEN',
        decidedBy: null,
        readings: [
          { check: 'trigger', reading: reading('SUCCESS', `Job bf/${run.name} complete (succeeded 1)`) },
          { check: 'target', reading: reading('SUCCESS', `target reports ${sha.slice(0, 12)}`) },
        ],
      };
    } else if (r < 0.9) {
      kind = 'red';
      fold = { verdict: 'RED', decidedBy: 'trigger', readings: [{ check: 'trigger', reading: reading('FAILURE', `Job bf/${run.name} failed: BackoffLimitExceeded`) }] };
    } else {
      kind = 'superseded';
      s = { ...state, observedSha: shaOf(rand) };
      fold = { verdict: 'PENDING', decidedBy: 'trigger', readings: [{ check: 'trigger', reading: reading('PENDING', `Job bf/${run.name} running`) }] };
    }
    return { kind, rs: { state: s, fold, policy: POLICY(id) } };
  });
};

/** Runs `fn` over the inputs in batches of at least `batchMs`, after `warmupMs` of the same. */
const rate = <T>(inputs: readonly T[], fn: (x: T) => unknown, o: { warmupMs: number; batchMs: number; batches: number }): Rate => {
  let sink = 0;
  const pass = (): number => {
    for (const x of inputs) if (fn(x)) sink++;
    return inputs.length;
  };
  const until = performance.now() + o.warmupMs;
  while (performance.now() < until) pass();
  const perSecond: number[] = [];
  for (let b = 0; b < o.batches; b++) {
    const t0 = performance.now();
    let ops = 0;
    while (performance.now() - t0 < o.batchMs) ops += pass();
    perSecond.push((ops * 1000) / (performance.now() - t0));
  }
  if (sink < 0) throw new Error('unreachable');
  const med = summarize(perSecond).median;
  return { perSecond: Math.round(med), usPerOp: round(1e6 / med, 2), batches: perSecond.map((x) => Math.round(x)) };
};

const mixOf = (xs: readonly { kind: string }[]): Record<string, number> => {
  const m: Record<string, number> = {};
  for (const x of xs) m[x.kind] = (m[x.kind] ?? 0) + 1;
  return m;
};

export const benchCore = (o: { inputs: number; warmupMs: number; batchMs: number; batches: number }): CoreResult => {
  const obsIn = observeInputs(o.inputs);
  const closeIn = closerInputs(o.inputs);
  const stored = obsIn.flatMap((x) => (x.prev ? [JSON.parse(JSON.stringify(x.prev)) as unknown] : []));
  const timing = { warmupMs: o.warmupMs, batchMs: o.batchMs, batches: o.batches };
  return {
    inputs: o.inputs,
    mix: { observe: mixOf(obsIn), nextAction: mixOf(closeIn) },
    observe: rate(obsIn, (x) => observe(x.prev, x.obs, x.gate, x.policy, NOW).decision, timing),
    nextAction: rate(closeIn, (x) => nextAction(x.rs, NOW), timing),
    closerStep: rate(closeIn, (x) => closeRun(x.rs.state, nextAction(x.rs, NOW), x.rs.fold, NOW), timing),
    stateParse: rate(stored, (x) => FollowerState.safeParse(x).success, timing),
  };
};
