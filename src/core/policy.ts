import type { Budgets } from './budgets.ts';

/** What the cores need to know about a follower besides its state: resolved budgets and supersede policy. */
export type Policy = {
  id: string;
  budgets: Budgets;
  onSupersede: 'wait' | 'cancel';
  /** The dispatch kind of the driver in use, recorded on the run for status. */
  runKind: 'Job' | 'Process';
};

/**
 * How long a pending dispatch written by one tick is left alone by others. It exceeds the
 * longest a tick may live (the CronJob's activeDeadlineSeconds and the per-tick deadline), so
 * once it runs out with no dispatch found, the writing tick is certainly gone.
 */
export const PENDING_LEASE_SECONDS = 300;
