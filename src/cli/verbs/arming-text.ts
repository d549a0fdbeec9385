import type { ArmingRead } from '../../core/arming.ts';

/** What is wrong with the arming data, in words a person acts on; null when it is fine. */
export const armingProblem = (read: ArmingRead): string | null => {
  if (read.kind === 'absent') return 'no arming data: every follower counts as disarmed (kill switch on)';
  if (read.kind === 'malformed') {
    return `arming data malformed at ${read.where}: ${read.message}; every follower counts as disarmed until it is fixed (see k8s/README.md, "Arming by hand")`;
  }
  return null;
};
