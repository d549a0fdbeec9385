import type { StageReading } from '../core/fold.ts';
import { gateFor, type ArmingRead, type Gate } from '../core/arming.ts';
import { dispatched, dispatchFailed, observe, type Decision, type Effect, type Observation, type SourceObservation, type TargetObservation } from '../core/observe.ts';
import type { FollowerState, Writer, WriterLiveness } from '../core/state.ts';
import type { SourceSection } from '../core/target-spec.ts';
import { RepoName } from '../core/primitives.ts';
import { readOutcomeOf, type RepoRead } from '../core/tick-metrics.ts';
import { activeHolds, nextHolds, NO_HOLDS, type FreshHold, type MirrorHold } from '../core/mirror-holds.ts';
import { ConflictError, type HoldsRead, type RepoRequest, type TargetRequest } from '../adapters/ports.ts';
import { casApply, entryOf, type Entry } from './cas.ts';
import { drainOutboxes } from './outbox.ts';
import type { LoopContext } from './context.ts';
import { prepareFollowers, type Prepared } from './prepare.ts';

export type FollowerReport = {
  id: string;
  phase: FollowerState['phase'] | null;
  decision: Decision | null;
  reason: string;
  wrote: boolean;
  dispatched: string | null;
  error: string | null;
  /** The error is stored state failing its schema, left for a person (the CLI exits 2, not 1). */
  corrupt?: true;
  /** The state as it is (or, in dry-run, would be) after this tick. */
  state: FollowerState | null;
};

export type TickReport = {
  loop: 'observer' | 'closer';
  followers: FollowerReport[];
  stoppedAtDeadline: boolean;
  /** Why the git mirror could not be read for a repository this tick, one line each; the closer reads no refs. */
  unreachable: string[];
  /** How each repository's ref read went, for the tick metrics; the closer reads no refs. */
  reads?: RepoRead[];
};

const runName = (s: FollowerState | null): string | null => s?.pending?.name ?? s?.inFlight?.name ?? null;

/**
 * One observer tick: read every follower's state (one list), the arming gate, the git-mirror
 * refs (one read per repository), the targets and the dispatches in flight, then decide each
 * follower purely and act: cancel, write ahead, dispatch, record.
 */
export const observerTick = async (ctx: LoopContext, only?: ReadonlySet<string>): Promise<TickReport> => {
  // These reads need no resolved follower, so they are sent before the followers are resolved:
  // the API server answers a LIST of 1000 states in tens of ms, time the resolving (zod over
  // every configRef section) now fills instead of waiting (docs/performance.md, change 22).
  const reads = Promise.all([ctx.ports.store.list(), ctx.ports.arming.read(), ctx.ports.holds.read()]);
  // Awaited below; if resolving throws first, the reads' own failure must not go unhandled.
  reads.catch(() => undefined);
  const prepared = await prepareFollowers(ctx, only);
  const [listed, arming, holdsRead] = await reads;
  // What earlier ticks wrote into outboxes and did not get to deliver goes out first.
  const stored = await drainOutboxes(ctx, listed);
  const byId = new Map(stored.map((s) => [s.id, s]));
  const ok = prepared.flatMap((p) => (p.resolution.ok ? [{ p, spec: p.resolution.spec }] : []));

  const repos = new Map<string, Set<string>>();
  for (const p of prepared) {
    const src = sourceSection(p);
    if (!src) continue;
    const set = repos.get(src.repo) ?? new Set<string>();
    set.add(src.branch);
    repos.set(src.repo, set);
  }
  const repoRequests: RepoRequest[] = [...repos].map(([repo, branches]) => ({ repo, branches: [...branches] }));
  const targetRequests: TargetRequest[] = ok.map(({ p, spec }) => ({ key: p.follower.id, spec: spec.target }));
  const names = stored.flatMap((s) => ('state' in s ? [runName(s.state)].filter((n): n is string => n !== null) : []));
  const [{ refs, held }, targets, statuses] = await Promise.all([
    readRefs(ctx, repoRequests, holdsRead),
    ctx.ports.targets.readMany(targetRequests),
    ctx.ports.dispatcher.statuses(names),
  ]);

  const writers = writerLiveness(ctx);
  const observationFor = async (p: Prepared, state: FollowerState | null, extra: Map<string, StageReading>): Promise<Observation> => {
    const name = runName(state);
    const reading = (n: string): StageReading | undefined => extra.get(n) ?? statuses.get(n);
    const dispatch = name ? reading(name)?.result : undefined;
    await writers.probe(state, reading);
    const who = writers.observe(state);
    if (!p.resolution.ok) {
      const invalid = { kind: 'invalid' as const, message: p.resolution.message };
      return p.resolution.side === 'source'
        ? { source: invalid, target: { kind: 'unreadable', message: 'source unresolved' }, dispatch, ...who }
        : { source: sourceOf(p, refs), target: invalid, dispatch, ...who };
    }
    const target: TargetObservation = targets.get(p.follower.id) ?? { kind: 'unreadable', message: 'target not read' };
    return { source: sourceOf(p, refs), target, dispatch, ...who };
  };

  // Re-read the gate once, just before the first dispatch of the tick: a brake pulled while
  // this tick was reading still stops it.
  let freshGate: Promise<ArmingRead> | null = null;
  const gateNow = async (id: string): Promise<Gate> => {
    freshGate ??= ctx.ports.arming.read().then((r) => r.read);
    return gateFor(await freshGate, id);
  };

  const reports: FollowerReport[] = [];
  let stoppedAtDeadline = false;
  for (const p of prepared) {
    if (ctx.deadline !== null && ctx.now() > ctx.deadline) {
      stoppedAtDeadline = true;
      break;
    }
    const id = p.follower.id;
    const start = entryOf(byId.get(id));
    if ('corrupt' in start) {
      reports.push({ id, phase: null, decision: null, reason: '', wrote: false, dispatched: null, state: null, error: `corrupt stored state, left for a person: ${start.corrupt.where}: ${start.corrupt.message}`, corrupt: true });
      continue;
    }
    try {
      reports.push(await observeOne(ctx, p, start, gateFor(arming.read, id), observationFor, gateNow));
    } catch (e) {
      reports.push({ id, phase: start.state?.phase ?? null, decision: null, reason: '', wrote: false, dispatched: null, state: start.state, error: (e as Error).message });
    }
  }
  // The reader's message names the repository's URL already.
  const unreachable = [...refs.values()].flatMap((branches) => {
    const why = [...branches.values()].find((o) => o.kind === 'unreachable');
    return why?.kind === 'unreachable' ? [why.message] : [];
  });
  return { loop: 'observer', followers: reports, stoppedAtDeadline, unreachable, reads: repoReads(ctx, repoRequests, refs, held) };
};

/**
 * The refs of every repository not held by mirror back-pressure; a held one answers `throttled`
 * without being read. A mirror that asks for back-pressure in this read is remembered in the
 * state store (compare-and-swap, re-read once on a conflict), so no tick reads it before then.
 */
const readRefs = async (ctx: LoopContext, requests: readonly RepoRequest[], holdsRead: HoldsRead): Promise<{ refs: Map<string, Map<string, SourceObservation>>; held: ReadonlySet<string> }> => {
  const now = ctx.now();
  if ('corrupt' in holdsRead) ctx.log(`mirror holds unreadable, every repository is read: ${holdsRead.corrupt.where}: ${holdsRead.corrupt.message}`);
  const held = 'holds' in holdsRead ? activeHolds(holdsRead.holds, now) : new Map<string, MirrorHold>();
  const refs = await ctx.ports.refs.readMany(requests.filter((r) => !held.has(r.repo)));
  for (const r of requests) {
    const hold = held.get(r.repo);
    if (hold) refs.set(r.repo, new Map(r.branches.map((b) => [b, { kind: 'throttled', until: hold.until, message: hold.reason }])));
  }
  const fresh: FreshHold[] = [];
  for (const [repo, answers] of refs) {
    if (held.has(repo)) continue;
    const t = [...answers.values()].find((o) => o.kind === 'throttled');
    if (t?.kind === 'throttled') fresh.push({ repo, until: t.until, reason: t.message });
  }
  if (fresh.length > 0 && !ctx.dryRun) await rememberHolds(ctx, holdsRead, fresh);
  return { refs, held: new Set(held.keys()) };
};

/** Each repository's read, as the tick metrics count it: its outcome, and seconds when it was read. */
const repoReads = (ctx: LoopContext, requests: readonly RepoRequest[], refs: Map<string, Map<string, SourceObservation>>, held: ReadonlySet<string>): RepoRead[] => {
  const seconds = ctx.ports.refs.lastReadSeconds?.() ?? new Map<string, number>();
  return requests.flatMap((r): RepoRead[] => {
    if (!RepoName.safeParse(r.repo).success) return [];
    const outcome = readOutcomeOf([...(refs.get(r.repo)?.values() ?? [])], held.has(r.repo));
    return outcome === null ? [] : [[r.repo, outcome, outcome === 'held' ? null : (seconds.get(r.repo) ?? null)]];
  });
};

const rememberHolds = async (ctx: LoopContext, first: HoldsRead, fresh: readonly FreshHold[]): Promise<void> => {
  let read = first;
  for (let round = 0; round < 2; round++) {
    const base = 'holds' in read ? read.holds : NO_HOLDS;
    const next = nextHolds(base, fresh, ctx.now());
    if (next === null) return;
    try {
      await ctx.ports.holds.write(next, read.version);
      return;
    } catch (e) {
      if (!(e instanceof ConflictError) || round > 0) {
        ctx.log(`could not remember mirror back-pressure (${(e as Error).message}); the next tick may read those repositories early`);
        return;
      }
      read = await ctx.ports.holds.read();
    }
  }
};

const writerKey = (w: Writer): string => JSON.stringify(w);

/**
 * Liveness of the writers of pending dispatches that were never made, asked once per writer and
 * tick, and this tick's own identity, as values for the pure core. A dispatch that exists is
 * adopted whoever wrote it, so its writer is not asked about; nor is this tick itself.
 */
const writerLiveness = (ctx: LoopContext) => {
  const probe = ctx.ports.writers;
  const asked = new Map<string, Promise<WriterLiveness>>();
  const settled = new Map<string, WriterLiveness>();
  return {
    async probe(state: FollowerState | null, reading: (name: string) => StageReading | undefined): Promise<void> {
      const p = state?.pending;
      if (!probe || !p?.writer) return;
      const r = reading(p.name)?.result;
      if (r !== undefined && r !== 'NONE') return;
      const k = writerKey(p.writer);
      if (probe.self && writerKey(probe.self) === k) {
        settled.set(k, 'alive');
        return;
      }
      // A probe that fails tells nothing: the lease decides.
      if (!asked.has(k)) asked.set(k, probe.liveness(p.writer).catch((): WriterLiveness => 'unknown'));
      settled.set(k, await (asked.get(k) as Promise<WriterLiveness>));
    },
    observe(state: FollowerState | null): Pick<Observation, 'self' | 'pendingWriter'> {
      const w = state?.pending?.writer;
      const l = w ? settled.get(writerKey(w)) : undefined;
      return { ...(probe?.self ? { self: probe.self } : {}), ...(l ? { pendingWriter: l } : {}) };
    },
  };
};

const sourceSection = (p: Prepared): SourceSection | null =>
  p.resolution.ok ? p.resolution.spec.source : (p.resolution.source ?? null);

const sourceOf = (p: Prepared, refs: Map<string, Map<string, SourceObservation>>): SourceObservation => {
  const src = sourceSection(p);
  if (!src) return { kind: 'invalid', message: p.resolution.ok ? 'no source' : p.resolution.message };
  const { repo, branch } = src;
  return refs.get(repo)?.get(branch) ?? { kind: 'unreachable', message: `no ref read for ${repo}` };
};

const observeOne = async (
  ctx: LoopContext,
  p: Prepared,
  start: Entry,
  gate: Gate,
  observationFor: (p: Prepared, s: FollowerState | null, extra: Map<string, StageReading>) => Promise<Observation>,
  gateNow: (id: string) => Promise<Gate>,
): Promise<FollowerReport> => {
  const id = p.follower.id;
  const extra = new Map<string, StageReading>();
  let decision: Decision | null = null;
  let effects: Effect[] = [];
  const compute = async (state: FollowerState | null): Promise<FollowerState> => {
    // A state re-read after a conflict may name a dispatch this tick has not read yet.
    const name = runName(state);
    if (name && !extra.has(name)) {
      const read = await ctx.ports.dispatcher.statuses([name]);
      const r = read.get(name);
      if (r) extra.set(name, r);
    }
    const r = observe(state, await observationFor(p, state, extra), gate, p.policy, ctx.now());
    decision = r.decision;
    effects = r.effects;
    // Cancels happen before the write: a crash after them repeats an idempotent delete,
    // never leaves an old run alive beside a new one.
    if (!ctx.dryRun) for (const e of r.effects) if (e.kind === 'cancel') await ctx.ports.dispatcher.cancel(e.name);
    return r.state;
  };

  if (ctx.dryRun) {
    const next = await compute(start.state);
    return report(id, next, decision, false, null);
  }

  const out = await casApply(ctx, id, start, compute);
  if (out.kind === 'corrupt') return { ...report(id, null, decision, false, null), error: `corrupt stored state, left for a person: ${out.where}: ${out.message}`, corrupt: true };
  if (out.kind === 'gave-up') return { ...report(id, out.entry.state, decision, false, null), error: 'write conflicts persisted; retried next tick' };
  const entry = out.entry;
  const wrote = out.kind === 'written';
  const d = effects.find((e) => e.kind === 'dispatch');
  if (!d || !entry.state) return report(id, entry.state, decision, wrote, null);

  const g = await gateNow(id);
  if (!g.armed) return { ...report(id, entry.state, decision, wrote, null), reason: `${g.reason}; dispatch held back (the next tick records it)` };
  if (!p.resolution.ok) return report(id, entry.state, decision, wrote, null);
  const spec = p.resolution.spec;
  let result;
  try {
    result = await ctx.ports.dispatcher.dispatch({
      followerId: id,
      sha: d.sha,
      episode: d.episode,
      attempt: d.attempt,
      name: d.name,
      argv: p.follower.command,
      repo: spec.source.repo,
      branch: spec.source.branch,
      budgets: p.policy.budgets,
      ...(spec.runner ? { runner: spec.runner } : {}),
    });
  } catch (e) {
    const message = (e as Error).message;
    const failed = await casApply(ctx, id, entry, (s) => (s ? dispatchFailed(s, d.name, message, ctx.now()) : s));
    const state = failed.kind === 'written' || failed.kind === 'unchanged' ? failed.entry.state : entry.state;
    return { ...report(id, state, decision, wrote, null), error: `dispatch of ${d.name} failed: ${message}` };
  }
  const rec = await casApply(ctx, id, entry, (s) => (s ? dispatched(s, { name: result.name, kind: result.kind, startedAt: result.startedAt }, ctx.now()) : s));
  const state = rec.kind === 'written' || rec.kind === 'unchanged' ? rec.entry.state : entry.state;
  return report(id, state, decision, true, `${result.name}${result.adopted ? ' (adopted)' : ''}`);
};

const report = (id: string, state: FollowerState | null, decision: Decision | null, wrote: boolean, dispatchedName: string | null): FollowerReport => ({
  id,
  phase: state?.phase ?? null,
  decision,
  reason: state?.reason ?? '',
  wrote,
  dispatched: dispatchedName,
  error: null,
  state,
});
