import { grantRetry, type RetryGrant } from '../core/retry.ts';
import { stamp } from '../core/state.ts';
import { casApply, entryOf } from './cas.ts';
import type { LoopContext } from './context.ts';
import { prepareFollowers } from './prepare.ts';

export type RetryOutcome =
  | { kind: 'granted'; attempt: number; written: boolean; reason: string }
  | { kind: 'refused'; why: string }
  | { kind: 'corrupt'; where: string; message: string };

/**
 * `retry`: grants one more attempt to a follower Blocked on used-up attempts, with
 * compare-and-swap (a racing tick's write is re-read and the grant recomputed). The write's
 * transition is emitted as an event like every other. `apply: false` only computes it.
 */
export const retryFollower = async (ctx: LoopContext, id: string, grant: RetryGrant, apply: boolean): Promise<RetryOutcome> => {
  const [p] = await prepareFollowers(ctx, new Set([id]));
  if (!p) return { kind: 'refused', why: 'it is not in the registry' };
  const start = entryOf(await ctx.ports.store.get(id));
  if ('corrupt' in start) return { kind: 'corrupt', ...start.corrupt };
  let last: ReturnType<typeof grantRetry> = { kind: 'refused', why: 'not computed' };
  const compute = (s: typeof start.state) => {
    last = grantRetry(s, p.policy, grant, ctx.now());
    return last.kind === 'granted' && s ? stamp(s, last.state, ctx.now()) : s;
  };
  if (!apply) {
    compute(start.state);
    const r = last as ReturnType<typeof grantRetry>;
    return r.kind === 'granted' ? { kind: 'granted', attempt: r.attempt, written: false, reason: r.state.reason } : r;
  }
  const out = await casApply(ctx, id, start, compute);
  if (out.kind === 'corrupt') return { kind: 'corrupt', where: out.where, message: out.message };
  const r = last as ReturnType<typeof grantRetry>;
  if (r.kind === 'refused') return r;
  if (out.kind === 'gave-up') throw new Error(`${id}: its state kept changing under this retry; try again`);
  return { kind: 'granted', attempt: r.attempt, written: out.kind === 'written', reason: r.state.reason };
};
