// The registry document the end-to-end harnesses write: generic followers whose source and
// target configRefs point into `lanes.yaml`, on either driver.
import type { BudgetOverrides } from '../../src/core/budgets.ts';

export type RegistryFollower = {
  id: string;
  checks?: string[];
  budgets?: BudgetOverrides | Record<string, number>;
  onSupersede?: 'wait' | 'cancel';
};

export const genericRegistry = (o: {
  driver: 'local' | 'kubernetes';
  namespace: string;
  readUrl: string;
  budgets: Record<string, number>;
  followers: readonly RegistryFollower[];
  command: (id: string) => string[];
}): Record<string, unknown> => ({
  controller: {
    namespace: o.namespace,
    driver: o.driver,
    gitMirror: { readUrl: o.readUrl },
    source: { repo: 'pikasTech/unidesk', ref: 'master' },
    schedules: { observer: '* * * * *', closer: '* * * * *' },
    defaults: { budgets: o.budgets },
    local: { stateDir: 'state' },
  },
  followers: o.followers.map((f) => ({
    id: f.id,
    adapter: 'generic',
    source: { configRef: `lanes.yaml#lanes.${f.id}.source` },
    target: { configRef: `lanes.yaml#lanes.${f.id}.target` },
    command: o.command(f.id),
    checks: f.checks ?? ['trigger', 'target'],
    ...(f.budgets ? { budgets: f.budgets } : {}),
    ...(f.onSupersede ? { onSupersede: f.onSupersede } : {}),
  })),
});
