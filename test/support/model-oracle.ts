// The model-based fault suite's oracles that need no world: the arming in force over time, and
// what one stored state may become in the next.
import { isAllowedTransition } from '../../src/core/phases.ts';
import { HISTORY_LIMIT, type FollowerState, type Transition } from '../../src/core/state.ts';

export type ArmingModel = { kind: 'ok'; killSwitch: boolean; allow: readonly string[] } | { kind: 'malformed' } | { kind: 'absent' };

export const armedFor = (a: ArmingModel, id: string): boolean => a.kind === 'ok' && !a.killSwitch && a.allow.includes(id);

/**
 * The arming as the model changed it. A change is written between two seq numbers; in between,
 * a reader may see the old value or the new one, so each value counts as possibly in force from
 * the start of its own write to the end of the next one.
 */
export class ArmingTimeline {
  private readonly entries: { start: number; end: number; value: ArmingModel }[] = [];

  constructor(initial: ArmingModel) {
    this.entries.push({ start: 0, end: 0, value: initial });
  }

  get current(): ArmingModel {
    return (this.entries.at(-1) as { value: ArmingModel }).value;
  }

  record(start: number, end: number, value: ArmingModel): void {
    this.entries.push({ start, end, value });
  }

  /** Whether the follower was armed at some moment of [from, to] (seq numbers). */
  armedSomewhere(id: string, from: number, to: number): boolean {
    for (let k = 0; k < this.entries.length; k++) {
      const e = this.entries[k] as { start: number; end: number; value: ArmingModel };
      const next = this.entries[k + 1];
      const validFrom = e.start;
      const validTo = next ? next.end : Number.POSITIVE_INFINITY;
      if (validFrom <= to && validTo >= from && armedFor(e.value, id)) return true;
    }
    return false;
  }
}

const key = (t: Transition): string => JSON.stringify([t.at, t.from, t.to, t.sha, t.attempt, t.reason]);

/** The history of `next` is the history of `prev` with transitions appended (and the oldest dropped past the bound). */
export const extendsHistory = (prev: readonly Transition[], next: readonly Transition[]): boolean => {
  const p = prev.map(key);
  const n = next.map(key);
  for (let d = 0; d <= p.length; d++) {
    if (d > 0 && n.length < HISTORY_LIMIT) return false;
    const tail = p.slice(d);
    if (tail.length <= n.length && tail.every((x, i) => x === n[i])) return true;
  }
  return false;
};

/** Problems with one stored state on its own: its history is a chain of allowed transitions ending in its phase. */
export const historyProblems = (s: FollowerState): string[] => {
  const out: string[] = [];
  s.history.forEach((t, i) => {
    if (!isAllowedTransition(t.from, t.to) || t.from === t.to) out.push(`history[${i}] ${t.from} -> ${t.to} is not in the transition table`);
    const prev = s.history[i - 1];
    if (prev && prev.to !== t.from) out.push(`history[${i}] starts from ${t.from} but history[${i - 1}] ended in ${prev.to}`);
  });
  const last = s.history.at(-1);
  if (last && last.to !== s.phase) out.push(`phase ${s.phase} but the last transition went to ${last.to}`);
  return out;
};

export const TERMINAL: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Blocked']);

export const transitionKey = key;
