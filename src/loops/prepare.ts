import { createOwningConfigs } from '../adapters/config/owning-configs.ts';
import type { Resolution } from '../adapters/followers/adapter.ts';
import { resolveFollowers } from '../adapters/followers/resolve.ts';
import { resolveBudgets, type ResolvedBudgets } from '../core/budgets.ts';
import type { Policy } from '../core/policy.ts';
import type { Follower, Registry } from '../core/registry.ts';
import type { LoopContext } from './context.ts';

export type Prepared = {
  follower: Follower;
  resolution: Resolution;
  budgets: ResolvedBudgets;
  policy: Policy;
};

/** The registry's followers (optionally a subset) with their configRefs resolved for this tick. */
export const prepareFollowers = async (ctx: LoopContext, only?: ReadonlySet<string>): Promise<Prepared[]> => {
  const { registry, dir } = ctx.loaded;
  const resolutions = await resolveFollowers(registry, createOwningConfigs(dir));
  return registry.followers
    .filter((f) => !only || only.has(f.id))
    .map((follower) => {
      const budgets = resolveBudgets(follower.id, follower.budgets, registry.controller.defaults.budgets);
      return {
        follower,
        resolution: resolutions.get(follower.id) ?? { ok: false, side: 'source', message: 'not resolved' },
        budgets,
        policy: { id: follower.id, budgets, onSupersede: follower.onSupersede, runKind: ctx.ports.dispatcher.kind },
      };
    });
};

export const unknownFollowers = (registry: Registry, ids: Iterable<string>): string[] => {
  const known = new Set(registry.followers.map((f) => f.id));
  return [...ids].filter((id) => !known.has(id));
};
