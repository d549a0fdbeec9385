import { hostname, userInfo } from 'node:os';
import type { ArmingEdit } from '../../core/arming.ts';
import { UsageError, type Outcome } from '../errors.ts';
import type { Session } from '../session.ts';
import type { Args } from '../verb.ts';

export const who = (env: NodeJS.ProcessEnv, by: string | undefined): string => {
  if (by) return by;
  let user = env.USER ?? env.LOGNAME;
  try {
    user ??= userInfo().username;
  } catch {
    user ??= 'unknown';
  }
  return `${user}@${hostname()}`;
};

/** What a `next:` hint puts where a person must say why; never accepted as a reason. */
export const REASON_PLACEHOLDER = '<why>';

/**
 * Arming and releasing the brake are deliberate and audited: they need a reason a person
 * wrote. Braking (kill-switch on, disarm) stays instant and takes an optional one.
 */
export const requireReason = (a: Args, what: string): void => {
  const r = a.str('reason')?.trim() ?? '';
  if (r === '' || r === REASON_PLACEHOLDER) throw new UsageError(`${what} needs --reason TEXT: why, recorded with who and when`);
};

/** The edit behind arm, disarm and kill-switch: audited, compare-and-swap, dry unless applied. */
export const editArmingVerb = async (s: Session, a: Args, edit: ArmingEdit, needsConfirm: boolean): Promise<Outcome> => {
  // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
  const { changeArming } = await import('../../loops/arming.ts');
  const apply = !needsConfirm || a.flag('confirm');
  const ctx = await s.context({ dryRun: !apply });
  const ch = await changeArming(ctx, edit, { by: who(s.io.env, a.str('by')), reason: a.str('reason') ?? '' }, apply);
  const summary = `kill switch ${ch.after.killSwitch.on ? 'ON (braked)' : 'off'}; allowlist: ${ch.after.allowlist.map((e) => e.id).join(', ') || '(empty)'}`;
  if (!apply) s.out(`would set: ${summary}\nnothing changed: add --confirm to do it`);
  else s.out(`${ch.written ? 'set' : 'already'}: ${summary}`);
  return 'ok';
};
