import type { AdapterKind, Registry } from '../../core/registry.ts';
import { SourceSection } from '../../core/target-spec.ts';
import type { OwningConfigs } from '../config/owning-configs.ts';
import type { FollowerAdapter, Resolution } from './adapter.ts';
import { genericAdapter } from './generic.ts';
import { seedAdapters } from './seeds.ts';

export const ADAPTER_REGISTRY: Record<AdapterKind, FollowerAdapter> = {
  generic: genericAdapter,
  ...seedAdapters,
};

/**
 * Resolves every follower's configRefs through its adapter. A follower whose refs do not
 * resolve gets a failed resolution (it becomes Blocked); the others are unaffected.
 */
export const resolveFollowers = async (registry: Registry, configs: OwningConfigs): Promise<Map<string, Resolution>> => {
  const out = new Map<string, Resolution>();
  await Promise.all(
    registry.followers.map(async (follower) => {
      const [src, tgt] = await Promise.all([configs.resolve(follower.source.configRef), configs.resolve(follower.target.configRef)]);
      if (!src.ok) return void out.set(follower.id, { ok: false, side: 'source', message: src.reason });
      // Every adapter's source section is the plain {repo, branch}; keep it when only the target
      // fails. Checked only then: the adapter checks it anyway (a second zod pass over every
      // follower's section cost ~10 ms a tick at 1000 followers without a JIT).
      const withSource = (r: Resolution): Resolution => {
        if (r.ok || r.side !== 'target') return r;
        const source = SourceSection.safeParse(src.value);
        return source.success ? { ...r, source: source.data } : r;
      };
      if (!tgt.ok) return void out.set(follower.id, withSource({ ok: false, side: 'target', message: tgt.reason }));
      out.set(
        follower.id,
        withSource(
          ADAPTER_REGISTRY[follower.adapter].resolve({
            follower,
            controller: registry.controller,
            source: { ref: follower.source.configRef, value: src.value },
            target: { ref: follower.target.configRef, value: tgt.value },
          }),
        ),
      );
    }),
  );
  return out;
};
