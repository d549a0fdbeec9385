import type { FollowerEvent } from '../adapters/ports.ts';
import { entryOf } from './cas.ts';
import type { LoopContext } from './context.ts';

/**
 * A follower's transitions: the emitted events merged with the history stored in its state
 * (events may have been lost to an API fault; history is bounded), oldest first, each once.
 */
export const listEvents = async (ctx: LoopContext, id: string): Promise<FollowerEvent[]> => {
  const [events, stored] = await Promise.all([ctx.ports.events.list(id), ctx.ports.store.get(id)]);
  const e = entryOf(stored);
  const history: FollowerEvent[] = 'corrupt' in e || !e.state ? [] : e.state.history.map((t) => ({ ...t, id, source: 'history' as const }));
  const key = (t: FollowerEvent): string => `${t.at}|${t.from}|${t.to}|${t.sha ?? ''}`;
  const merged = new Map<string, FollowerEvent>();
  for (const t of [...history, ...events]) if (!merged.has(key(t))) merged.set(key(t), t);
  return [...merged.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
};

/** The run in flight's log, else the newest run's; with `attempt`, the newest run of that attempt. */
export const readLogs = async (ctx: LoopContext, id: string, attempt?: number): Promise<string> => {
  const e = entryOf(await ctx.ports.store.get(id));
  const inFlight = 'corrupt' in e ? null : (e.state?.inFlight ?? null);
  const run = inFlight && (attempt === undefined || inFlight.attempt === attempt) ? inFlight : null;
  return ctx.ports.logs.logs(id, run, attempt === undefined ? undefined : { attempt });
};
