import { summarizeTick, type TickFacts, type TickLoop } from '../core/tick-metrics.ts';
import { startStopwatch } from '../stopwatch.ts';
import type { LoopContext } from './context.ts';
import type { TickReport } from './observer.ts';

/** The facts of a finished tick the metrics count (core/tick-metrics.ts), from its report. */
const factsOf = (r: TickReport): Omit<TickFacts, 'loop' | 'at' | 'seconds' | 'threw'> => ({
  corrupt: r.followers.some((f) => f.corrupt),
  followerError: r.followers.some((f) => f.error),
  stoppedAtDeadline: r.stoppedAtDeadline,
  mirrorUnreadable: r.unreachable.length > 0,
  blocked: r.followers.some((f) => f.phase === 'Blocked'),
  reads: r.reads ?? [],
});

const NOTHING: Omit<TickFacts, 'loop' | 'at' | 'seconds' | 'threw'> = { corrupt: false, followerError: false, stoppedAtDeadline: false, mirrorUnreadable: false, blocked: false, reads: [] };

/**
 * Runs one tick and leaves its summary for the metrics (ports.ticks), whether it finished or
 * threw. Recording is never the tick's outcome: a failure to record is logged, and a dry run
 * records nothing. Seconds are the tick's work, from here to its end (not the process's start-up).
 */
export const runTick = async (ctx: LoopContext, loop: TickLoop, tick: () => Promise<TickReport>): Promise<TickReport> => {
  const at = ctx.now();
  const elapsed = startStopwatch();
  const record = async (threw: boolean, facts: Omit<TickFacts, 'loop' | 'at' | 'seconds' | 'threw'>): Promise<void> => {
    if (!ctx.ports.ticks || ctx.dryRun) return;
    try {
      await ctx.ports.ticks.record(summarizeTick({ loop, at, seconds: elapsed(), threw, ...facts }));
    } catch (e) {
      ctx.log(`the tick's metrics were not recorded: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  let r: TickReport;
  try {
    r = await tick();
  } catch (e) {
    await record(true, NOTHING);
    throw e;
  }
  await record(false, factsOf(r));
  return r;
};
