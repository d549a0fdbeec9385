import { byFlag, defineVerb, followerFlag, reasonFlag, requiredFollower } from '../verb.ts';
import { editArmingVerb, requireReason } from './arming-edit.ts';

export const arm = defineVerb({
  name: 'arm',
  summary: 'add a follower to the allowlist (needs --confirm)',
  usage: 'arm --follower ID --reason TEXT --confirm [--by WHO]',
  description: 'Dispatch needs both gates: the kill switch off and the follower allowlisted. Arming is deliberate: without --confirm it only says what it would set.',
  flags: [followerFlag('the follower to allowlist (required)'), { name: 'confirm', help: 'really change the arming data' }, reasonFlag('why, recorded with who and when (required)'), byFlag],
  examples: [
    { command: 'branch-follower arm --follower hwlab-jd01-v03 --confirm --reason "first lane"', what: 'allowlist one follower' },
    { command: 'branch-follower arm --follower hwlab-jd01-v03 --reason "first lane"', what: 'what it would set; changes nothing' },
  ],
  async run(s, a) {
    const id = await requiredFollower(s, a, 'arm');
    requireReason(a, 'arm');
    return editArmingVerb(s, a, { kind: 'arm', id }, true);
  },
});
