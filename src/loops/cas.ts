import { ConflictError, type Stored } from '../adapters/ports.ts';
import { enqueue } from '../core/outbox.ts';
import type { FollowerState } from '../core/state.ts';
import type { LoopContext } from './context.ts';
import { deliver } from './outbox.ts';

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
 * clobbers the winner. The events and notifications a write owes go into its outbox in the
 * same write (core/outbox.ts); only the winner delivers them, right after, and removes what
 * went out. A tick that dies in between leaves them to a later tick.
 */
export const casApply = async (
  ctx: LoopContext,
  id: string,
  start: Entry,
  compute: (state: FollowerState | null) => Promise<FollowerState | null> | FollowerState | null,
): Promise<CasOutcome> => {
  let entry = start;
  for (let i = 0; i <= CAS_RETRIES; i++) {
    const computed = await compute(entry.state);
    if (computed === null || computed === entry.state) return { kind: 'unchanged', entry };
    const { state: next, fresh } = enqueue(entry.state, computed);
    let version: string;
    try {
      version = entry.version === null ? await ctx.ports.store.create(next) : await ctx.ports.store.update(next, entry.version);
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      const fresh = entryOf(await ctx.ports.store.get(id));
      if ('corrupt' in fresh) return { kind: 'corrupt', ...fresh.corrupt };
      entry = fresh;
      continue;
    }
    // The write has landed: whatever delivery meets, the outbox keeps what did not go out.
    const written: Entry = { version, state: next };
    const keys = new Set(fresh);
    const after = await deliver(ctx, written, (next.outbox?.items ?? []).filter((it) => keys.has(it.key))).catch((e: unknown) => {
      ctx.log(`${id}: outbox kept for a later tick: ${(e as Error).message}`);
      return written;
    });
    return { kind: 'written', prev: entry.state, next: after.state ?? next, entry: after };
  }
  ctx.log(`${id}: gave up after ${CAS_RETRIES + 1} write conflicts; the next tick retries`);
  return { kind: 'gave-up', entry };
};
