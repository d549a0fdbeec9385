import { setTimeout as sleep } from 'node:timers/promises';
import type { FollowerState } from '../core/state.ts';
import { closerTick } from './closer.ts';
import type { LoopContext } from './context.ts';
import { observerTick, type FollowerReport } from './observer.ts';
import { reportLine } from './report-line.ts';

export type RunOnceOptions = {
  only?: ReadonlySet<string>;
  wait: boolean;
  pollMs: number;
  /** Give up waiting after this long (the run itself is bounded by its budgets anyway). */
  timeoutMs: number;
  progress: (line: string) => void;
};

/** Per follower, its latest report, with `dispatched` and `wrote` covering every tick of the run. */
export type RunOnceResult = { followers: FollowerReport[]; timedOut: boolean };

/** Still moving: a dispatch pending or in flight, or a failure the observer retries next. */
const unsettled = (s: FollowerState | null): boolean =>
  !!s && (s.phase === 'PendingTrigger' || s.inFlight !== null || s.pending !== null || s.phase === 'Failed');

/**
 * One observer tick and one closer tick for the chosen followers; with `wait`, keeps ticking
 * until each run ends (Succeeded, Failed past its retries, Blocked, ...), printing progress.
 */
export const runOnce = async (ctx: LoopContext, o: RunOnceOptions): Promise<RunOnceResult> => {
  const latest = new Map<string, FollowerReport>();
  const seen = new Map<string, string>();
  const absorb = (reports: FollowerReport[]): void => {
    for (const r of reports) {
      // The result tells what the whole run-once did: a dispatch or a write in an earlier tick
      // stays told after later ticks that only waited.
      const before = latest.get(r.id);
      latest.set(r.id, { ...r, dispatched: r.dispatched ?? before?.dispatched ?? null, wrote: r.wrote || (before?.wrote ?? false) });
      const line = reportLine(r);
      if (seen.get(r.id) !== line) {
        seen.set(r.id, line);
        o.progress(line);
      }
    }
  };
  const started = ctx.now();
  absorb((await observerTick(ctx, o.only)).followers);
  if (ctx.dryRun) {
    // The closer's verdicts for runs already in flight, still without writing anything.
    absorb((await closerTick(ctx, o.only)).followers);
    return { followers: [...latest.values()], timedOut: false };
  }
  absorb((await closerTick(ctx, o.only)).followers);
  let timedOut = false;
  while (o.wait && [...latest.values()].some((r) => unsettled(r.state))) {
    if (ctx.now() - started > o.timeoutMs) {
      timedOut = true;
      break;
    }
    await sleep(o.pollMs);
    absorb((await closerTick(ctx, o.only)).followers);
    absorb((await observerTick(ctx, o.only)).followers);
  }
  return { followers: [...latest.values()], timedOut };
};
