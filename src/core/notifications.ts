import { NOTIFY_PHASES } from './phases.ts';
import type { FollowerState, Transition } from './state.ts';

export type Notification = { id: string; phase: Transition['to']; sha: string | null; attempt: number | null; reason: string; at: string };

/** The transitions a write appended to the bounded history: each becomes an event. */
export const newTransitions = (prev: FollowerState | null, next: FollowerState): Transition[] => {
  const last = prev?.history.at(-1);
  if (!last) return next.history;
  const lastJson = JSON.stringify(last);
  const idx = next.history.findIndex((t) => JSON.stringify(t) === lastJson);
  return idx === -1 ? [] : next.history.slice(idx + 1);
};

const key = (t: Transition): string => `${t.to}/${t.sha ?? '-'}`;

/**
 * The notifications a written state owes: transitions into Succeeded, Failed or Blocked that
 * this write appended, at most once per (follower, sha, phase) as far as history remembers.
 * Only the tick whose compare-and-swap won calls this, so racing ticks never repeat one.
 */
export const notificationsFor = (prev: FollowerState | null, next: FollowerState): Notification[] => {
  const fresh = newTransitions(prev, next);
  // What the written state remembers, plus what the previous one did before trimming made room.
  const seen = new Set([...(prev?.history ?? []), ...next.history.slice(0, next.history.length - fresh.length)].map(key));
  const out: Notification[] = [];
  for (const t of fresh) {
    if (!NOTIFY_PHASES.includes(t.to) || seen.has(key(t))) continue;
    seen.add(key(t));
    out.push({ id: next.id, phase: t.to, sha: t.sha, attempt: t.attempt, reason: t.reason, at: t.at });
  }
  return out;
};
