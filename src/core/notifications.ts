import { NOTIFY_PHASES } from './phases.ts';
import { EPISODE_BEFORE_UPGRADE, type FollowerState, type Transition } from './state.ts';

export type Notification = {
  id: string;
  phase: Transition['to'];
  sha: string | null;
  attempt: number | null;
  /** The dispatch the notification is about, when it is about one. */
  run: string | null;
  /** Stable across retries and racing ticks: a receiver drops a second delivery with the same key. */
  idempotencyKey: string;
  reason: string;
  at: string;
};

/** The transitions a write appended to the bounded history: each becomes an event. */
export const newTransitions = (prev: FollowerState | null, next: FollowerState): Transition[] => {
  const last = prev?.history.at(-1);
  if (!last) return next.history;
  const lastJson = JSON.stringify(last);
  const idx = next.history.findIndex((t) => JSON.stringify(t) === lastJson);
  return idx === -1 ? [] : next.history.slice(idx + 1);
};

/**
 * What a notification is about. Succeeded and Failed are about a run: the dispatch name, unique
 * per (follower, sha, episode, attempt). Blocked is about the visit of a sha (its episode): it
 * needs a person whichever run or reader led there, so a visit that is Blocked again (by the
 * closer, then by the observer once the target reads again) is announced once, and a later
 * visit of the same sha is news. A transition about no run is keyed by its visit too.
 * Transitions written before episodes existed count as episode 1, as their states do.
 */
export const idempotencyKey = (followerId: string, t: Transition): string => {
  if (t.run && t.to !== 'Blocked') return `${t.run}/${t.to}`;
  return `${followerId}/${t.sha ?? '-'}-e${t.episode ?? EPISODE_BEFORE_UPGRADE}/${t.to}`;
};

/**
 * The notifications a written state owes: transitions into Succeeded, Failed or Blocked that
 * this write appended, at most once per (follower, run, phase) as far as history remembers, so
 * a rollback's Succeeded is announced while a repeated Blocked of one visit is not. Only the
 * tick whose compare-and-swap won calls this, so racing ticks never repeat one.
 */
export const notificationsFor = (prev: FollowerState | null, next: FollowerState): Notification[] => {
  const fresh = newTransitions(prev, next);
  const key = (t: Transition): string => idempotencyKey(next.id, t);
  // What the written state remembers, plus what the previous one did before trimming made room.
  const seen = new Set([...(prev?.history ?? []), ...next.history.slice(0, next.history.length - fresh.length)].map(key));
  const out: Notification[] = [];
  for (const t of fresh) {
    const k = key(t);
    if (!NOTIFY_PHASES.includes(t.to) || seen.has(k)) continue;
    seen.add(k);
    out.push({ id: next.id, phase: t.to, sha: t.sha, attempt: t.attempt, run: t.run ?? null, idempotencyKey: k, reason: t.reason, at: t.at });
  }
  return out;
};
