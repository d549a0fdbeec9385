// A small simulated world for the sequence properties: one follower, a git mirror whose branch
// moves (and is force-pushed, deleted, unreachable), a target that deploys what a successful
// dispatch ran, a fake dispatcher that remembers every name it ever created, a CAS store, and
// the two ticks written the way the loops drive the pure core, including crashes between their
// steps and a tick that loses a compare-and-swap race.
import fc from 'fast-check';
import type { Gate } from '../../src/core/arming.ts';
import { foldStages, type StageReading } from '../../src/core/fold.ts';
import { checksToRead, closeRun, nextAction, rememberedReading } from '../../src/core/next-action.ts';
import { dispatched, observe, type Effect, type Observation } from '../../src/core/observe.ts';
import type { Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import type { CheckLabel } from '../../src/core/registry.ts';
import { runName } from '../../src/core/run-name.ts';
import type { CheckResult, FollowerState, Run } from '../../src/core/state.ts';
import { transitionProblems } from './helpers.ts';
import { checkLabelsArb, onSupersedeArb, SEED_IDS, objectFormatArb, SHA_POOL, shaPool, T0 } from '../support/arbitraries.ts';

export type ObserverCrash = 'none' | 'beforeWrite' | 'afterWrite' | 'afterDispatch';
export type CloserCrash = 'none' | 'beforeWrite';

export type Step =
  | { t: 'time'; seconds: number }
  | { t: 'push'; sha: number }
  /** A rollback: the branch is force-pushed back to the sha of the `back`-th latest dispatch. */
  | { t: 'rollback'; back: number }
  /** A fault of the mirror or the target that lasts for the next `ticks` ticks (of either loop). */
  | { t: 'source'; kind: 'missing' | 'unreachable' | 'invalid'; ticks: number }
  | { t: 'target'; kind: 'unreadable' | 'invalid'; ticks: number }
  | { t: 'drift'; sha: number | null }
  | { t: 'arm'; armed: boolean }
  | { t: 'finish'; result: 'SUCCESS' | 'FAILURE'; deploy: boolean; pipeline: CheckResult | null }
  | { t: 'pipeline'; sha: number; result: CheckResult }
  | { t: 'gc' }
  | { t: 'observer'; crash: ObserverCrash }
  | { t: 'closer'; crash: CloserCrash }
  | { t: 'race'; first: 'observer' | 'closer' };

export type SimConfig = {
  policy: Policy;
  checks: CheckLabel[];
  armed: boolean;
  source: number;
  deployed: number | null;
  /** The mirror repository's object format: which pool of shas the whole history uses. */
  format?: 'sha1' | 'sha256';
  /** Finished dispatches are garbage-collected this long after they end (a Job's TTL). */
  gcAfterSeconds: number;
};

/**
 * Which invariant of DESIGN.md a violation breaks. `gap: 'ttl'` marks the one known gap (pinned
 * by the `it.fails` test in invariants.test.ts): a dispatch created by a tick that crashed before
 * recording it, finished and then removed by its TTL before any later tick recorded it, is
 * indistinguishable from one never created, and is created again.
 */
export type Violation = { invariant: 1 | 2 | 4 | 5 | 6; message: string; gap?: 'ttl' };

type Dispatch = {
  name: string;
  sha: string;
  attempt: number;
  status: 'PENDING' | 'SUCCESS' | 'FAILURE';
  exists: boolean;
  removedBy: 'cancel' | 'ttl' | null;
  finishedAt: number | null;
};

/** What happened in one simulation, for coverage assertions (a property that never dispatches proves nothing). */
export type SimStats = {
  created: number;
  adopted: number;
  succeeded: number;
  failed: number;
  blocked: number;
  superseded: number;
  cancelled: number;
  casLost: number;
  recreatedAfterGc: number;
  /** Dispatches of a sha that had been dispatched before another sha was (the branch came back). */
  revisited: number;
  /** Succeeded runs of a sha that had succeeded before (a rollback announced again). */
  resucceeded: number;
};

const GATE_OFF: Gate = { armed: false, gate: 'kill-switch', reason: 'disarmed: kill switch is on (by sim)' };

export class World {
  now = T0;
  sourceSha: string;
  sourceKind: 'ok' | 'missing' | 'unreachable' | 'invalid' = 'ok';
  sourceFaultTicks = 0;
  targetKind: 'ok' | 'unreadable' | 'invalid' = 'ok';
  targetFaultTicks = 0;
  deployed: string | null;
  armed: boolean;
  readonly pipeline = new Map<string, CheckResult>();
  readonly dispatches = new Map<string, Dispatch>();
  /** Every (name, sha, attempt) a create call actually started, in order. */
  readonly creations: { name: string; sha: string; episode: number; attempt: number }[] = [];
  store: { state: FollowerState | null; version: number } = { state: null, version: 0 };
  /** Every state the store accepted, in order: what `/metrics` would have read between writes. */
  readonly written: FollowerState[] = [];
  readonly violations: Violation[] = [];
  readonly stats: SimStats = { created: 0, adopted: 0, succeeded: 0, failed: 0, blocked: 0, superseded: 0, cancelled: 0, casLost: 0, recreatedAfterGc: 0, revisited: 0, resucceeded: 0 };
  /** Every sha a written state recorded as succeeded, for the rollback count. */
  private readonly succeededShas = new Set<string>();
  readonly cfg: SimConfig;
  readonly policy: Policy;
  readonly pool: readonly string[];

  constructor(cfg: SimConfig) {
    this.cfg = cfg;
    this.policy = cfg.policy;
    this.pool = shaPool(cfg.format ?? 'sha1');
    this.sourceSha = this.pool[cfg.source] as string;
    this.deployed = cfg.deployed === null ? null : (this.pool[cfg.deployed] as string);
    this.armed = cfg.armed;
  }

  /** Names some written state recorded as a run (in flight): their attempts are counted. */
  private readonly recorded = new Set<string>();

  private violate(invariant: Violation['invariant'], message: string, gap?: 'ttl'): void {
    this.violations.push({ invariant, message: `t+${(this.now - T0) / 1000}s: ${message}`, ...(gap ? { gap } : {}) });
  }

  gate(): Gate {
    return this.armed ? { armed: true } : GATE_OFF;
  }

  private dispatchStatus(name: string): CheckResult {
    const d = this.dispatches.get(name);
    return d && d.exists ? d.status : 'NONE';
  }

  observation(s: FollowerState | null): Observation {
    const source: Observation['source'] =
      this.sourceKind === 'ok'
        ? { kind: 'ok', sha: this.sourceSha }
        : this.sourceKind === 'missing'
          ? { kind: 'missing', repo: 'pikasTech/HWLAB', branch: 'v0.3' }
          : this.sourceKind === 'unreachable'
            ? { kind: 'unreachable', message: 'connect ECONNREFUSED' }
            : { kind: 'invalid', message: 'key not found' };
    const target: Observation['target'] =
      this.targetKind === 'ok' ? { kind: 'ok', sha: this.deployed } : this.targetKind === 'unreadable' ? { kind: 'unreadable', message: 'forbidden' } : { kind: 'invalid', message: 'key not found' };
    const name = s?.pending?.name ?? s?.inFlight?.name;
    return name === undefined ? { source, target } : { source, target, dispatch: this.dispatchStatus(name) };
  }

  private readStage(s: FollowerState & { inFlight: Run }, check: CheckLabel): StageReading {
    const remembered = rememberedReading(s, check);
    if (remembered) return remembered;
    const sha = s.inFlight.sha;
    switch (check) {
      case 'trigger':
        return { result: this.dispatchStatus(s.inFlight.name), detail: s.inFlight.name };
      case 'pipeline':
        return { result: this.pipeline.get(sha) ?? 'NONE', detail: `pipeline of ${sha.slice(0, 7)}` };
      case 'target':
        return this.targetKind !== 'ok'
          ? { result: 'NONE', detail: 'target unreadable' }
          : { result: this.deployed === sha ? 'SUCCESS' : 'PENDING', detail: `target at ${this.deployed?.slice(0, 7) ?? 'nothing'}` };
    }
  }

  // -------------------------------------------------------------------------------------------
  // The dispatcher

  private create(e: Effect & { kind: 'dispatch' }): { startedAt: string } {
    const existing = this.dispatches.get(e.name);
    if (existing?.exists) {
      this.stats.adopted++;
      return { startedAt: toIso(this.now) };
    }
    const { maxAttempts } = this.policy.budgets;
    if (e.attempt > maxAttempts) this.violate(2, `dispatched ${e.name} as attempt ${e.attempt} > maxAttempts ${maxAttempts}`);
    if (e.name !== runName(this.policy.id, e.sha, e.episode, e.attempt)) this.violate(2, `dispatch name ${e.name} is not runName(${this.policy.id}, ${e.sha}, ${e.episode}, ${e.attempt})`);
    // Episodes only move forward, and a dispatch of another sha in between ends one: a sha the
    // branch comes back to is a new run with its own name and budget, never a continuation.
    const last = this.creations.at(-1);
    if (last && (e.episode < last.episode || (e.sha !== last.sha && e.episode === last.episode)))
      this.violate(2, `${e.name} (episode ${e.episode}) dispatched after ${last.name} (episode ${last.episode}): a visit of the branch continued past another sha`);
    if (last && last.sha !== e.sha && this.creations.some((c) => c.sha === e.sha)) this.stats.revisited++;
    if (this.creations.some((c) => c.name === e.name || (c.sha === e.sha && c.episode === e.episode && c.attempt === e.attempt))) {
      const gap = existing?.removedBy === 'ttl' && !this.recorded.has(e.name);
      if (gap) this.stats.recreatedAfterGc++;
      this.violate(2, `(${e.sha.slice(0, 7)}, attempt ${e.attempt}) dispatched twice as ${e.name} (the first ${existing?.removedBy === 'cancel' ? 'was cancelled' : existing?.removedBy === 'ttl' ? 'was removed by its TTL' : 'still exists'})`, gap ? 'ttl' : undefined);
    }
    for (const d of this.dispatches.values()) {
      if (d.exists && d.status === 'PENDING') this.violate(4, `dispatched ${e.name} while ${d.name} is still running`);
    }
    this.creations.push({ name: e.name, sha: e.sha, episode: e.episode, attempt: e.attempt });
    this.dispatches.set(e.name, { name: e.name, sha: e.sha, attempt: e.attempt, status: 'PENDING', exists: true, removedBy: null, finishedAt: null });
    this.stats.created++;
    return { startedAt: toIso(this.now) };
  }

  private cancel(name: string): void {
    const d = this.dispatches.get(name);
    if (d?.exists) {
      d.exists = false;
      d.removedBy = 'cancel';
      d.finishedAt ??= this.now;
      this.stats.cancelled++;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The state store: compare-and-swap, with the invariants every stored state must keep

  private write(next: FollowerState, version: number, by: 'observer' | 'closer'): boolean {
    if (version !== this.store.version) {
      this.stats.casLost++;
      return false;
    }
    const prev = this.store.state;
    this.checkWrite(prev, next, by);
    this.store = { state: next, version: version + 1 };
    this.written.push(next);
    if (next.inFlight) this.recorded.add(next.inFlight.name);
    if (prev?.phase !== next.phase) {
      if (next.phase === 'Succeeded') {
        this.stats.succeeded++;
        if (next.lastSucceededSha !== null && next.lastSucceededSha !== prev?.lastSucceededSha) {
          if (this.succeededShas.has(next.lastSucceededSha)) this.stats.resucceeded++;
          this.succeededShas.add(next.lastSucceededSha);
        }
      }
      if (next.phase === 'Failed') this.stats.failed++;
      if (next.phase === 'Blocked') this.stats.blocked++;
      if (next.phase === 'Superseded') this.stats.superseded++;
    }
    return true;
  }

  private checkWrite(prev: FollowerState | null, next: FollowerState, by: 'observer' | 'closer'): void {
    for (const problem of transitionProblems(prev, next)) this.violate(6, problem);

    const was = prev?.lastSucceededSha ?? null;
    if (next.lastSucceededSha !== was) {
      const sha = next.lastSucceededSha;
      const run = prev?.inFlight;
      if (by !== 'closer' || !run || sha === null || run.sha !== sha) {
        this.violate(5, `lastSucceededSha ${was?.slice(0, 7)} -> ${sha?.slice(0, 7)} written by the ${by} without closing out that run`);
      } else {
        const failing = this.cfg.checks.filter((c) => !this.truth(run, c));
        if (failing.length > 0) this.violate(5, `lastSucceededSha set to ${sha.slice(0, 7)} while checks ${failing.join(', ')} have not succeeded`);
      }
    }
  }

  /** Whether a check of a run has really succeeded in the world (not what the core was told). */
  private truth(run: Run, check: CheckLabel): boolean {
    switch (check) {
      case 'trigger':
        return this.dispatches.get(run.name)?.status === 'SUCCESS';
      case 'pipeline':
        return this.pipeline.get(run.sha) === 'SUCCESS';
      case 'target':
        return this.targetKind === 'ok' && this.deployed === run.sha;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The two ticks

  /** The observer's first half: read and decide. The second half acts and writes (CAS). */
  private observerDecide(): (crash?: ObserverCrash) => boolean {
    const { state: prev, version } = this.store;
    const gate = this.gate();
    const r = observe(prev, this.observation(prev), gate, this.policy, this.now);
    if (!gate.armed && r.effects.some((e) => e.kind === 'dispatch')) this.violate(1, 'a disarmed observe() asked for a dispatch');
    if (prev?.pending && r.state.inFlight?.name === prev.pending.name) this.stats.adopted++;
    return (crash: ObserverCrash = 'none') => {
      // Cancels go out before the write: a crash after them is repaired by the next tick
      // recomputing the same decision; the other order would forget a still-running run.
      for (const e of r.effects) if (e.kind === 'cancel') this.cancel(e.name);
      if (crash === 'beforeWrite') return true;
      let version2 = version;
      if (r.state !== prev) {
        if (!this.write(r.state, version, 'observer')) return false;
        version2 = this.store.version;
      }
      if (crash === 'afterWrite') return true;
      let s = r.state;
      for (const e of r.effects) {
        if (e.kind !== 'dispatch') continue;
        const { startedAt } = this.create(e);
        if (crash === 'afterDispatch') return true;
        const next = dispatched(s, { name: e.name, kind: this.policy.runKind, startedAt }, this.now);
        if (next !== s) {
          if (!this.write(next, version2, 'observer')) return false;
          version2 = this.store.version;
          s = next;
        }
      }
      return true;
    };
  }

  private closerDecide(): (crash?: CloserCrash) => boolean {
    const { state: prev, version } = this.store;
    if (!prev?.inFlight) return () => true;
    const s = prev as FollowerState & { inFlight: Run };
    const fold = foldStages(checksToRead(s.inFlight, this.cfg.checks), (c) => this.readStage(s, c));
    const action = nextAction({ state: s, fold, policy: this.policy }, this.now);
    const next = closeRun(s, action, fold, this.now);
    return (crash: CloserCrash = 'none') => {
      if ((action.kind === 'fail' || action.kind === 'block' || action.kind === 'supersede') && action.cancel) this.cancel(s.inFlight.name);
      if (crash === 'beforeWrite') return true;
      return next === prev || this.write(next, version, 'closer');
    };
  }

  /** Faults are transient: each lasts a few ticks, then the mirror and the target answer again. */
  private healFaults(): void {
    if (this.sourceFaultTicks > 0 && --this.sourceFaultTicks === 0) this.sourceKind = 'ok';
    if (this.targetFaultTicks > 0 && --this.targetFaultTicks === 0) this.targetKind = 'ok';
  }

  /** A tick that lost its CAS re-reads and recomputes, a bounded number of times. */
  private retry(decide: () => () => boolean, ok: boolean): void {
    for (let i = 0; !ok && i < 3; i++) ok = decide()();
  }

  step(st: Step): void {
    switch (st.t) {
      case 'time':
        this.now += st.seconds * 1000;
        return;
      case 'push':
        this.sourceSha = this.pool[st.sha] as string;
        this.sourceKind = 'ok';
        this.sourceFaultTicks = 0;
        return;
      case 'rollback': {
        const shas = [...new Set(this.creations.map((c) => c.sha).reverse())].filter((s) => s !== this.sourceSha);
        const sha = shas[st.back % Math.max(1, shas.length)];
        if (sha === undefined) return;
        this.sourceSha = sha;
        this.sourceKind = 'ok';
        this.sourceFaultTicks = 0;
        return;
      }
      case 'source':
        this.sourceKind = st.kind;
        this.sourceFaultTicks = st.ticks;
        return;
      case 'target':
        this.targetKind = st.kind;
        this.targetFaultTicks = st.ticks;
        return;
      case 'drift':
        this.deployed = st.sha === null ? null : (this.pool[st.sha] as string);
        return;
      case 'arm':
        this.armed = st.armed;
        return;
      case 'finish': {
        const d = [...this.dispatches.values()].find((x) => x.exists && x.status === 'PENDING');
        if (!d) return;
        d.status = st.result;
        d.finishedAt = this.now;
        if (st.result === 'SUCCESS' && st.deploy) this.deployed = d.sha;
        if (st.pipeline !== null) this.pipeline.set(d.sha, st.pipeline);
        return;
      }
      case 'pipeline':
        this.pipeline.set(this.pool[st.sha] as string, st.result);
        return;
      case 'gc':
        for (const d of this.dispatches.values()) {
          if (d.exists && d.finishedAt !== null && this.now - d.finishedAt >= this.cfg.gcAfterSeconds * 1000) {
            d.exists = false;
            d.removedBy = 'ttl';
          }
        }
        return;
      case 'observer': {
        this.healFaults();
        this.retry(() => this.observerDecide(), this.observerDecide()(st.crash));
        return;
      }
      case 'closer': {
        this.healFaults();
        this.retry(() => this.closerDecide(), this.closerDecide()(st.crash));
        return;
      }
      case 'race': {
        // One tick reads and decides, the other runs whole, then the first acts on what it read.
        if (st.first === 'observer') {
          const act = this.observerDecide();
          this.step({ t: 'closer', crash: 'none' });
          this.retry(() => this.observerDecide(), act());
        } else {
          const act = this.closerDecide();
          this.step({ t: 'observer', crash: 'none' });
          this.retry(() => this.closerDecide(), act());
        }
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const shaIndexArb = fc.integer({ min: 0, max: SHA_POOL.length - 1 });

export const simConfigArb: fc.Arbitrary<SimConfig> = fc.record({
  policy: fc.record({
    id: fc.constantFrom(...SEED_IDS),
    // Budgets of minutes, so runs both finish within them and run out of them.
    budgets: fc.record({
      triggerSeconds: fc.integer({ min: 60, max: 1800 }),
      closeoutSeconds: fc.integer({ min: 120, max: 3600 }),
      maxAttempts: fc.integer({ min: 1, max: 3 }),
    }),
    onSupersede: onSupersedeArb,
    runKind: fc.constantFrom('Job' as const, 'Process' as const),
  }),
  checks: checkLabelsArb,
  armed: fc.constantFrom(true, true, true, false),
  source: shaIndexArb,
  deployed: fc.option(shaIndexArb, { nil: null }),
  format: objectFormatArb,
  gcAfterSeconds: fc.constantFrom(600, 3600, 86_400),
});

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<ObserverCrash>('none', 'none', 'none', 'beforeWrite', 'afterWrite', 'afterDispatch').map((crash) => ({ t: 'observer' as const, crash })) },
  { weight: 5, arbitrary: fc.constantFrom<CloserCrash>('none', 'none', 'none', 'beforeWrite').map((crash) => ({ t: 'closer' as const, crash })) },
  { weight: 1, arbitrary: fc.constantFrom('observer' as const, 'closer' as const).map((first) => ({ t: 'race' as const, first })) },
  { weight: 4, arbitrary: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 250, max: 350 }), fc.integer({ min: 500, max: 4000 })).map((seconds) => ({ t: 'time' as const, seconds })) },
  { weight: 3, arbitrary: shaIndexArb.map((sha) => ({ t: 'push' as const, sha })) },
  { weight: 1, arbitrary: fc.nat(2).map((back) => ({ t: 'rollback' as const, back })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ kind: fc.constantFrom('missing' as const, 'unreachable' as const, 'invalid' as const), ticks: fc.integer({ min: 1, max: 4 }) })
      .map((f) => ({ t: 'source' as const, ...f })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ kind: fc.constantFrom('unreadable' as const, 'unreadable' as const, 'invalid' as const), ticks: fc.integer({ min: 1, max: 6 }) })
      .map((f) => ({ t: 'target' as const, ...f })),
  },
  { weight: 1, arbitrary: fc.option(shaIndexArb, { nil: null }).map((sha) => ({ t: 'drift' as const, sha })) },
  { weight: 1, arbitrary: fc.constantFrom(true, true, false).map((armed) => ({ t: 'arm' as const, armed })) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        result: fc.constantFrom('SUCCESS' as const, 'SUCCESS' as const, 'FAILURE' as const),
        deploy: fc.boolean(),
        pipeline: fc.constantFrom<CheckResult | null>(null, 'SUCCESS', 'SUCCESS', 'FAILURE', 'PENDING'),
      })
      .map((r) => ({ t: 'finish' as const, ...r })),
  },
  { weight: 2, arbitrary: fc.record({ sha: shaIndexArb, result: fc.constantFrom<CheckResult>('SUCCESS', 'SUCCESS', 'FAILURE', 'PENDING') }).map((r) => ({ t: 'pipeline' as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ t: 'gc' as const }) },
);

/**
 * Histories made of visits: the branch goes to one of three shas (so it keeps coming back), the
 * run of that visit is given every chance to succeed, with random steps (crashes, races, faults,
 * pushes, braking) in between. Rollbacks that deploy again are what these histories are about.
 */
export const rollbackSimArb = (maxVisits: number): fc.Arbitrary<{ cfg: SimConfig; steps: Step[] }> =>
  fc
    .record({
      cfg: simConfigArb.map((c) => ({ ...c, armed: true })),
      visits: fc.array(
        fc.record({
          sha: fc.integer({ min: 0, max: 2 }),
          noise: fc.array(stepArb, { maxLength: 4 }),
          pipeline: fc.constantFrom<CheckResult>('SUCCESS', 'SUCCESS', 'SUCCESS', 'FAILURE'),
          result: fc.constantFrom('SUCCESS' as const, 'SUCCESS' as const, 'SUCCESS' as const, 'FAILURE' as const),
        }),
        { minLength: 3, maxLength: maxVisits },
      ),
    })
    .map(({ cfg, visits }) => ({
      cfg,
      steps: visits.flatMap((v): Step[] => [
        { t: 'push', sha: v.sha },
        { t: 'observer', crash: 'none' },
        ...v.noise,
        { t: 'finish', result: v.result, deploy: true, pipeline: v.pipeline },
        { t: 'closer', crash: 'none' },
        { t: 'observer', crash: 'none' },
        { t: 'closer', crash: 'none' },
      ]),
    }));

export const simArb = (maxSteps: number): fc.Arbitrary<{ cfg: SimConfig; steps: Step[] }> =>
  fc.record({ cfg: simConfigArb, steps: fc.array(stepArb, { maxLength: maxSteps, size: 'max' }) });

export const simulate = (cfg: SimConfig, steps: readonly Step[]): World => {
  const w = new World(cfg);
  for (const st of steps) w.step(st);
  return w;
};
