import { z } from 'zod';
import { Phase } from './phases.ts';
import { FollowerId, IsoTime, Sha, toIso } from './primitives.ts';
import { ReportedSha } from './revision.ts';
import { Tally, countTransition, trackSince, type BlockedKind } from './tally.ts';

export const HISTORY_LIMIT = 50;
export const ATTEMPT_MEMORY = 50;

/**
 * An episode is a stretch of observations in which the branch points at one sha; its number
 * grows by one whenever the observed sha changes (also back to an older sha). States written
 * before episodes existed carry none: they are read as episode 1, their one and only so far.
 */
export const Episode = z.number().int().min(0);
export const EPISODE_BEFORE_UPGRADE = 1;
const episodeOrUpgrade = Episode.default(EPISODE_BEFORE_UPGRADE);

/** A dispatch's name: a DNS-1123 label, hence at most 63 characters. */
const RunNameField = z.string().min(1).max(63);

export const Transition = z
  .object({
    at: IsoTime,
    from: Phase,
    to: Phase,
    sha: Sha.nullable(),
    attempt: z.number().int().min(1).nullable(),
    reason: z.string().max(2000),
    /** The episode the transition happened in; absent in transitions written before episodes. */
    episode: Episode.optional(),
    /** The dispatch (run) the transition is about, when it is about one. */
    run: RunNameField.nullable().optional(),
  })
  .strict();
export type Transition = z.infer<typeof Transition>;

/**
 * Who wrote a pending dispatch, so a later tick can tell a writer that is gone (and will never
 * make the dispatch) from one still between its write and its create: a pod (name and uid, from
 * the downward API) on Kubernetes, a process (host, pid, boot id) locally. A pid alone is reused
 * after a reboot; the boot id tells the two lives of a pid apart.
 */
export const Writer = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pod'), name: z.string().min(1).max(253), uid: z.string().min(1).max(64) }).strict(),
  z.object({ kind: z.literal('process'), host: z.string().min(1).max(253), pid: z.number().int().positive(), bootId: z.string().min(1).max(64) }).strict(),
]);
export type Writer = z.infer<typeof Writer>;

/** What a tick could find out about a pending dispatch's writer: `unknown` leaves it to the lease. */
export type WriterLiveness = 'alive' | 'gone' | 'unknown';

/** A dispatch written ahead of time: the intent survives a crash between dispatch and the state write. */
export const PendingDispatch = z
  .object({
    sha: Sha,
    episode: episodeOrUpgrade,
    attempt: z.number().int().min(1),
    name: RunNameField,
    at: IsoTime,
    /** Absent in states written before writers were recorded, and when a tick cannot name itself. */
    writer: Writer.optional(),
  })
  .strict();
export type PendingDispatch = z.infer<typeof PendingDispatch>;

export const Run = z
  .object({
    sha: Sha,
    episode: episodeOrUpgrade,
    attempt: z.number().int().min(1),
    name: RunNameField,
    kind: z.enum(['Job', 'Process']),
    startedAt: IsoTime,
    /** The source moved on: this run's outcome decides nothing; it is only waited out (or cancelled). */
    superseded: z.boolean(),
  })
  .strict();
export type Run = z.infer<typeof Run>;

/** A notification as the outbox stores it (core/notifications.ts builds them). */
export const StoredNotification = z
  .object({
    id: FollowerId,
    phase: Phase,
    sha: Sha.nullable(),
    attempt: z.number().int().min(1).nullable(),
    run: RunNameField.nullable(),
    idempotencyKey: z.string().min(1).max(400),
    reason: z.string().max(2000),
    at: IsoTime,
  })
  .strict();

const OutboxKey = z.string().min(1).max(400);

/**
 * What a won write still has to announce: written in the same compare-and-swap as the
 * transition, removed once delivered (core/outbox.ts). The key is the same on every delivery.
 * `claimedAt`: when a later tick took a leftover item over to deliver it (a lease, like the
 * write itself is for the writing tick).
 */
export const OutboxItem = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('event'), key: OutboxKey, transition: Transition, claimedAt: IsoTime.optional() }).strict(),
  z.object({ kind: z.literal('notification'), key: OutboxKey, notification: StoredNotification, claimedAt: IsoTime.optional() }).strict(),
]);
export type OutboxItem = z.infer<typeof OutboxItem>;

/** At most this many announcements wait in a follower's outbox (each at most ~2.5 KB: the state stays far below 1 MiB). */
export const OUTBOX_LIMIT = 50;

export const Outbox = z
  .object({
    items: z.array(OutboxItem).max(OUTBOX_LIMIT),
    /** Items dropped, oldest first, because the outbox was full: counted, never silently lost. */
    dropped: z.number().int().min(0),
  })
  .strict();
export type Outbox = z.infer<typeof Outbox>;

export const CheckResult = z.enum(['NONE', 'PENDING', 'SUCCESS', 'FAILURE']);
export type CheckResult = z.infer<typeof CheckResult>;

export const FollowerState = z
  .object({
    schemaVersion: z.literal(1),
    id: FollowerId,
    phase: Phase,
    reason: z.string().max(2000),
    observedSha: Sha.nullable(),
    /** The number of the episode of observedSha (0 before the first observation). */
    episode: episodeOrUpgrade,
    /** What the target reports: a full sha, or an abbreviation no known sha expands (see revision.ts). */
    targetSha: ReportedSha.nullable(),
    lastTriggeredSha: Sha.nullable(),
    lastSucceededSha: Sha.nullable(),
    pending: PendingDispatch.nullable(),
    inFlight: Run.nullable(),
    /**
     * Attempts used per (sha, episode), newest last. Only the current episode's count is ever
     * consulted (episodes never resume), so older ones are dropped; bounded all the same.
     */
    attempts: z
      .array(
        z
          .object({
            sha: Sha,
            episode: episodeOrUpgrade,
            count: z.number().int().min(0),
            /** Extra attempts a person granted in this episode (`retry`), beyond budgets.maxAttempts. */
            granted: z.number().int().min(1).optional(),
          })
          .strict(),
      )
      .max(ATTEMPT_MEMORY),
    targetUnreadableSince: IsoTime.nullable(),
    /** The last fold of the in-flight run's checks, for status. */
    checks: z.array(z.object({ check: z.string(), result: CheckResult, detail: z.string().max(500) }).strict()).max(10),
    updatedAt: IsoTime,
    history: z.array(Transition).max(HISTORY_LIMIT),
    /** Counters for `/metrics` that must outlive the bounded history (tally.ts); absent: none yet. */
    tally: Tally.optional(),
    /**
     * Announcements owed and not yet delivered (core/outbox.ts). Absent in states written before
     * the outbox existed, and whenever nothing is owed and nothing was ever dropped.
     */
    outbox: Outbox.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    // The single in-flight slot is the "at most one run per follower" rule, stated in the schema.
    if (s.pending && s.inFlight) ctx.addIssue({ code: 'custom', path: ['pending'], message: 'a follower cannot have a pending dispatch and a run in flight' });
    if ((s.phase === 'Triggering' || s.phase === 'ClosingOut') && !s.inFlight)
      ctx.addIssue({ code: 'custom', path: ['inFlight'], message: `phase ${s.phase} needs a run in flight` });
    if (s.inFlight && s.phase !== 'Triggering' && s.phase !== 'ClosingOut' && s.phase !== 'Superseded')
      ctx.addIssue({ code: 'custom', path: ['phase'], message: `phase ${s.phase} cannot have a run in flight` });
    if (s.pending && s.phase !== 'PendingTrigger')
      ctx.addIssue({ code: 'custom', path: ['phase'], message: `phase ${s.phase} cannot have a pending dispatch` });
    if (s.phase === 'PendingTrigger' && !s.pending)
      ctx.addIssue({ code: 'custom', path: ['pending'], message: 'phase PendingTrigger needs a pending dispatch' });
  });
export type FollowerState = z.infer<typeof FollowerState>;

export const initialState = (id: string, now: number): FollowerState => ({
  schemaVersion: 1,
  id,
  phase: 'Observed',
  reason: 'not observed yet',
  observedSha: null,
  episode: 0,
  targetSha: null,
  lastTriggeredSha: null,
  lastSucceededSha: null,
  pending: null,
  inFlight: null,
  attempts: [],
  targetUnreadableSince: null,
  checks: [],
  updatedAt: toIso(now),
  history: [],
});

export const attemptsFor = (s: FollowerState, sha: string, episode: number): number =>
  s.attempts.find((a) => a.sha === sha && a.episode === episode)?.count ?? 0;

/** Attempts granted by a person (`retry`) in this episode of the sha, on top of maxAttempts. */
export const grantedFor = (s: FollowerState, sha: string, episode: number): number =>
  s.attempts.find((a) => a.sha === sha && a.episode === episode)?.granted ?? 0;

/** How many attempts the episode of a sha may use: the budget plus what a person granted. */
export const allowedAttempts = (s: FollowerState, sha: string, episode: number, maxAttempts: number): number => maxAttempts + grantedFor(s, sha, episode);

/** Records the attempts of (sha, episode); counts of episodes that ended are dropped (they never resume). */
export const withAttempts = (s: FollowerState, sha: string, episode: number, count: number, granted = grantedFor(s, sha, episode)): FollowerState['attempts'] => {
  const rest = s.attempts.filter((a) => !(a.sha === sha && a.episode === episode));
  return [...rest, { sha, episode, count, ...(granted > 0 ? { granted } : {}) }].filter((a) => a.episode >= s.episode).slice(-ATTEMPT_MEMORY);
};

/** Why a visit of a sha gets no further attempt, and how a person moves it on. */
export const attemptsExhausted = (id: string, shortSha: string, used: number, max: number): string =>
  `attempts exhausted for ${shortSha} (${used}/${max} in this visit of the branch); unblock: branch-follower retry --follower ${id} --reason "<why>" --confirm (one more attempt, once the cause is fixed), push a new commit, or raise budgets.maxAttempts for ${id} in the registry`;

/**
 * The state after an ok read of the source: a sha other than the one observed last starts a
 * new episode, also when the branch went back to a sha it pointed at before.
 */
export const observeSha = (s: FollowerState, sha: string): FollowerState =>
  s.observedSha === sha ? s : { ...s, observedSha: sha, episode: s.episode + 1 };

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * Moves a state to a phase, appending to the bounded history when the phase really changes.
 * Every phase change goes through here so history and events never miss one.
 */
export const transition = (
  s: FollowerState,
  to: Phase,
  reason: string,
  now: number,
  run?: { sha: string | null; attempt: number | null; episode?: number; name?: string | null },
  /** Why, as a kind, when `to` is Blocked: counted per kind for `/metrics`. */
  blocked?: BlockedKind,
): FollowerState => {
  const r = clip(reason, 2000);
  if (s.phase === to) return { ...s, reason: r };
  const current = s.inFlight ?? s.pending;
  const entry: Transition = {
    at: toIso(now),
    from: s.phase,
    to,
    sha: run?.sha ?? current?.sha ?? s.observedSha,
    attempt: run?.attempt ?? current?.attempt ?? null,
    reason: r,
    episode: run?.episode ?? current?.episode ?? s.episode,
    run: run ? (run.name ?? null) : (current?.name ?? null),
  };
  return { ...s, phase: to, reason: r, history: [...s.history, entry].slice(-HISTORY_LIMIT), tally: countTransition(s.tally, s.phase, to, now, blocked) };
};

/** Stamps updatedAt only when something else changed, so an idle tick finds nothing to write. */
export const stamp = (before: FollowerState | null, after: FollowerState, now: number): FollowerState => {
  const tally = trackSince(after.tally, before, after, now);
  const next = tally === after.tally ? after : { ...after, tally };
  return before && sameState(before, next) ? before : { ...next, updatedAt: toIso(now) };
};

/** Whether two states differ in nothing but updatedAt, as their JSON says (key order aside). */
export const sameState = (a: FollowerState, b: FollowerState): boolean => {
  if (a === b || sameFieldsBut(a, b, 'updatedAt')) return true;
  // States built from one another keep their key order, so the plain form settles nearly every
  // comparison; only a difference is re-checked in the order-free form.
  const x = { ...a, updatedAt: '' };
  const y = { ...b, updatedAt: '' };
  return JSON.stringify(x) === JSON.stringify(y) || canonicalJson(x) === canonicalJson(y);
};

/**
 * Whether `a` and `b` have the same own keys holding the very same values, `except` aside: then
 * their JSON is the same too. The core builds the next state by spreading the last, so in an idle
 * tick every field is the same value, and this settles the comparison without writing either
 * state as JSON (at 1000 followers that cost ~10 ms a tick without a JIT; docs/performance.md,
 * change 22). False says nothing; the caller compares the JSON.
 */
const sameFieldsBut = (a: object, b: object, except: string): boolean => {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const k of keys) if (k !== except && (!Object.hasOwn(y, k) || x[k] !== y[k])) return false;
  return Object.hasOwn(y, except) === Object.hasOwn(x, except);
};

/** JSON with sorted keys: equality of stored objects must not depend on key order. */
export const canonicalJson = (v: unknown): string =>
  JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : val,
  );
