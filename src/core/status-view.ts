import { z } from 'zod';
import type { Gate } from './arming.ts';
import type { ResolvedBudgets } from './budgets.ts';
import { Phase } from './phases.ts';
import { activeHolds, type MirrorHolds } from './mirror-holds.ts';
import { IsoTime, Sha } from './primitives.ts';
import { ReportedSha } from './revision.ts';
import { allowedAttempts, attemptsFor, type FollowerState } from './state.ts';

/** The status contract: `status -o json` prints `{ followers: StatusRow[] }`, exactly these fields. */
export const StatusRow = z
  .object({
    id: z.string(),
    phase: Phase,
    adapter: z.string(),
    source: z.object({ repo: z.string().nullable(), branch: z.string().nullable(), observedSha: Sha.nullable() }).strict(),
    targetSha: ReportedSha.nullable(),
    lastTriggeredSha: Sha.nullable(),
    lastSucceededSha: Sha.nullable(),
    inFlight: z
      .object({ name: z.string(), kind: z.enum(['Job', 'Process']), sha: Sha, attempt: z.number().int(), startedAt: IsoTime })
      .strict()
      .nullable(),
    budget: z
      .object({ source: z.string(), triggerSeconds: z.number(), closeoutSeconds: z.number(), maxAttempts: z.number() })
      .strict(),
    reason: z.string(),
    next: z.array(z.string()),
  })
  .strict();
export type StatusRow = z.infer<typeof StatusRow>;

/** Repositories held by mirror back-pressure (HTTP 429/503 with Retry-After): not read before `until`. */
export const MirrorStatus = z
  .object({ held: z.number().int().min(0), holds: z.array(z.object({ repo: z.string(), until: IsoTime, since: IsoTime, reason: z.string() }).strict()) })
  .strict();
export type MirrorStatus = z.infer<typeof MirrorStatus>;

export const StatusDoc = z.object({ followers: z.array(StatusRow), mirror: MirrorStatus.optional() }).strict();
export type StatusDoc = z.infer<typeof StatusDoc>;

export const mirrorStatus = (h: MirrorHolds, now: number): MirrorStatus => {
  const holds = [...activeHolds(h, now)].map(([repo, hold]) => ({ repo, ...hold }));
  return { held: holds.length, holds };
};

export type StatusInput = {
  id: string;
  adapter: string;
  source: { repo: string; branch: string } | null;
  budgets: ResolvedBudgets;
  state: FollowerState | null;
  gate: Gate;
};

/** The drill-down commands a person would run next, per phase. */
export const nextCommands = (id: string, phase: Phase, gate: Gate, attemptsUsedUp = false): string[] => {
  const f = `--follower ${id}`;
  const events = `branch-follower events ${f}`;
  const logs = `branch-follower logs ${f}`;
  switch (phase) {
    case 'Observed':
      return [`branch-follower status --live`, events];
    case 'Noop':
    case 'Succeeded':
      return [events];
    case 'PendingTrigger':
      return [`branch-follower run-once ${f} --confirm --wait`, events];
    case 'Triggering':
    case 'ClosingOut':
    case 'Superseded':
      return [logs, events, `branch-follower status --live`];
    case 'Failed':
      return [logs, events];
    case 'Blocked':
      // Another attempt helps only a follower whose attempts ran out, once the cause is fixed.
      return attemptsUsedUp ? [logs, `branch-follower retry ${f} --reason "<why>" --confirm`, events] : [events, logs, `branch-follower plan`];
    case 'Skipped': {
      const arm: string[] = [];
      if (!gate.armed && (gate.gate === 'kill-switch' || gate.gate === 'arming-absent' || gate.gate === 'arming-malformed')) arm.push('branch-follower kill-switch off --reason "<why>" --confirm');
      if (!gate.armed && gate.gate !== 'kill-switch') arm.push(`branch-follower arm ${f} --reason "<why>" --confirm`);
      if (!gate.armed && gate.gate === 'kill-switch') arm.push(`branch-follower arm ${f} --reason "<why>" --confirm (if not allowlisted)`);
      return [...arm, events];
    }
  }
};

export const statusRow = (i: StatusInput): StatusRow => {
  const s = i.state;
  const phase = s?.phase ?? 'Observed';
  return {
    id: i.id,
    phase,
    adapter: i.adapter,
    source: { repo: i.source?.repo ?? null, branch: i.source?.branch ?? null, observedSha: s?.observedSha ?? null },
    targetSha: s?.targetSha ?? null,
    lastTriggeredSha: s?.lastTriggeredSha ?? null,
    lastSucceededSha: s?.lastSucceededSha ?? null,
    inFlight: s?.inFlight
      ? { name: s.inFlight.name, kind: s.inFlight.kind, sha: s.inFlight.sha, attempt: s.inFlight.attempt, startedAt: s.inFlight.startedAt }
      : null,
    budget: {
      source: i.budgets.source,
      triggerSeconds: i.budgets.triggerSeconds,
      closeoutSeconds: i.budgets.closeoutSeconds,
      maxAttempts: i.budgets.maxAttempts,
    },
    reason: s?.reason ?? 'no state yet: the observer has not run for this follower',
    next: nextCommands(i.id, phase, i.gate, !!s && s.phase === 'Blocked' && s.observedSha !== null && attemptsFor(s, s.observedSha, s.episode) >= allowedAttempts(s, s.observedSha, s.episode, i.budgets.maxAttempts)),
  };
};
