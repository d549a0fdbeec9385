import { z } from 'zod';

export const PHASES = [
  'Observed',
  'Noop',
  'PendingTrigger',
  'Triggering',
  'ClosingOut',
  'Succeeded',
  'Failed',
  'Superseded',
  'Blocked',
  'Skipped',
] as const;

export const Phase = z.enum(PHASES);
export type Phase = z.infer<typeof Phase>;

/** Phases in which a dispatch exists that the closer still owns. */
export const RUN_PHASES: readonly Phase[] = ['Triggering', 'ClosingOut'];

/** Phases a notification is sent for (once per follower, run and phase). */
export const NOTIFY_PHASES: readonly Phase[] = ['Succeeded', 'Failed', 'Blocked'];

// Where the observer may go when nothing is in flight: every settled phase may re-decide.
const SETTLE: readonly Phase[] = ['Observed', 'Noop', 'PendingTrigger', 'Skipped', 'Blocked'];

/**
 * The one table of allowed transitions. Self-transitions are not transitions (a state may be
 * rewritten in the same phase, e.g. with a new reason), so they are not listed.
 * Notably absent: a settled phase straight into Triggering (a dispatch is always written
 * ahead as PendingTrigger), and a run phase back into a settled one without a verdict
 * (the brake never abandons a run in flight).
 */
export const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  Observed: SETTLE,
  Noop: SETTLE,
  PendingTrigger: [...SETTLE, 'Triggering'],
  Triggering: ['ClosingOut', 'Succeeded', 'Failed', 'Blocked', 'Superseded'],
  ClosingOut: ['Succeeded', 'Failed', 'Blocked', 'Superseded'],
  Succeeded: SETTLE,
  Failed: SETTLE,
  Superseded: SETTLE,
  Blocked: SETTLE,
  Skipped: SETTLE,
};

export const isAllowedTransition = (from: Phase, to: Phase): boolean =>
  from === to || TRANSITIONS[from].includes(to);
