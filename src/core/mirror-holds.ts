import { z } from 'zod';
import { IsoTime, RepoName, fromIso, toIso } from './primitives.ts';

/**
 * Mirror back-pressure: a repository whose mirror answered HTTP 429 or 503 with Retry-After is
 * held until that time, and no tick reads it before then. The holds live in the state store
 * (one small document per installation), so they outlast the tick that saw the answer.
 */

export const MIRROR_HOLDS_CONFIGMAP = 'branch-follower-mirror-holds';
/** Holds far beyond any sane Retry-After are cut to this; a mirror asking for more is read a day later. */
export const MAX_HOLD_SECONDS = 86_400;
export const MAX_HOLDS = 1000;

export const MirrorHold = z.object({ until: IsoTime, since: IsoTime, reason: z.string().max(2000) }).strict();
export type MirrorHold = z.infer<typeof MirrorHold>;

export const MirrorHolds = z
  .object({ schemaVersion: z.literal(1), holds: z.record(RepoName, MirrorHold) })
  .strict()
  .refine((h) => Object.keys(h.holds).length <= MAX_HOLDS, `at most ${MAX_HOLDS} holds`);
export type MirrorHolds = z.infer<typeof MirrorHolds>;

export const NO_HOLDS: MirrorHolds = Object.freeze({ schemaVersion: 1, holds: Object.freeze({}) }) as MirrorHolds;

/** The holds still in force at `now`: these repositories are not read. */
export const activeHolds = (h: MirrorHolds, now: number): Map<string, MirrorHold> =>
  new Map(Object.entries(h.holds).filter(([, hold]) => fromIso(hold.until) > now));

export type FreshHold = { repo: string; until: string; reason: string };

/**
 * The holds after a tick: expired ones dropped, each fresh one added (a later `until` wins, a
 * repository already held keeps its `since`), every `until` capped at MAX_HOLD_SECONDS from now.
 * Returns null when nothing changed, so an idle tick writes nothing.
 */
export const nextHolds = (prev: MirrorHolds, fresh: readonly FreshHold[], now: number): MirrorHolds | null => {
  const holds: Record<string, MirrorHold> = Object.fromEntries(activeHolds(prev, now));
  const cap = now + MAX_HOLD_SECONDS * 1000;
  for (const f of fresh) {
    const until = Math.min(fromIso(f.until), cap);
    if (until <= now) continue;
    const had = holds[f.repo];
    if (had && fromIso(had.until) >= until) continue;
    holds[f.repo] = { until: toIso(until), since: had?.since ?? toIso(now), reason: f.reason.slice(0, 2000) };
  }
  const next: MirrorHolds = { schemaVersion: 1, holds: Object.fromEntries(Object.entries(holds).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, MAX_HOLDS)) };
  return JSON.stringify(next) === JSON.stringify({ schemaVersion: 1, holds: Object.fromEntries(Object.entries(prev.holds).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) }) ? null : next;
};
