import { z } from 'zod';
import type { Phase } from './phases.ts';
import { IsoTime, fromIso, toIso } from './primitives.ts';

/**
 * Counters kept in a follower's state for `/metrics`. The history is bounded (the last 50
 * transitions), so a count derived from it would fall when an old entry drops out: Prometheus
 * counters must never fall, across ticks and restarts of `serve`, so they are counted here, once,
 * as each transition is made (every phase change goes through `transition`), and only ever grow.
 * A state written before this field existed reads as all zeros, counted from then on.
 */

/** Why a follower is Blocked, as a closed set: a metric label, never free text. */
export const BLOCKED_KINDS = ['attempts-exhausted', 'source-missing', 'source-config', 'mirror-untrusted', 'target-config', 'target-unreadable', 'other'] as const;
export const BlockedKind = z.enum(BLOCKED_KINDS);
export type BlockedKind = z.infer<typeof BlockedKind>;

/** How a run (a dispatch) ended: the label values of `branch_follower_runs_total`. */
export const RUN_RESULTS = ['succeeded', 'failed', 'superseded', 'blocked'] as const;
export type RunResult = (typeof RUN_RESULTS)[number];

/**
 * Upper bounds (seconds) of the lead-time histogram, from the first observation of a sha to its
 * Succeeded: a minute (a fast deploy seen on the next tick) to a day (a deploy that waited for a
 * person). Fixed, because the stored bucket counts must keep meaning the same buckets.
 */
export const LEAD_TIME_BUCKETS_SECONDS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400] as const;

const Count = z.number().int().min(0);

export const Tally = z
  .object({
    /** Dispatches made: entries into Triggering. */
    dispatches: Count,
    results: z.object({ succeeded: Count, failed: Count, superseded: Count, blocked: Count }).strict(),
    /** Entries into Blocked, by kind. */
    blocked: z.object(Object.fromEntries(BLOCKED_KINDS.map((k) => [k, Count])) as Record<BlockedKind, typeof Count>).strict(),
    /** The kind of the current Blocked phase; null in every other phase. */
    blockedKind: BlockedKind.nullable(),
    /** Lead times observed: `buckets[i]` counts those ≤ LEAD_TIME_BUCKETS_SECONDS[i] and above the bound before (the last: above every bound). */
    leadTime: z
      .object({ buckets: z.array(Count).length(LEAD_TIME_BUCKETS_SECONDS.length + 1), sumSeconds: z.number().min(0), count: Count })
      .strict(),
    /** When the follower first observed its current sha in this visit of the branch (the episode's start). */
    observedSince: IsoTime.nullable(),
    /** When the target started reporting the sha it reports now (as this follower saw it). */
    targetSince: IsoTime.nullable(),
    lastSucceededAt: IsoTime.nullable(),
  })
  .strict();
export type Tally = z.infer<typeof Tally>;

export const EMPTY_TALLY: Tally = {
  dispatches: 0,
  results: { succeeded: 0, failed: 0, superseded: 0, blocked: 0 },
  blocked: Object.fromEntries(BLOCKED_KINDS.map((k) => [k, 0])) as Record<BlockedKind, number>,
  blockedKind: null,
  leadTime: { buckets: LEAD_TIME_BUCKETS_SECONDS.map(() => 0).concat(0), sumSeconds: 0, count: 0 },
  observedSince: null,
  targetSince: null,
  lastSucceededAt: null,
};

/** The bucket a lead time falls in: the first bound it does not exceed, else the overflow bucket. */
export const leadTimeBucket = (seconds: number): number => {
  const i = LEAD_TIME_BUCKETS_SECONDS.findIndex((b) => seconds <= b);
  return i === -1 ? LEAD_TIME_BUCKETS_SECONDS.length : i;
};

const RUN_PHASES: readonly Phase[] = ['Triggering', 'ClosingOut'];

/**
 * Counts one phase change (`from` ≠ `to`) made at `now`. Only ever adds: a rollback, a revisit or
 * a retry is one more run, never a reset.
 */
export const countTransition = (t: Tally | undefined, from: Phase, to: Phase, now: number, blocked: BlockedKind | undefined): Tally => {
  const c = t ?? EMPTY_TALLY;
  const fromRun = RUN_PHASES.includes(from);
  let next: Tally = { ...c, blockedKind: to === 'Blocked' ? (blocked ?? 'other') : null };
  switch (to) {
    case 'Triggering':
      if (!fromRun) next = { ...next, dispatches: c.dispatches + 1 };
      break;
    case 'Succeeded': {
      next = { ...next, results: { ...c.results, succeeded: c.results.succeeded + 1 }, lastSucceededAt: toIso(now) };
      if (c.observedSince !== null) {
        // Clocks of two ticks on two pods may disagree a little: a lead time is never negative.
        const seconds = Math.max(0, (now - fromIso(c.observedSince)) / 1000);
        const i = leadTimeBucket(seconds);
        next = {
          ...next,
          leadTime: { buckets: c.leadTime.buckets.map((n, j) => (j === i ? n + 1 : n)), sumSeconds: c.leadTime.sumSeconds + seconds, count: c.leadTime.count + 1 },
        };
      }
      break;
    }
    case 'Failed':
      next = { ...next, results: { ...c.results, failed: c.results.failed + 1 } };
      break;
    case 'Superseded':
      next = { ...next, results: { ...c.results, superseded: c.results.superseded + 1 } };
      break;
    case 'Blocked': {
      const kind = blocked ?? 'other';
      next = { ...next, blocked: { ...c.blocked, [kind]: c.blocked[kind] + 1 } };
      // A run that ends Blocked (its last attempt failed) is a result too; a settled follower
      // that becomes Blocked (a missing branch) ran nothing.
      if (fromRun) next = { ...next, results: { ...next.results, blocked: c.results.blocked + 1 } };
      break;
    }
    default:
      break;
  }
  return next;
};

/**
 * Notes when the observed sha's visit began and when the target's report changed, from one
 * stored state to the next: both are facts of the state, dated by the tick that saw them change.
 */
export const trackSince = (
  t: Tally | undefined,
  before: { observedSha: string | null; episode: number; targetSha: string | null } | null,
  after: { observedSha: string | null; episode: number; targetSha: string | null },
  now: number,
): Tally | undefined => {
  const observedMoved = after.observedSha !== null && (before === null || before.observedSha !== after.observedSha || before.episode !== after.episode);
  const targetMoved = after.targetSha !== null && (before === null || before.targetSha !== after.targetSha);
  if (!observedMoved && !targetMoved && (after.targetSha !== null || t?.targetSince == null)) return t;
  const c = t ?? EMPTY_TALLY;
  return {
    ...c,
    observedSince: observedMoved ? toIso(now) : c.observedSince,
    targetSince: targetMoved ? toIso(now) : after.targetSha === null ? null : c.targetSince,
  };
};
