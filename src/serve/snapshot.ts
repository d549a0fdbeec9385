import { gateFor } from '../core/arming.ts';
import type { LoopContext } from '../loops/context.ts';
import { status, type StatusResult } from '../loops/status.ts';
import type { TickTotals } from '../core/tick-metrics.ts';
import type { TickLog } from '../adapters/ports.ts';

/** What every read-only route shows: the status view of one read of the state store, and when it was read. */
export type Snapshot = StatusResult & {
  /** Epoch ms of the read. */
  at: number;
  /** Both arming gates open, per follower. */
  armed: ReadonlyMap<string, boolean>;
  /** budgets.maxAttempts per follower, as resolved from the registry. */
  maxAttempts: ReadonlyMap<string, number>;
  /** The tick totals as last read (at most once a TICKS_TTL_MS); null before the first good read or without a tick log. */
  ticks: TickTotals | null;
};

/**
 * How long tick totals are reused. On Kubernetes reading them lists the tick pods (and may write
 * the totals back); ticks end once a minute per loop, so reading more often would show nothing new.
 */
export const TICKS_TTL_MS = 15_000;

/** The tick totals, read at most once a `ttlMs`; a failed read keeps the last good totals, and is logged. */
const cachedTickTotals = (ctx: LoopContext, ttlMs: number, log: (line: string) => void, keeper: TickLog | undefined): (() => Promise<TickTotals | null>) => {
  let last: TickTotals | null = null;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<TickTotals | null> | null = null;
  return async () => {
    const source = keeper ?? ctx.ports.ticks;
    if (!source) return null;
    if (reading) return reading;
    const now = ctx.now();
    if (now - readAt < ttlMs && now >= readAt) return last;
    readAt = now;
    const p = (keeper ? keeper.collect() : source.totals()).then(
      (t) => (last = t),
      (e: unknown) => {
        log(`serve: reading the tick totals failed (${e instanceof Error ? `${e.name}: ${e.message}` : 'error'}); the tick metrics are from ${last ? 'the last good read' : 'no read yet'}`);
        return last;
      },
    );
    reading = p;
    void p.finally(() => {
      if (reading === p) reading = null;
    });
    return p;
  };
};

export type SnapshotSource = { get(): Promise<Snapshot> };

/**
 * One status read (a LIST of the states, a GET of the arming and of the mirror holds) shared by
 * every request within `ttlMs` of it: Prometheus scraping from several replicas and people on the
 * page then cost at most one read a TTL, whatever the number of requests. Past the TTL the next
 * request starts one new read and, like every request while it runs, is answered from the last
 * one (at 1,000 followers a read takes a while; a scrape should not wait on it); only the very
 * first read is waited for. A failed read is not kept, so a later request tries again.
 */
export const cachedSnapshots = (ctx: LoopContext, ttlMs: number, log: (line: string) => void = () => {}, ticksKeeper?: TickLog): SnapshotSource => {
  let last: Snapshot | null = null;
  let refreshing: Promise<Snapshot> | null = null;
  // When the last read started, failed ones included: a failing API server is asked once a TTL, not once a request.
  let triedAt = Number.NEGATIVE_INFINITY;
  const read = async (at: number): Promise<Snapshot> => {
    const [r, t] = await Promise.all([status(ctx, { live: false }), ticks()]);
    return {
      ticks: t,
      ...r,
      at,
      armed: new Map(r.rows.map((row) => [row.id, gateFor(r.arming, row.id).armed])),
      maxAttempts: new Map(r.rows.map((row) => [row.id, row.budget.maxAttempts])),
    };
  };
  const fresh = (at: number, now: number): boolean => now - at < ttlMs && now >= at;
  let failure: unknown = null;
  const ticks = cachedTickTotals(ctx, TICKS_TTL_MS, log, ticksKeeper);
  return {
    async get() {
      const now = ctx.now();
      if (!refreshing && !fresh(triedAt, now)) {
        triedAt = now;
        const p = read(now).then(
          (s) => {
            if (!last || s.at >= last.at) last = s;
            failure = null;
            return s;
          },
          (e: unknown) => {
            failure = e;
            // The name only, as the server logs a failed request: a message might carry what the store held.
            log(`serve: reading the state store failed (${e instanceof Error ? e.name : 'error'})${last ? `; answering from the read of ${new Date(last.at).toISOString()}` : ''}`);
            throw e;
          },
        );
        refreshing = p;
        void p.catch(() => {}).finally(() => {
          if (refreshing === p) refreshing = null;
        });
      }
      if (last) return last;
      if (refreshing) return refreshing;
      // Nothing read yet, and the last try failed within the TTL: answer with that failure.
      throw failure;
    },
  };
};
