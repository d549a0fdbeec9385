import { ConflictError } from '../adapters/ports.ts';
import { editArming, type Arming, type ArmingEdit } from '../core/arming.ts';
import { toIso } from '../core/primitives.ts';
import type { LoopContext } from './context.ts';

export type ArmingChange = { before: Arming | null; after: Arming; written: boolean };

/** Edits the arming data with compare-and-swap; `apply: false` only computes the result. */
export const changeArming = async (
  ctx: LoopContext,
  edit: ArmingEdit,
  who: { by: string; reason: string },
  apply: boolean,
): Promise<ArmingChange> => {
  for (let i = 0; i < 5; i++) {
    const { read, version } = await ctx.ports.arming.read();
    const after = editArming(read, edit, { ...who, at: toIso(ctx.now()) });
    const before = read.kind === 'ok' ? read.arming : null;
    if (!apply || (before && JSON.stringify(before) === JSON.stringify(after))) return { before, after, written: false };
    try {
      await ctx.ports.arming.write(after, version);
      return { before, after, written: true };
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
  throw new Error('arming data kept changing under this edit (5 conflicts); try again');
};
