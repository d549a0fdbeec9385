import { UsageError } from '../errors.ts';
import { byFlag, defineVerb, followerFlag, reasonFlag, requiredFollower } from '../verb.ts';
import { requireReason, who } from './arming-edit.ts';

export const retry = defineVerb({
  name: 'retry',
  summary: 'grant a Blocked follower one more attempt at its commit (needs --confirm and --reason)',
  usage: 'retry --follower ID --confirm --reason TEXT',
  description:
    'For a follower Blocked because its attempts are used up: one extra attempt in the current episode, without a dummy commit or a registry edit. The grant is recorded as a transition (who, when, why) in its history and events; the next observer tick dispatches the attempt, through the arming gates as always. A follower Blocked for another reason (a missing branch, an unresolvable configRef) is refused: another attempt would not help. Without --confirm it says what it would do.',
  flags: [followerFlag('the follower (required)'), { name: 'confirm', help: 'really grant the attempt' }, reasonFlag('why, recorded with the grant (required)'), byFlag],
  examples: [
    { command: 'branch-follower retry --follower webapp-main --confirm --reason "registry was down, fixed"', what: 'one more attempt at the commit it is Blocked on' },
    { command: 'branch-follower retry --follower webapp-main', what: 'what it would grant; changes nothing' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { retryFollower } = await import('../../loops/retry.ts');
    const id = await requiredFollower(s, a, 'retry');
    const confirm = a.flag('confirm');
    if (confirm) requireReason(a, 'retry');
    const ctx = await s.context({ dryRun: !confirm });
    const r = await retryFollower(ctx, id, { by: who(s.io.env, a.str('by')), reason: a.str('reason')?.trim() || '(no reason given)' }, confirm);
    if (r.kind === 'corrupt') {
      s.err(`corrupt stored state, left for a person: ${r.where}: ${r.message}`);
      return 'bad-input';
    }
    if (r.kind === 'refused') throw new UsageError(`cannot retry ${id}: ${r.why}`);
    if (!confirm) {
      s.out(`would grant ${id} attempt ${r.attempt}\nnothing changed: add --confirm --reason TEXT to do it`);
      return 'ok';
    }
    s.out(`granted: ${id} attempt ${r.attempt}; ${r.reason}`);
    s.out(`next: ${s.hint('tick observer')}   (or wait for the scheduled tick)`);
    return 'ok';
  },
});
