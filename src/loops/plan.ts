import type { ArmingRead } from '../core/arming.ts';
import { gateFor, type Gate } from '../core/arming.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type { TargetSpec } from '../core/target-spec.ts';
import { resolveRegistry } from './prepare.ts';

export type PlanFollower = {
  id: string;
  adapter: string;
  /** Whether both configRefs resolve; when not, `problem` says where and why (it would be Blocked). */
  resolved: boolean;
  problem: string | null;
  source: { repo: string; branch: string } | null;
  target: TargetSpec | null;
  summary: string | null;
  checks: string[];
  budgets: { triggerSeconds: number; closeoutSeconds: number; maxAttempts: number; source: string };
  /** null: the arming data was not read (no cluster credentials). */
  arming: Gate | null;
};

export type Plan = { ok: boolean; followers: PlanFollower[] };

/**
 * The registry as the controller reads it: each follower with its configRef summary, budgets,
 * checks and (when the arming data could be read) its arming gate. Needs no cluster.
 */
export const planFollowers = async (loaded: LoadedRegistry, arming: ArmingRead | null): Promise<Plan> => {
  const resolved = await resolveRegistry(loaded);
  const followers = resolved.map(({ follower, resolution, budgets }): PlanFollower => ({
    id: follower.id,
    adapter: follower.adapter,
    resolved: resolution.ok,
    problem: resolution.ok ? null : `${resolution.side}: ${resolution.message}`,
    source: resolution.ok ? { repo: resolution.spec.source.repo, branch: resolution.spec.source.branch } : resolution.source ? { repo: resolution.source.repo, branch: resolution.source.branch } : null,
    target: resolution.ok ? resolution.spec.target : null,
    summary: resolution.ok ? resolution.spec.summary : null,
    checks: [...follower.checks],
    budgets: { triggerSeconds: budgets.triggerSeconds, closeoutSeconds: budgets.closeoutSeconds, maxAttempts: budgets.maxAttempts, source: budgets.source },
    arming: arming ? gateFor(arming, follower.id) : null,
  }));
  return { ok: followers.every((f) => f.resolved), followers };
};
