import { UsageError } from '../errors.ts';
import { byFlag, defineVerb, followerFlag, reasonFlag } from '../verb.ts';
import { editArmingVerb } from './arming-edit.ts';

export const disarm = defineVerb({
  name: 'disarm',
  summary: 'remove a follower (or all) from the allowlist: instant',
  usage: 'disarm (--follower ID | --all) [--reason TEXT] [--by WHO]',
  description: 'A brake: instant, no --confirm. A run already in flight is still closed out.',
  flags: [followerFlag('the follower to remove'), { name: 'all', help: 'empty the allowlist' }, reasonFlag(), byFlag],
  examples: [
    { command: 'branch-follower disarm --follower hwlab-jd01-v03 --reason "incident 42"', what: 'stop one follower dispatching' },
    { command: 'branch-follower disarm --all', what: 'empty the allowlist' },
  ],
  async run(s, a) {
    const id = a.str('follower');
    if (a.flag('all') === !!id) throw new UsageError('disarm needs exactly one of --follower ID or --all');
    if (id) await s.followers([id]);
    return editArmingVerb(s, a, id ? { kind: 'disarm', id } : { kind: 'disarm-all' }, false);
  },
});
