// The status contract: exactly the documented fields, parseable by StatusRow, with drill-down commands.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveBudgets } from '../../src/core/budgets.ts';
import { PHASES } from '../../src/core/phases.ts';
import { toIso } from '../../src/core/primitives.ts';
import { runName } from '../../src/core/run-name.ts';
import { nextCommands, StatusDoc, StatusRow, statusRow } from '../../src/core/status-view.ts';
import { budgetOverridesArb, fcParams, followerStateArb, fullBudgetsArb, gateArb, timeArb } from '../support/arbitraries.ts';
import { A, ARMED, armingAbsent, armingMalformed, at, follower, HWLAB, killSwitchOn, notAllowlisted, policyFor, startRun } from './fixtures.ts';

const FIELDS = ['id', 'phase', 'adapter', 'source', 'targetSha', 'lastTriggeredSha', 'lastSucceededSha', 'inFlight', 'budget', 'reason', 'next'];
const defaults = { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 };

describe('statusRow', () => {
  it('shows a seed follower with a run in flight, field for field', () => {
    const run = startRun(policyFor(HWLAB), A, at(0));
    const budgets = resolveBudgets(HWLAB, follower(HWLAB).budgets, defaults);
    const row = statusRow({ id: HWLAB, adapter: 'hwlab-node-runtime', source: { repo: 'pikasTech/HWLAB', branch: 'v0.3' }, budgets, state: run, gate: ARMED });
    expect(row).toEqual({
      id: HWLAB,
      phase: 'Triggering',
      adapter: 'hwlab-node-runtime',
      source: { repo: 'pikasTech/HWLAB', branch: 'v0.3', observedSha: A },
      targetSha: null,
      lastTriggeredSha: A,
      lastSucceededSha: null,
      inFlight: { name: runName(HWLAB, A, 1, 1), kind: 'Job', sha: A, attempt: 1, startedAt: toIso(at(0)) },
      budget: { source: `followers[${HWLAB}].budgets (closeoutSeconds) + controller.defaults`, triggerSeconds: 600, closeoutSeconds: 2400, maxAttempts: 2 },
      reason: run.reason,
      next: [`branch-follower logs --follower ${HWLAB}`, `branch-follower events --follower ${HWLAB}`, 'branch-follower status --live'],
    });
    expect(Object.keys(row)).toEqual(FIELDS);
    expect(StatusRow.parse(row)).toEqual(row);
    expect(StatusDoc.parse({ followers: [row] })).toEqual({ followers: [row] });
  });

  it('shows a follower the observer has not seen yet', () => {
    const row = statusRow({ id: HWLAB, adapter: 'hwlab-node-runtime', source: null, budgets: resolveBudgets(HWLAB, undefined, defaults), state: null, gate: killSwitchOn(HWLAB) });
    expect(row).toEqual({
      id: HWLAB,
      phase: 'Observed',
      adapter: 'hwlab-node-runtime',
      source: { repo: null, branch: null, observedSha: null },
      targetSha: null,
      lastTriggeredSha: null,
      lastSucceededSha: null,
      inFlight: null,
      budget: { source: 'controller.defaults', triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 },
      reason: 'no state yet: the observer has not run for this follower',
      next: ['branch-follower status --live', `branch-follower events --follower ${HWLAB}`],
    });
    expect(StatusRow.parse(row)).toEqual(row);
  });

  it('always parses with StatusRow and carries exactly the contract fields', () => {
    const input = fc.record({ base: timeArb, own: budgetOverridesArb, defs: fullBudgetsArb }).chain(({ base, own, defs }) =>
      followerStateArb(base).chain((state) =>
        fc.record({
          state: fc.option(fc.constant(state), { nil: null }),
          gate: gateArb(state.id),
          source: fc.option(fc.record({ repo: fc.constantFrom('pikasTech/HWLAB', 'pikasTech/unidesk'), branch: fc.constantFrom('v0.3', 'master') }), { nil: null }),
          budgets: fc.constant(resolveBudgets(state.id, own, defs)),
          id: fc.constant(state.id),
        }),
      ),
    );
    fc.assert(
      fc.property(input, ({ id, state, gate, source, budgets }) => {
        const row = statusRow({ id, adapter: 'generic', source, budgets, state, gate });
        expect(Object.keys(row)).toEqual(FIELDS);
        expect(StatusRow.safeParse(row).success).toBe(true);
        expect(row.phase).toBe(state?.phase ?? 'Observed');
        expect(row.inFlight?.name ?? null).toBe(state?.inFlight?.name ?? null);
        expect(row.next.length).toBeGreaterThan(0);
      }),
      fcParams(),
    );
  });
});

describe('nextCommands', () => {
  const f = `--follower ${HWLAB}`;

  it('names a next command for every phase', () => {
    for (const p of PHASES) expect(nextCommands(HWLAB, p, ARMED).length, p).toBeGreaterThan(0);
    expect(nextCommands(HWLAB, 'Blocked', ARMED)).toEqual([`branch-follower events ${f}`, `branch-follower logs ${f}`, 'branch-follower plan']);
    expect(nextCommands(HWLAB, 'Failed', ARMED)).toEqual([`branch-follower logs ${f}`, `branch-follower events ${f}`]);
    expect(nextCommands(HWLAB, 'PendingTrigger', ARMED)).toEqual([`branch-follower run-once ${f} --confirm --wait`, `branch-follower events ${f}`]);
  });

  it('for Skipped, names the commands that clear the gate that stopped it', () => {
    expect(nextCommands(HWLAB, 'Skipped', killSwitchOn(HWLAB))).toEqual(['branch-follower kill-switch off --reason "<why>" --confirm', `branch-follower arm ${f} --reason "<why>" --confirm (if not allowlisted)`, `branch-follower events ${f}`]);
    expect(nextCommands(HWLAB, 'Skipped', notAllowlisted(HWLAB))).toEqual([`branch-follower arm ${f} --reason "<why>" --confirm`, `branch-follower events ${f}`]);
    for (const gate of [armingAbsent(HWLAB), armingMalformed(HWLAB)]) {
      expect(nextCommands(HWLAB, 'Skipped', gate)).toEqual(['branch-follower kill-switch off --reason "<why>" --confirm', `branch-follower arm ${f} --reason "<why>" --confirm`, `branch-follower events ${f}`]);
    }
  });
});
