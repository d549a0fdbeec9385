// The transition table's promises, checked on the table itself.
import { describe, expect, it } from 'vitest';
import { isAllowedTransition, NOTIFY_PHASES, PHASES, RUN_PHASES, TRANSITIONS, type Phase } from '../../src/core/phases.ts';

const SETTLED: Phase[] = ['Observed', 'Noop', 'PendingTrigger', 'Skipped', 'Blocked'];

describe('TRANSITIONS', () => {
  it('has a row for every phase and names only phases', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...PHASES].sort());
    for (const p of PHASES) for (const q of TRANSITIONS[p]) expect(PHASES).toContain(q);
  });

  it('lets only PendingTrigger go to Triggering: a dispatch is always written ahead', () => {
    for (const p of PHASES) expect(TRANSITIONS[p].includes('Triggering'), p).toBe(p === 'PendingTrigger');
  });

  it('never takes a run phase back to a settled phase without a verdict', () => {
    expect(TRANSITIONS.Triggering).toEqual(['ClosingOut', 'Succeeded', 'Failed', 'Blocked', 'Superseded']);
    expect(TRANSITIONS.ClosingOut).toEqual(['Succeeded', 'Failed', 'Blocked', 'Superseded']);
    for (const p of RUN_PHASES) for (const q of SETTLED) expect(isAllowedTransition(p, q), `${p}->${q}`).toBe(q === 'Blocked');
  });

  it('lets every settled phase and every verdict re-decide among the settled phases', () => {
    for (const p of ['Observed', 'Noop', 'PendingTrigger', 'Succeeded', 'Failed', 'Superseded', 'Blocked', 'Skipped'] as Phase[]) {
      for (const q of SETTLED) expect(isAllowedTransition(p, q), `${p}->${q}`).toBe(true);
    }
    expect(isAllowedTransition('Noop', 'Succeeded')).toBe(false);
    expect(isAllowedTransition('Failed', 'ClosingOut')).toBe(false);
  });

  it('counts staying in a phase as allowed (a rewrite, not a transition)', () => {
    for (const p of PHASES) expect(isAllowedTransition(p, p)).toBe(true);
  });

  it('notifies only the three phases a person cares about', () => {
    expect([...NOTIFY_PHASES].sort()).toEqual(['Blocked', 'Failed', 'Succeeded']);
    expect(RUN_PHASES).toEqual(['Triggering', 'ClosingOut']);
  });
});
