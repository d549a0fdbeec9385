import { z } from 'zod';

const Seconds = z.number().int().positive().max(7 * 24 * 3600);

export const Budgets = z
  .object({
    /** How long the dispatch itself may run (the Job's activeDeadlineSeconds), and how long an unreadable target is tolerated before Blocked. */
    triggerSeconds: Seconds,
    /** The whole run, from dispatch to the last closeout check. */
    closeoutSeconds: Seconds,
    /** Attempts per sha, the first included. */
    maxAttempts: z.number().int().min(1).max(20),
  })
  .strict();
export type Budgets = z.infer<typeof Budgets>;

export const BudgetOverrides = Budgets.partial().strict();
export type BudgetOverrides = z.infer<typeof BudgetOverrides>;

export const BUDGET_KEYS = ['triggerSeconds', 'closeoutSeconds', 'maxAttempts'] as const;
export type BudgetKey = (typeof BUDGET_KEYS)[number];
export type BudgetOrigin = 'follower' | 'controller.defaults';

export type ResolvedBudgets = Budgets & {
  /** Which layer each value came from, so status can name it. */
  origins: Record<BudgetKey, BudgetOrigin>;
  /** One-line summary: "controller.defaults", or which keys the follower overrides. */
  source: string;
};

export const resolveBudgets = (
  followerId: string,
  overrides: BudgetOverrides | undefined,
  defaults: Budgets,
): ResolvedBudgets => {
  const values = { ...defaults };
  const origins = {} as Record<BudgetKey, BudgetOrigin>;
  for (const key of BUDGET_KEYS) {
    const own = overrides?.[key];
    if (own !== undefined) values[key] = own;
    origins[key] = own !== undefined ? 'follower' : 'controller.defaults';
  }
  const own = BUDGET_KEYS.filter((k) => origins[k] === 'follower');
  const source =
    own.length === 0
      ? 'controller.defaults'
      : own.length === BUDGET_KEYS.length
        ? `followers[${followerId}].budgets`
        : `followers[${followerId}].budgets (${own.join(', ')}) + controller.defaults`;
  return { ...values, origins, source };
};
