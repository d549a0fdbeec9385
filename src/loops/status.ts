import { gateFor, type ArmingRead } from '../core/arming.ts';
import { NO_HOLDS } from '../core/mirror-holds.ts';
import { mirrorStatus, statusRow, type MirrorStatus, type StatusRow } from '../core/status-view.ts';
import type { FollowerState } from '../core/state.ts';
import { entryOf } from './cas.ts';
import type { LoopContext } from './context.ts';
import { prepareFollowers } from './prepare.ts';
import { runOnce } from './run-once.ts';

/** `corrupt`: stored state that fails its schema, left for a person (bad input); `error`: a live read failed. */
export type StatusProblem = { kind: 'corrupt' | 'error'; text: string };
export type StatusResult = {
  rows: StatusRow[];
  problems: StatusProblem[];
  arming: ArmingRead;
  mirror: MirrorStatus;
  /** The states the rows were made from (for what a row leaves out: history, counters). */
  states: ReadonlyMap<string, FollowerState>;
  /** Followers whose stored state fails its schema. */
  corrupt: ReadonlySet<string>;
};

/**
 * The status view. By default it reads only the state store (and the arming data); `live`
 * adds fresh git-mirror and adapter reads through a dry-run tick, which writes nothing.
 */
export const status = async (ctx: LoopContext, o: { live: boolean; only?: ReadonlySet<string> }): Promise<StatusResult> => {
  const prepared = await prepareFollowers(ctx, o.only);
  const [stored, arming, holdsRead] = await Promise.all([ctx.ports.store.list(), ctx.ports.arming.read(), ctx.ports.holds.read()]);
  const problems: StatusProblem[] = [];
  if ('corrupt' in holdsRead) problems.push({ kind: 'corrupt', text: `mirror holds unreadable: ${holdsRead.corrupt.where}: ${holdsRead.corrupt.message}` });
  const mirror = mirrorStatus('holds' in holdsRead ? holdsRead.holds : NO_HOLDS, ctx.now());
  const states = new Map<string, FollowerState>();
  const corrupt = new Set<string>();
  for (const s of stored) {
    const e = entryOf(s);
    if ('corrupt' in e) {
      corrupt.add(s.id);
      problems.push({ kind: 'corrupt', text: `${s.id}: corrupt stored state, left for a person: ${e.corrupt.where}: ${e.corrupt.message}` });
    } else if (e.state) states.set(s.id, e.state);
  }
  if (o.live) {
    if (!ctx.dryRun) throw new Error('status --live runs on dry-run ports only');
    const live = await runOnce(ctx, { only: o.only, wait: false, pollMs: 0, timeoutMs: 0, progress: () => {} });
    for (const r of live.followers) {
      if (r.state) states.set(r.id, r.state);
      if (r.error) problems.push({ kind: r.corrupt ? 'corrupt' : 'error', text: `${r.id}: ${r.error}` });
    }
  }
  const rows = prepared.map((p) =>
    statusRow({
      id: p.follower.id,
      adapter: p.follower.adapter,
      source: p.resolution.ok ? p.resolution.spec.source : null,
      budgets: p.budgets,
      state: states.get(p.follower.id) ?? null,
      gate: gateFor(arming.read, p.follower.id),
    }),
  );
  return { rows, problems, arming: arming.read, mirror, states, corrupt };
};
