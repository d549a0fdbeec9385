import { UsageError } from '../errors.ts';
import { byFlag, defineVerb, reasonFlag } from '../verb.ts';
import { editArmingVerb, requireReason } from './arming-edit.ts';

export const killSwitch = defineVerb({
  name: 'kill-switch',
  summary: 'on: brake now (instant); off: release (needs --confirm)',
  usage: 'kill-switch (on [--reason TEXT] | off --reason TEXT --confirm) [--by WHO]',
  description: 'With the kill switch on no run is dispatched, whatever the allowlist; runs in flight are still closed out. Pulling the brake is instant; releasing it needs --confirm.',
  positional: { name: 'STATE', choices: ['on', 'off'], help: 'on pulls the brake, off releases it' },
  flags: [{ name: 'confirm', help: 'with off: really release the brake' }, reasonFlag('why, recorded with who and when (required with off)'), byFlag],
  examples: [
    { command: 'branch-follower kill-switch on --reason "incident 42"', what: 'brake now' },
    { command: 'branch-follower kill-switch off --confirm --reason "go live"', what: 'release the brake' },
  ],
  async run(s, a) {
    const pos = a.positionals[0];
    if (pos !== 'on' && pos !== 'off') throw new UsageError('kill-switch takes on or off');
    if (pos === 'off') requireReason(a, 'kill-switch off');
    return editArmingVerb(s, a, { kind: 'kill-switch', on: pos === 'on' }, pos === 'off');
  },
});
