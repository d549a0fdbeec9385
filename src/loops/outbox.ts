import { ConflictError, type Stored } from '../adapters/ports.ts';
import { claimLeftovers, withDelivered } from '../core/outbox.ts';
import type { OutboxItem } from '../core/state.ts';
import { entryOf, type Entry } from './cas.ts';
import type { LoopContext } from './context.ts';

/**
 * Delivers what a state's outbox holds (core/outbox.ts decides what), then removes what went
 * out with a compare-and-swap of its own. A failed delivery stays for a later tick; a crash
 * after a delivery and before the removal delivers it again under the same key (at least once).
 */

const REMOVE_RETRIES = 3;

/** Delivers `items` of the stored `entry` and removes those that went out; returns the entry as it is after. */
export const deliver = async (ctx: LoopContext, entry: Entry, items: readonly OutboxItem[]): Promise<Entry> => {
  const state = entry.state;
  if (!state || entry.version === null || items.length === 0) return entry;
  const id = state.id;
  const delivered = new Set<string>();
  const events = items.flatMap((i) => (i.kind === 'event' ? [i] : []));
  if (events.length > 0) {
    try {
      await ctx.ports.events.emit(id, events.map((i) => i.transition));
      for (const i of events) delivered.add(i.key);
    } catch (e) {
      ctx.log(`${id}: event not recorded yet (kept in the outbox for a later tick): ${(e as Error).message}`);
    }
  }
  for (const i of items) {
    if (i.kind !== 'notification') continue;
    try {
      await ctx.ports.notifier.notify(i.notification);
      delivered.add(i.key);
    } catch (e) {
      ctx.log(`${id}: notification not sent yet (kept in the outbox for a later tick): ${(e as Error).message}`);
    }
  }
  if (state.outbox && state.outbox.dropped > 0) ctx.log(`${id}: ${state.outbox.dropped} announcement(s) were dropped from a full outbox (oldest first)`);
  return removeDelivered(ctx, id, entry, delivered);
};

const removeDelivered = async (ctx: LoopContext, id: string, start: Entry, delivered: ReadonlySet<string>): Promise<Entry> => {
  let entry = start;
  for (let i = 0; i <= REMOVE_RETRIES && entry.state && entry.version !== null; i++) {
    const next = withDelivered(entry.state, delivered);
    if (next === entry.state) return entry;
    try {
      return { version: await ctx.ports.store.update(next, entry.version), state: next };
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      const fresh = await ctx.ports.store.get(id);
      if (!fresh || 'corrupt' in fresh) return entry;
      entry = { version: fresh.version, state: fresh.state };
    }
  }
  // Left in place: delivered again by a later tick under the same keys.
  return entry;
};

/**
 * At the start of a tick: deliver what earlier ticks left in any follower's outbox, once it is
 * due (core/outbox.ts). The due items are claimed first with a compare-and-swap: of two ticks
 * that find the same leftovers, the one that lost re-reads, finds them claimed, and leaves
 * them. Returns the stored list as it is after. Never in dry-run.
 */
export const drainOutboxes = async (ctx: LoopContext, stored: readonly Stored[]): Promise<Stored[]> => {
  if (ctx.dryRun) return [...stored];
  const out: Stored[] = [];
  for (const s of stored) {
    if (!('state' in s) || !s.state.outbox?.items.length) {
      out.push(s);
      continue;
    }
    try {
      const e = await drainOne(ctx, { version: s.version, state: s.state });
      out.push(e.state && e.version !== null ? { id: s.id, version: e.version, state: e.state } : s);
    } catch (e) {
      ctx.log(`${s.id}: outbox not delivered (a later tick retries): ${(e as Error).message}`);
      out.push(s);
    }
  }
  return out;
};

const drainOne = async (ctx: LoopContext, start: Entry): Promise<Entry> => {
  let entry = start;
  for (let i = 0; i <= REMOVE_RETRIES && entry.state && entry.version !== null; i++) {
    const claim = claimLeftovers(entry.state, ctx.now());
    if (!claim) return entry;
    let version: string;
    try {
      version = await ctx.ports.store.update(claim.state, entry.version);
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      const fresh = entryOf(await ctx.ports.store.get(entry.state.id));
      if ('corrupt' in fresh) return entry;
      entry = fresh;
      continue;
    }
    const keys = new Set(claim.keys);
    return deliver(ctx, { version, state: claim.state }, (claim.state.outbox?.items ?? []).filter((it) => keys.has(it.key)));
  }
  return entry;
};
