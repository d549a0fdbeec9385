import { expect } from 'vitest';
import { TRANSITIONS, type Phase } from '../../src/core/phases.ts';
import { FollowerState, HISTORY_LIMIT } from '../../src/core/state.ts';

/** Freezes a value and everything reachable from it, so any write by the code under test throws. */
export const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
};

/** Plain data only: survives a JSON round trip unchanged (no functions, classes, undefined holes). */
export const isPlainData = (value: unknown): boolean => {
  try {
    return JSON.stringify(JSON.parse(JSON.stringify(value))) === JSON.stringify(value) && !containsNonPlain(value);
  } catch {
    return false;
  }
};

const containsNonPlain = (v: unknown): boolean => {
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return false;
  if (Array.isArray(v)) return v.some(containsNonPlain);
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return true;
    return Object.values(v as object).some(containsNonPlain);
  }
  return true;
};

/**
 * Invariant 6 for one write: the state passes its schema, and the phase moved from `prev` to
 * `next` only through history entries each allowed by TRANSITIONS. Returns the problems found.
 */
export const transitionProblems = (prev: FollowerState | null, next: FollowerState): string[] => {
  const problems: string[] = [];
  const parsed = FollowerState.safeParse(next);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `schema: ${i.path.join('.')}: ${i.message}`));
  if (next.history.length > HISTORY_LIMIT) problems.push(`history holds ${next.history.length} entries`);
  let phase: Phase = prev?.phase ?? 'Observed';
  for (const t of appendedHistory(prev?.history ?? [], next.history)) {
    if (t.from !== phase) problems.push(`entry ${t.from}->${t.to} does not start at ${phase}`);
    if (t.from === t.to || !TRANSITIONS[t.from].includes(t.to)) problems.push(`${t.from}->${t.to} is not in TRANSITIONS`);
    phase = t.to;
  }
  if (phase !== next.phase) problems.push(`phase ${prev?.phase ?? '(none)'}->${next.phase} without a recorded transition`);
  return problems;
};

export const expectValidStep = (prev: FollowerState | null, next: FollowerState): void => {
  expect(transitionProblems(prev, next)).toEqual([]);
};

/** The history entries `next` appended to `prev`: the shortest tail whose removal leaves a suffix of `prev`. */
export const appendedHistory = <T>(prev: readonly T[], next: readonly T[]): T[] => {
  const key = (x: T): string => JSON.stringify(x);
  for (let k = 0; k <= next.length; k++) {
    const kept = next.slice(0, next.length - k);
    const tail = prev.slice(prev.length - kept.length);
    if (kept.length <= prev.length && kept.every((x, i) => key(x) === key(tail[i] as T))) return next.slice(next.length - k);
  }
  return [...next];
};
