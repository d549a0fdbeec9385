import { gateFor } from '../core/arming.ts';
import { table } from '../render.ts';
import type { LoopContext } from './context.ts';
import { prepareFollowers } from './prepare.ts';

export type Plan = { ok: boolean; text: string };

/**
 * The registry as the controller reads it: each follower with its configRef summary, budgets
 * and arming gate. A follower whose refs do not resolve is shown with the reason (it would be
 * Blocked) and makes the plan not ok.
 */
export const planFollowers = async (ctx: LoopContext): Promise<Plan> => {
  const prepared = await prepareFollowers(ctx);
  const arming = await ctx.ports.arming.read();
  const { registry, display } = ctx.loaded;
  const rows = prepared.map((p) => {
    const gate = gateFor(arming.read, p.follower.id);
    return [
      p.follower.id,
      p.follower.adapter,
      p.resolution.ok ? p.resolution.spec.summary : `UNRESOLVED ${p.resolution.side}: ${p.resolution.message}`,
      p.follower.checks.join(','),
      `${p.budgets.triggerSeconds}s/${p.budgets.closeoutSeconds}s/${p.budgets.maxAttempts}x (${p.budgets.source})`,
      gate.armed ? 'armed' : `disarmed (${gate.gate})`,
    ];
  });
  const head = [
    `registry: ${display} (driver ${registry.controller.driver}, namespace ${registry.controller.namespace})`,
    `git mirror: ${registry.controller.gitMirror.readUrl}`,
    `followers: ${prepared.length}`,
    '',
  ];
  const text = [...head, table(['ID', 'ADAPTER', 'CONFIGREF SUMMARY', 'CHECKS', 'BUDGETS trigger/closeout/attempts', 'ARMING'], rows)].join('\n');
  return { ok: prepared.every((p) => p.resolution.ok), text };
};
