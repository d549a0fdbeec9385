import type { PipelineRequest, TargetRequest } from '../adapters/ports.ts';
import { foldStep, toFold, type Fold, type StageReading } from '../core/fold.ts';
import { checksToRead, closeRun, nextAction, rememberedReading } from '../core/next-action.ts';
import { shortSha } from '../core/primitives.ts';
import { reportsSha } from '../core/revision.ts';
import type { CheckLabel } from '../core/registry.ts';
import type { FollowerState, Run } from '../core/state.ts';
import { casApply, entryOf, type Entry } from './cas.ts';
import { drainOutboxes } from './outbox.ts';
import type { LoopContext } from './context.ts';
import type { FollowerReport, TickReport } from './observer.ts';
import { prepareFollowers, type Prepared } from './prepare.ts';

type InFlight = { p: Prepared; entry: Entry & { state: FollowerState & { inFlight: Run } }; checks: readonly CheckLabel[]; readings: StageReading[]; fold: Fold | null };

/**
 * One closer tick: for every follower with a run in flight, read its closeout stages in order
 * (batched across followers, one round per stage, so a stage after a deciding one is never
 * read), decide purely with nextAction, and write the verdict with compare-and-swap.
 */
export const closerTick = async (ctx: LoopContext, only?: ReadonlySet<string>): Promise<TickReport> => {
  const report = await closeAll(ctx, only);
  await sweep(ctx);
  return report;
};

/**
 * The driver's clean-up, after the tick's real work and never in dry-run. A failure is logged,
 * not reported as the tick's error: nothing about the followers depends on it.
 */
const sweep = async (ctx: LoopContext): Promise<void> => {
  if (ctx.dryRun || !ctx.ports.housekeeper) return;
  try {
    const r = await ctx.ports.housekeeper.sweep(ctx.now());
    if (r.pruned.length) ctx.log(`pruned ${r.pruned.length} run(s) past the retention, keeping their tombstones: ${r.pruned.join(', ')}`);
    if (r.tempsRemoved) ctx.log(`removed ${r.tempsRemoved} temp file(s) left by killed writers`);
  } catch (e) {
    ctx.log(`housekeeping failed (retried next closer tick): ${(e as Error).message}`);
  }
};

const closeAll = async (ctx: LoopContext, only?: ReadonlySet<string>): Promise<TickReport> => {
  // What earlier ticks wrote into outboxes and did not get to deliver goes out first.
  const stored = await drainOutboxes(ctx, await ctx.ports.store.list());
  const runs: InFlight[] = [];
  const wanted = new Set<string>();
  for (const s of stored) if ('state' in s && s.state.inFlight && (!only || only.has(s.id))) wanted.add(s.id);
  if (wanted.size === 0) return { loop: 'closer', followers: [], stoppedAtDeadline: false, unreachable: [] };
  const prepared = new Map((await prepareFollowers(ctx, wanted)).map((p) => [p.follower.id, p]));
  const reports: FollowerReport[] = [];
  for (const s of stored) {
    if (!wanted.has(s.id)) continue;
    const p = prepared.get(s.id);
    const e = entryOf(s);
    if ('corrupt' in e || !e.state?.inFlight) continue;
    if (!p) {
      reports.push({ id: s.id, phase: e.state.phase, decision: null, reason: e.state.reason, wrote: false, dispatched: null, state: e.state, error: 'run in flight for a follower no longer in the registry; left alone' });
      continue;
    }
    const run = e.state.inFlight;
    runs.push({ p, entry: { version: e.version, state: { ...e.state, inFlight: run } }, checks: checksToRead(run, p.follower.checks), readings: [], fold: null });
  }

  await foldAll(ctx, runs);

  let stoppedAtDeadline = false;
  for (const r of runs) {
    if (ctx.deadline !== null && ctx.now() > ctx.deadline) {
      stoppedAtDeadline = true;
      break;
    }
    try {
      reports.push(await closeOne(ctx, r));
    } catch (e) {
      const st = r.entry.state;
      reports.push({ id: st.id, phase: st.phase, decision: null, reason: st.reason, wrote: false, dispatched: null, state: st, error: (e as Error).message });
    }
  }
  return { loop: 'closer', followers: reports, stoppedAtDeadline, unreachable: [] };
};

/** Reads stages round by round: each round asks the core which stage every unfinished fold needs next. */
const foldAll = async (ctx: LoopContext, runs: InFlight[]): Promise<void> => {
  for (;;) {
    const need: { r: InFlight; check: CheckLabel }[] = [];
    for (const r of runs) {
      if (r.fold) continue;
      const step = foldStep(r.checks, r.readings);
      if (step.kind === 'verdict') {
        r.fold = toFold(r.checks, r.readings, step);
        continue;
      }
      const remembered = rememberedReading(r.entry.state, step.check);
      if (remembered) r.readings.push(remembered);
      else need.push({ r, check: step.check });
    }
    if (need.length === 0) {
      if (runs.every((r) => r.fold)) return;
      continue;
    }
    const triggers = need.filter((n) => n.check === 'trigger');
    const pipelines = need.filter((n) => n.check === 'pipeline');
    const targets = need.filter((n) => n.check === 'target');
    const [ts, ps, tg] = await Promise.all([
      triggers.length ? ctx.ports.dispatcher.statuses(triggers.map((n) => n.r.entry.state.inFlight.name)) : new Map<string, StageReading>(),
      pipelines.length ? ctx.ports.pipelines.readMany(pipelineRequests(pipelines.map((n) => n.r))) : new Map<string, StageReading>(),
      targets.length ? ctx.ports.targets.readMany(targetRequests(targets.map((n) => n.r))) : null,
    ]);
    for (const { r } of triggers) r.readings.push(ts.get(r.entry.state.inFlight.name) ?? { result: 'NONE', detail: 'dispatch not found' });
    for (const { r } of pipelines) r.readings.push(ps.get(r.p.follower.id) ?? unresolved(r, 'pipeline'));
    for (const { r } of targets) {
      const id = r.p.follower.id;
      const o = tg?.get(id);
      const sha = r.entry.state.inFlight.sha;
      r.readings.push(
        !o
          ? unresolved(r, 'target')
          : o.kind === 'ok'
            ? reportsSha(o.sha, sha)
              ? { result: 'SUCCESS', detail: `target reports ${o.sha === sha ? shortSha(sha) : `${o.sha}, an abbreviation of ${shortSha(sha)}`}` }
              : { result: 'PENDING', detail: `${o.sha === null && o.absent ? o.absent : `target reports ${shortSha(o.sha)}`}, waiting for ${shortSha(sha)}` }
            : { result: 'PENDING', detail: `target unreadable: ${o.message}` },
      );
    }
  }
};

// A configRef that broke mid-run leaves the check waiting; the closeout budget bounds it.
const unresolved = (r: InFlight, check: string): StageReading => ({
  result: 'PENDING',
  detail: r.p.resolution.ok ? `no ${check} reading` : `configRef unresolvable: ${r.p.resolution.message}`,
});

const pipelineRequests = (rs: InFlight[]): PipelineRequest[] =>
  rs.flatMap((r) => (r.p.resolution.ok && r.p.resolution.spec.pipeline ? [{ key: r.p.follower.id, spec: r.p.resolution.spec.pipeline, sha: r.entry.state.inFlight.sha }] : []));

const targetRequests = (rs: InFlight[]): TargetRequest[] =>
  rs.flatMap((r) => (r.p.resolution.ok ? [{ key: r.p.follower.id, spec: r.p.resolution.spec.target }] : []));

const closeOne = async (ctx: LoopContext, r: InFlight): Promise<FollowerReport> => {
  const id = r.p.follower.id;
  const fold = r.fold as Fold;
  const run = r.entry.state.inFlight;
  const decide = (state: FollowerState | null): FollowerState | null => {
    // A re-read after a conflict may show the run already closed or replaced: leave it be.
    if (!state?.inFlight || state.inFlight.name !== run.name) return state;
    const s = { ...state, inFlight: state.inFlight };
    return closeRun(s, nextAction({ state: s, fold, policy: r.p.policy }, ctx.now()), fold, ctx.now());
  };
  if (ctx.dryRun) {
    const next = decide(r.entry.state);
    return { id, phase: next?.phase ?? null, decision: null, reason: next?.reason ?? '', wrote: false, dispatched: null, error: null, state: next };
  }
  const first = nextAction({ state: r.entry.state, fold, policy: r.p.policy }, ctx.now());
  // Stop a run that outlived its budget before recording the verdict, so no dispatch outlives its record.
  if ((first.kind === 'fail' || first.kind === 'block' || first.kind === 'supersede') && first.cancel) await ctx.ports.dispatcher.cancel(run.name);
  const out = await casApply(ctx, id, r.entry, decide);
  const state = out.kind === 'written' || out.kind === 'unchanged' || out.kind === 'gave-up' ? out.entry.state : null;
  return {
    id,
    phase: state?.phase ?? null,
    decision: null,
    reason: state?.reason ?? '',
    wrote: out.kind === 'written',
    dispatched: null,
    error: out.kind === 'corrupt' ? `corrupt stored state, left for a person: ${out.where}: ${out.message}` : out.kind === 'gave-up' ? 'write conflicts persisted; retried next tick' : null,
    ...(out.kind === 'corrupt' ? { corrupt: true as const } : {}),
    state,
  };
};
