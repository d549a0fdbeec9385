import { createOwningConfigs } from '../adapters/config/owning-configs.ts';
import type { Resolution } from '../adapters/followers/adapter.ts';
import { resolveFollowers } from '../adapters/followers/resolve.ts';
import { resolveBudgets, type ResolvedBudgets } from '../core/budgets.ts';
import type { Policy } from '../core/policy.ts';
import type { Follower, Registry } from '../core/registry.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type { LoopContext } from './context.ts';

export type Prepared = {
  follower: Follower;
  resolution: Resolution;
  budgets: ResolvedBudgets;
  policy: Policy;
};

export type Resolved = Omit<Prepared, 'policy'>;

/** The registry's followers (optionally a subset) with their configRefs resolved: no ports needed, so `plan` works without a cluster. */
export const resolveRegistry = async (loaded: LoadedRegistry, only?: ReadonlySet<string>): Promise<Resolved[]> => {
  const { registry, dir } = loaded;
  const resolutions = await resolveFollowers(registry, createOwningConfigs(dir, loaded.configCache));
  return registry.followers
    .filter((f) => !only || only.has(f.id))
    .map((follower) => ({
      follower,
      resolution: resolutions.get(follower.id) ?? { ok: false, side: 'source', message: 'not resolved' },
      budgets: resolveBudgets(follower.id, follower.budgets, registry.controller.defaults.budgets),
    }));
};

/** The registry's followers (optionally a subset) with their configRefs resolved for this tick. */
export const prepareFollowers = async (ctx: LoopContext, only?: ReadonlySet<string>): Promise<Prepared[]> =>
  (await resolveRegistry(ctx.loaded, only)).map((r) => ({
    ...r,
    policy: { id: r.follower.id, budgets: r.budgets, onSupersede: r.follower.onSupersede, runKind: ctx.ports.dispatcher.kind },
  }));

export const unknownFollowers = (registry: Registry, ids: Iterable<string>): string[] => {
  const known = new Set(registry.followers.map((f) => f.id));
  return [...ids].filter((id) => !known.has(id));
};
