import { z } from 'zod';
import type { MetricFamily } from './metrics.ts';
import type { SourceObservation } from './observe.ts';
import { RepoName } from './primitives.ts';

/**
 * Metrics of the ticks themselves: how many ran, per loop and outcome, how long they took, and how
 * each repository's ref read went. A tick writes a small summary of itself (`TickSummary`); the
 * summaries are folded into monotonic totals (`TickTotals`) that are kept in the state store, so
 * `/metrics` counters never fall, across ticks and restarts of `serve`.
 *
 * Where a summary goes is the driver's business (the local driver folds it into a file under a
 * lock; a Kubernetes tick writes it as its container's termination message, which `serve` folds
 * into a ConfigMap): an idle tick on Kubernetes still makes no write to the API server.
 */

export const TICK_LOOPS = ['observer', 'closer'] as const;
export type TickLoop = (typeof TICK_LOOPS)[number];

/**
 * How a tick ended, worst first (the order of the tick's exit codes): `error` it did not finish
 * (an exception: the API server or the registry could not be read); `corrupt-state` a stored state
 * fails its schema; `follower-error` a follower had an error; `deadline` it stopped at its
 * deadline; `mirror-unreadable` a repository could not be read; `blocked` a follower is Blocked.
 */
export const TICK_OUTCOMES = ['ok', 'blocked', 'mirror-unreadable', 'deadline', 'follower-error', 'corrupt-state', 'error'] as const;
export type TickOutcome = (typeof TICK_OUTCOMES)[number];

/**
 * How one repository's ref read went: read (`ok`, a missing branch included), `unreachable`,
 * `untrusted` (an answer refused), `throttled` (the mirror asked for back-pressure), or `held`
 * (not read: an earlier back-pressure hold still runs).
 */
export const READ_OUTCOMES = ['ok', 'unreachable', 'untrusted', 'throttled', 'held'] as const;
export type ReadOutcome = (typeof READ_OUTCOMES)[number];

/** Upper bounds (seconds) of the tick-duration histogram: a warm idle tick to the 200 s deadline. */
export const TICK_DURATION_BUCKETS_SECONDS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300] as const;

/** Termination messages are cut by the kubelet at 4096 bytes; a summary is made to fit. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;

const Seconds = z.number().min(0).max(1e7);
const Count = z.number().int().min(0);

/** One repository's read in one tick: [repository, outcome, seconds]; seconds null when it was not read (held). */
export const RepoRead = z.tuple([RepoName, z.enum(READ_OUTCOMES), Seconds.nullable()]);
export type RepoRead = z.infer<typeof RepoRead>;

/** What one tick says of itself: short keys, because on Kubernetes it must fit 4096 bytes. */
export const TickSummary = z
  .object({
    v: z.literal(1),
    loop: z.enum(TICK_LOOPS),
    outcome: z.enum(TICK_OUTCOMES),
    /** When the tick started, epoch ms. */
    at: z.number().int().min(0),
    seconds: Seconds,
    reads: z.array(RepoRead),
    /** Reads left out to fit the message (the quickest `ok` ones go first). */
    dropped: Count,
  })
  .strict();
export type TickSummary = z.infer<typeof TickSummary>;

const Histogram = z.object({ buckets: z.array(Count).length(TICK_DURATION_BUCKETS_SECONDS.length + 1), sumSeconds: z.number().min(0), count: Count }).strict();
type Histogram = z.infer<typeof Histogram>;

const perOutcome = <T extends readonly [string, ...string[]]>(keys: T) => z.object(Object.fromEntries(keys.map((k) => [k, Count])) as Record<T[number], typeof Count>).strict();

const LoopTotals = z
  .object({
    ticks: perOutcome(TICK_OUTCOMES),
    duration: Histogram,
    /** When the last tick folded in started, epoch ms; null before the first. */
    lastAt: z.number().int().min(0).nullable(),
  })
  .strict();

const RepoTotals = z
  .object({
    reads: perOutcome(READ_OUTCOMES),
    last: z.object({ outcome: z.enum(READ_OUTCOMES), seconds: Seconds.nullable(), at: z.number().int().min(0) }).strict(),
  })
  .strict();
export type RepoTotals = z.infer<typeof RepoTotals>;

/** How many folded summaries' ids are remembered, so a summary read twice is counted once. */
export const COUNTED_IDS_KEPT = 512;

export const TickTotals = z
  .object({
    schemaVersion: z.literal(1),
    loops: z.object({ observer: LoopTotals, closer: LoopTotals }).strict(),
    repos: z.record(RepoName, RepoTotals),
    /** Ids of the summaries folded in, oldest first (on Kubernetes: the tick pods' uids). */
    counted: z.array(z.string().min(1).max(128)).max(COUNTED_IDS_KEPT),
    /** Summaries that did not pass their schema, never folded in. */
    unreadable: Count,
  })
  .strict();
export type TickTotals = z.infer<typeof TickTotals>;

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
const emptyLoop = (): z.infer<typeof LoopTotals> => ({
  ticks: zeros(TICK_OUTCOMES),
  duration: { buckets: [...TICK_DURATION_BUCKETS_SECONDS, 0].map(() => 0), sumSeconds: 0, count: 0 },
  lastAt: null,
});

export const EMPTY_TICK_TOTALS: TickTotals = { schemaVersion: 1, loops: { observer: emptyLoop(), closer: emptyLoop() }, repos: {}, counted: [], unreadable: 0 };

/** The facts of a finished tick the summary is made from (the loop's report, reduced). */
export type TickFacts = {
  loop: TickLoop;
  at: number;
  seconds: number;
  /** The tick threw before it finished. */
  threw: boolean;
  corrupt: boolean;
  followerError: boolean;
  stoppedAtDeadline: boolean;
  mirrorUnreadable: boolean;
  blocked: boolean;
  reads: readonly RepoRead[];
};

/** The outcome of a tick: its worst fact. */
export const tickOutcomeOf = (f: Omit<TickFacts, 'loop' | 'at' | 'seconds' | 'reads'>): TickOutcome =>
  f.threw ? 'error' : f.corrupt ? 'corrupt-state' : f.followerError ? 'follower-error' : f.stoppedAtDeadline ? 'deadline' : f.mirrorUnreadable ? 'mirror-unreadable' : f.blocked ? 'blocked' : 'ok';

const round3 = (s: number): number => Math.round(Math.max(0, s) * 1000) / 1000;

export const summarizeTick = (f: TickFacts): TickSummary => ({
  v: 1,
  loop: f.loop,
  outcome: tickOutcomeOf(f),
  at: Math.max(0, Math.floor(f.at)),
  seconds: round3(f.seconds),
  reads: f.reads.map(([repo, outcome, s]) => [repo, outcome, s === null ? null : round3(s)] as RepoRead),
  dropped: 0,
});

const bytes = (text: string): number => new TextEncoder().encode(text).length;

/**
 * The summary as JSON of at most `maxBytes` UTF-8 bytes (a termination message). When every read
 * does not fit, reads are left out, the quickest `ok` ones first, so what is kept is what a person
 * looks for (failures and slow repositories), and `dropped` says how many went.
 */
export const encodeSummary = (s: TickSummary, maxBytes = TERMINATION_MESSAGE_MAX_BYTES): string => {
  const whole = JSON.stringify(s);
  if (bytes(whole) <= maxBytes) return whole;
  // Kept in order of interest: not ok first, then the slowest.
  const ranked = [...s.reads].sort((a, b) => Number(a[1] === 'ok') - Number(b[1] === 'ok') || (b[2] ?? 0) - (a[2] ?? 0));
  let lo = 0;
  let hi = ranked.length;
  const withFirst = (n: number): string => JSON.stringify({ ...s, reads: ranked.slice(0, n), dropped: s.dropped + ranked.length - n });
  // The largest number of reads that fits: bytes grow with n, so a binary search finds it.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (bytes(withFirst(mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return withFirst(lo);
};

/** A summary read back; null when it is not one (another program's message, or cut). */
export const decodeSummary = (text: string): TickSummary | null => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = TickSummary.safeParse(raw);
  return parsed.success ? parsed.data : null;
};

const bucketOf = (seconds: number): number => {
  const i = TICK_DURATION_BUCKETS_SECONDS.findIndex((b) => seconds <= b);
  return i === -1 ? TICK_DURATION_BUCKETS_SECONDS.length : i;
};

const observeHistogram = (h: Histogram, seconds: number): Histogram => {
  const i = bucketOf(seconds);
  return { buckets: h.buckets.map((n, j) => (j === i ? n + 1 : n)), sumSeconds: h.sumSeconds + seconds, count: h.count + 1 };
};

/**
 * Adds one summary to the totals. Only ever adds (every counter is monotonic); a summary whose id
 * was folded in already changes nothing, so a summary read again (a pod listed by two passes of
 * `serve`, or by two replicas) is counted once. `id` null: the caller guarantees it is new (the
 * local driver folds each tick once, under a lock). `summary` null: an unreadable one, counted as such.
 */
export const foldTick = (t: TickTotals, summary: TickSummary | null, id: string | null): TickTotals => {
  if (id !== null && t.counted.includes(id)) return t;
  const counted = id === null ? t.counted : [...t.counted, id].slice(-COUNTED_IDS_KEPT);
  if (summary === null) return { ...t, counted, unreadable: t.unreadable + 1 };
  const loop = t.loops[summary.loop];
  const nextLoop = {
    ticks: { ...loop.ticks, [summary.outcome]: loop.ticks[summary.outcome] + 1 },
    duration: observeHistogram(loop.duration, summary.seconds),
    lastAt: Math.max(loop.lastAt ?? 0, summary.at),
  };
  // Repositories are never forgotten, even after they leave the registry (their series stop being
  // exported): one removed and added back keeps counting where it was, so no counter falls.
  const repos: Record<string, RepoTotals> = { ...t.repos };
  for (const [repo, outcome, seconds] of summary.reads) {
    const before = repos[repo];
    const reads = { ...(before?.reads ?? zeros(READ_OUTCOMES)) };
    reads[outcome] += 1;
    // Summaries may be folded out of order (pods listed in any order): the newest read stays the last.
    const last = before && before.last.at > summary.at ? before.last : { outcome, seconds, at: summary.at };
    repos[repo] = { reads, last };
  }
  return { ...t, loops: { ...t.loops, [summary.loop]: nextLoop }, repos, counted };
};

/**
 * The tick families, from the totals: per loop and outcome, per loop the duration, and per
 * repository of `repos` (the registry's: a repository that left it has no series) its reads by
 * outcome and its last read. Label values come from closed sets only.
 */
export const tickMetrics = (t: TickTotals, repos: readonly string[]): MetricFamily[] => {
  const known = [...new Set(repos)].filter((r) => t.repos[r] !== undefined).sort();
  const repo = (r: string): RepoTotals => t.repos[r] as RepoTotals;
  return [
    {
      name: 'branch_follower_ticks_total',
      help: 'Ticks that ended, by loop and outcome (worst first: error, corrupt-state, follower-error, deadline, mirror-unreadable, blocked, ok).',
      type: 'counter',
      labelNames: ['loop', 'outcome'],
      samples: TICK_LOOPS.flatMap((loop) => TICK_OUTCOMES.map((outcome) => ({ labels: { loop, outcome }, value: t.loops[loop].ticks[outcome] }))),
    },
    {
      name: 'branch_follower_tick_duration_seconds',
      help: 'How long ticks took, from the start of their work to its end, by loop (process start-up not included).',
      type: 'histogram',
      labelNames: ['loop'],
      buckets: TICK_DURATION_BUCKETS_SECONDS,
      series: TICK_LOOPS.map((loop) => {
        const h = t.loops[loop].duration;
        let running = 0;
        return { labels: { loop }, cumulative: TICK_DURATION_BUCKETS_SECONDS.map((_b, i) => (running += h.buckets[i] ?? 0)), sum: h.sumSeconds, count: h.count };
      }),
    },
    {
      name: 'branch_follower_last_tick_timestamp_seconds',
      help: 'When the last tick of the loop that was counted started, in seconds since the Unix epoch.',
      type: 'gauge',
      labelNames: ['loop'],
      samples: TICK_LOOPS.flatMap((loop) => {
        const at = t.loops[loop].lastAt;
        return at === null ? [] : [{ labels: { loop }, value: at / 1000 }];
      }),
    },
    {
      name: 'branch_follower_tick_summaries_unreadable_total',
      help: 'Tick summaries that could not be read (cut, or not a summary) and were not counted.',
      type: 'counter',
      labelNames: [],
      samples: [{ labels: {}, value: t.unreadable }],
    },
    {
      name: 'branch_follower_repository_reads_total',
      help: 'Ref reads of a repository of the git mirror by outcome (held: not read, a back-pressure hold runs).',
      type: 'counter',
      labelNames: ['repository', 'outcome'],
      samples: known.flatMap((r) => READ_OUTCOMES.map((outcome) => ({ labels: { repository: r, outcome }, value: repo(r).reads[outcome] }))),
    },
    {
      name: 'branch_follower_repository_last_read_outcome',
      help: 'The outcome of the last ref read of the repository: one series per outcome, 1 for the last one.',
      type: 'gauge',
      labelNames: ['repository', 'outcome'],
      samples: known.flatMap((r) => READ_OUTCOMES.map((outcome) => ({ labels: { repository: r, outcome }, value: repo(r).last.outcome === outcome ? 1 : 0 }))),
    },
    {
      name: 'branch_follower_repository_last_read_duration_seconds',
      help: 'How long the last ref read of the repository took (no series while it was held, not read).',
      type: 'gauge',
      labelNames: ['repository'],
      samples: known.flatMap((r) => {
        const s = repo(r).last.seconds;
        return s === null ? [] : [{ labels: { repository: r }, value: s }];
      }),
    },
    {
      name: 'branch_follower_repository_last_read_timestamp_seconds',
      help: 'When the tick that last read the repository started, in seconds since the Unix epoch.',
      type: 'gauge',
      labelNames: ['repository'],
      samples: known.map((r) => ({ labels: { repository: r }, value: repo(r).last.at / 1000 })),
    },
  ];
};

/**
 * How a repository's read went, from what it answered for each wanted branch: its worst answer.
 * Null when nothing was asked of the mirror (every branch name was invalid: no read was made).
 */
export const readOutcomeOf = (answers: readonly SourceObservation[], held: boolean): ReadOutcome | null => {
  if (held) return 'held';
  const kinds = new Set(answers.map((a) => a.kind));
  for (const k of ['throttled', 'untrusted', 'unreachable'] as const) if (kinds.has(k)) return k;
  return kinds.has('ok') || kinds.has('missing') ? 'ok' : null;
};
