import { newTransitions, notificationsFor } from './notifications.ts';
import { fromIso, toIso } from './primitives.ts';
import { EPISODE_BEFORE_UPGRADE, OUTBOX_LIMIT, type FollowerState, type OutboxItem, type Transition } from './state.ts';

/**
 * The outbox: what a won write owes the world (an event for every transition it appended, a
 * notification for every Succeeded, Failed or Blocked it reached) is written into the state in
 * the same compare-and-swap as the transition, delivered after, and removed once delivered. A
 * tick that dies in between leaves it for a later tick to deliver. Delivery is therefore at
 * least once; every item carries a key that is the same on every delivery, so receivers drop
 * repeats (a Kubernetes Event is created under a name made from it: AlreadyExists means
 * delivered; a webhook gets it as Idempotency-Key).
 *
 * This module decides (pure); src/loops/outbox.ts delivers.
 */

/**
 * An event's key: the run (or, for a transition about no run, the follower's visit of the sha)
 * and the phase it left and reached, at its time. Transitions of one write share the time but
 * not the phases; a rollback's second Succeeded of a sha is another run, hence another key.
 */
export const eventKey = (id: string, t: Transition): string =>
  `${t.run ?? `${id}/${t.sha ?? '-'}-e${t.episode ?? EPISODE_BEFORE_UPGRADE}`}/${t.from}>${t.to}@${t.at}`;

/** The items a write `prev -> next` owes, in the order they happened: events, then notifications. */
export const owed = (prev: FollowerState | null, next: FollowerState): OutboxItem[] => [
  ...newTransitions(prev, next).map((t): OutboxItem => ({ kind: 'event', key: eventKey(next.id, t), transition: t })),
  ...notificationsFor(prev, next).map((n): OutboxItem => ({ kind: 'notification', key: n.idempotencyKey, notification: n })),
];

/**
 * The write `prev -> next` with what it owes appended to the outbox; past OUTBOX_LIMIT the
 * oldest items are dropped and counted. Returns the fresh items' keys too: the writing tick
 * delivers exactly those at once.
 */
export const enqueue = (prev: FollowerState | null, next: FollowerState): { state: FollowerState; fresh: string[] } => {
  const fresh = owed(prev, next);
  if (fresh.length === 0) return { state: next, fresh: [] };
  const known = new Set((next.outbox?.items ?? []).map((i) => i.key));
  const add = fresh.filter((i) => !known.has(i.key));
  const all = [...(next.outbox?.items ?? []), ...add];
  const over = Math.max(0, all.length - OUTBOX_LIMIT);
  const items = all.slice(over);
  const kept = new Set(items.map((i) => i.key));
  return { state: { ...next, outbox: { items, dropped: (next.outbox?.dropped ?? 0) + over } }, fresh: add.map((i) => i.key).filter((k) => kept.has(k)) };
};

/** The state with the delivered items removed; the outbox field goes when nothing is left and nothing was dropped. */
export const withDelivered = (s: FollowerState, keys: ReadonlySet<string>): FollowerState => {
  if (!s.outbox || keys.size === 0) return s;
  const items = s.outbox.items.filter((i) => !keys.has(i.key));
  if (items.length === s.outbox.items.length) return s;
  if (items.length === 0 && s.outbox.dropped === 0) {
    const { outbox: _gone, ...rest } = s;
    return rest;
  }
  return { ...s, outbox: { items, dropped: s.outbox.dropped } };
};

/**
 * How long another tick leaves an item to the tick that wrote it: that tick delivers right after
 * its write, normally within a second. A tick that died leaves it; a CronJob tick a minute later
 * then delivers it. Shorter would have overlapping ticks (the observer and the closer run every
 * minute, side by side) announce what the other is still delivering.
 */
export const OUTBOX_GRACE_SECONDS = 60;

/** When the item was last taken on: written, or claimed by a tick delivering leftovers. */
export const itemTime = (i: OutboxItem): number => {
  const written = fromIso(i.kind === 'event' ? i.transition.at : i.notification.at);
  return i.claimedAt ? Math.max(written, fromIso(i.claimedAt)) : written;
};

/** Which leftover items (written or claimed by another tick) are due now: left alone for the grace. */
export const dueLeftovers = (s: FollowerState, now: number): OutboxItem[] =>
  (s.outbox?.items ?? []).filter((i) => now - itemTime(i) >= OUTBOX_GRACE_SECONDS * 1000);

/**
 * The state with the due leftovers claimed by this tick at `now` (null when none is due): one
 * compare-and-swap, so of two ticks that find the same leftovers only one delivers them.
 */
export const claimLeftovers = (s: FollowerState, now: number): { state: FollowerState; keys: string[] } | null => {
  const due = new Set(dueLeftovers(s, now).map((i) => i.key));
  if (due.size === 0 || !s.outbox) return null;
  const at = toIso(now);
  return { state: { ...s, outbox: { ...s.outbox, items: s.outbox.items.map((i) => (due.has(i.key) ? { ...i, claimedAt: at } : i)) } }, keys: [...due] };
};
