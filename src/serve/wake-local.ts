import { closerTick } from '../loops/closer.ts';
import { runTick } from '../loops/tick-record.ts';
import type { LoopContext } from '../loops/context.ts';
import { observerTick, type TickReport } from '../loops/observer.ts';
import { reportLine } from '../loops/report-line.ts';
import { createCoalescer } from './coalescer.ts';
import type { PushWake } from './push-route.ts';

/** How often a run this server dispatched is looked at until it exits (reads its run directory only). */
export const RUN_POLL_MS = 200;

export type Waker = {
  wake(w: PushWake): void;
  /** Resolves once no woken tick runs or waits. */
  idle(): Promise<void>;
};

const CLOSER_KEY = 'closer';

/**
 * The local driver's waker: a push runs an observer tick in this process for the pushed
 * repository's followers, exactly the tick `branch-follower tick observer` runs (the same loop,
 * the same per-follower state locks and compare-and-swap writes, so it may race a scheduled tick
 * harmlessly). A run it dispatched is watched until its process exits, which wakes the closer.
 */
export const createLocalWaker = (o: { context: () => Promise<LoopContext>; log: (line: string) => void; signal: AbortSignal }): Waker => {
  const logTick = (what: string, r: TickReport): void => {
    for (const f of r.followers) o.log(`serve: ${what} ${reportLine(f)}`);
    for (const u of r.unreachable) o.log(`serve: git mirror unreadable: ${u}`);
  };
  const closer = createCoalescer<null>({
    run: async () => {
      const ctx = await o.context();
      logTick('closer', await runTick(ctx, 'closer', () => closerTick(ctx)));
    },
    merge: () => null,
    log: o.log,
  });
  const untilExit = async (ctx: LoopContext, names: readonly string[]): Promise<void> => {
    let left = [...names];
    while (left.length > 0 && !o.signal.aborted) {
      await new Promise((r) => setTimeout(r, RUN_POLL_MS));
      const read = await ctx.ports.dispatcher.statuses(left);
      const ended = left.filter((n) => read.get(n)?.result !== 'PENDING');
      if (ended.length > 0) closer.poke(CLOSER_KEY, null);
      left = left.filter((n) => !ended.includes(n));
    }
  };
  const observer = createCoalescer<PushWake>({
    async run(_key, w) {
      const ctx = await o.context();
      const r = await runTick(ctx, 'observer', () => observerTick(ctx, new Set(w.followers)));
      logTick('observer', r);
      const names = r.followers.flatMap((f) => (f.dispatched && f.state?.inFlight ? [f.state.inFlight.name] : []));
      if (names.length > 0) void untilExit(ctx, names).catch((e: unknown) => o.log(`serve: watching ${names.join(', ')} failed: ${(e as Error).message}`));
    },
    merge: (a, b) => ({ key: b.key, sha: b.sha, followers: [...new Set([...a.followers, ...b.followers])] }),
    log: o.log,
  });
  return {
    wake: (w) => observer.poke(w.key, w),
    async idle() {
      await observer.idle();
      await closer.idle();
    },
  };
};
