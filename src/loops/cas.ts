import { ConflictError, type Stored } from '../adapters/ports.ts';
import { newTransitions, notificationsFor } from '../core/notifications.ts';
import type { FollowerState } from '../core/state.ts';
import type { LoopContext } from './context.ts';

export const CAS_RETRIES = 3;

export type Entry = { version: string | null; state: FollowerState | null };

export type CasOutcome =
  | { kind: 'written'; prev: FollowerState | null; next: FollowerState; entry: Entry }
  | { kind: 'unchanged'; entry: Entry }
  | { kind: 'corrupt'; where: string; message: string }
  | { kind: 'gave-up'; entry: Entry };

export const entryOf = (s: Stored | null | undefined): Entry | { corrupt: { where: string; message: string } } =>
  !s ? { version: null, state: null } : 'corrupt' in s ? { corrupt: s.corrupt } : { version: s.version, state: s.state };

/**
 * Compare-and-swap of one follower's state: compute from what was read, write, and on a
 * lost race re-read and recompute (a bounded number of times), so a write that lost never
 * clobbers the winner. Only the winning write emits events and notifications.
 */
export const casApply = async (
  ctx: LoopContext,
  id: string,
  start: Entry,
  compute: (state: FollowerState | null) => Promise<FollowerState | null> | FollowerState | null,
): Promise<CasOutcome> => {
  let entry = start;
  for (let i = 0; i <= CAS_RETRIES; i++) {
    const next = await compute(entry.state);
    if (next === null || next === entry.state) return { kind: 'unchanged', entry };
    try {
      const version = entry.version === null ? await ctx.ports.store.create(next) : await ctx.ports.store.update(next, entry.version);
      await afterWrite(ctx, entry.state, next);
      return { kind: 'written', prev: entry.state, next, entry: { version, state: next } };
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      const fresh = entryOf(await ctx.ports.store.get(id));
      if ('corrupt' in fresh) return { kind: 'corrupt', ...fresh.corrupt };
      entry = fresh;
    }
  }
  ctx.log(`${id}: gave up after ${CAS_RETRIES + 1} write conflicts; the next tick retries`);
  return { kind: 'gave-up', entry };
};

/** Events and notifications of a won write; their failure is logged, never fails the tick. */
const afterWrite = async (ctx: LoopContext, prev: FollowerState | null, next: FollowerState): Promise<void> => {
  const fresh = newTransitions(prev, next);
  if (fresh.length > 0) {
    try {
      await ctx.ports.events.emit(next.id, fresh);
    } catch (e) {
      ctx.log(`${next.id}: event not recorded: ${(e as Error).message}`);
    }
  }
  for (const n of notificationsFor(prev, next)) {
    try {
      await ctx.ports.notifier.notify(n);
    } catch (e) {
      ctx.log(`${next.id}: notification not sent: ${(e as Error).message}`);
    }
  }
};
