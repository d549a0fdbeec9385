// Example tests of the observer's pure decision, phase by phase, on the three seed followers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dispatched, dispatchFailed, observe } from '../../src/core/observe.ts';
import { PENDING_LEASE_SECONDS, type Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import { runName } from '../../src/core/run-name.ts';
import { FollowerState, HISTORY_LIMIT, initialState, transition } from '../../src/core/state.ts';
import { expectValidStep } from './helpers.ts';
import {
  A,
  AGENTRUN,
  ARMED,
  armingAbsent,
  armingMalformed,
  at,
  B,
  C,
  close,
  follower,
  HWLAB,
  killSwitchOn,
  notAllowlisted,
  obs,
  policyFor,
  SENTINEL,
  startRun,
  withRun,
} from './fixtures.ts';
import { fcParams, followerStateArb, gateArb, isoTimeArb, observeInputArb, policyArb, shaArb, targetObsArb, timeArb } from '../support/arbitraries.ts';

const SEEDS = [HWLAB, AGENTRUN, SENTINEL] as const;

describe.each(SEEDS)('the seed follower %s, from no state to Succeeded', (id) => {
  const policy = policyFor(id);
  const checks = follower(id).checks;
  const name = runName(id, A, 1, 1);

  it('writes a new sha ahead as PendingTrigger, with a dispatch named deterministically from (id, sha, attempt)', () => {
    const r = observe(null, obs(A, null), ARMED, policy, at(0));
    expect(name).toBe(`bf-${id}-${A.slice(0, 12)}-e1-a1`);
    expect(r.effects).toEqual([{ kind: 'dispatch', sha: A, episode: 1, attempt: 1, name }]);
    expect(r.decision).toEqual({ kind: 'dispatch', sha: A, episode: 1, attempt: 1, name });
    expect(r.state).toMatchObject({
      id,
      phase: 'PendingTrigger',
      observedSha: A,
      targetSha: null,
      lastTriggeredSha: null,
      pending: { sha: A, attempt: 1, name, at: toIso(at(0)) },
      inFlight: null,
      attempts: [],
      updatedAt: toIso(at(0)),
    });
    expect(r.state.history).toEqual([{ at: toIso(at(0)), from: 'Observed', to: 'PendingTrigger', sha: A, attempt: 1, reason: r.state.reason, episode: 1, run: name }]);
    expect(r.state.reason).toBe(`dispatching ${A.slice(0, 12)} attempt 1/${policy.budgets.maxAttempts} as ${name}`);
    expectValidStep(null, r.state);
    // The same inputs name the same dispatch: a crashed tick's successor recomputes it.
    expect(observe(null, obs(A, null), ARMED, policy, at(0)).effects).toEqual(r.effects);
  });

  it('records the dispatch as Triggering, then folds the checks through ClosingOut to Succeeded', () => {
    const pending = observe(null, obs(A, null), ARMED, policy, at(0)).state;
    const triggering = dispatched(pending, { name, kind: 'Job', startedAt: toIso(at(1)) }, at(1));
    expectValidStep(pending, triggering);
    expect(triggering).toMatchObject({
      phase: 'Triggering',
      pending: null,
      inFlight: { sha: A, attempt: 1, name, kind: 'Job', startedAt: toIso(at(1)), superseded: false },
      lastTriggeredSha: A,
      lastSucceededSha: null,
      attempts: [{ sha: A, count: 1 }],
    });
    expect(triggering.history.at(-1)).toMatchObject({ from: 'PendingTrigger', to: 'Triggering', sha: A, attempt: 1 });
    // Idempotent, and only for the pending dispatch it names.
    expect(dispatched(triggering, { name, kind: 'Job', startedAt: toIso(at(2)) }, at(2))).toBe(triggering);
    expect(dispatched(pending, { name: runName(id, B, 2, 1), kind: 'Job', startedAt: toIso(at(2)) }, at(2))).toBe(pending);

    // The observer leaves a run in flight to the closer.
    const again = observe(triggering, obs(A, null, 'PENDING'), ARMED, policy, at(30));
    expect(again.state).toBe(triggering);
    expect(again.effects).toEqual([]);
    expect(again.decision).toEqual({ kind: 'none', reason: `${name} is in flight; the closer owns it` });

    const t1 = close(withRun(triggering), checks, { trigger: 'PENDING' }, policy, at(60));
    expect(t1.action).toEqual({ kind: 'wait', phase: 'Triggering', reason: 'waiting on check trigger: trigger PENDING' });
    expect(t1.state).toMatchObject({ phase: 'Triggering', checks: [{ check: 'trigger', result: 'PENDING', detail: 'trigger PENDING' }] });
    expect(t1.state.history).toEqual(triggering.history);

    const second = checks[1];
    if (second) {
      const t2 = close(withRun(t1.state), checks, { trigger: 'SUCCESS', [second]: 'PENDING' }, policy, at(120));
      expect(t2.action).toEqual({ kind: 'wait', phase: 'ClosingOut', reason: `waiting on check ${second}: ${second} PENDING` });
      expect(t2.state.phase).toBe('ClosingOut');
      expect(t2.state.history.at(-1)).toMatchObject({ from: 'Triggering', to: 'ClosingOut', sha: A, attempt: 1 });
      expectValidStep(t1.state, t2.state);
    }

    const green = close(withRun(t1.state), checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(300));
    expect(green.reads).toEqual(checks);
    expect(green.action).toEqual({ kind: 'succeed', reason: `every check passed for ${A.slice(0, 12)}: ${checks.join(', ')}` });
    // The passed target check already recorded the target's sha.
    expect(green.state).toMatchObject({ phase: 'Succeeded', inFlight: null, lastSucceededSha: A, lastTriggeredSha: A, targetSha: checks.includes('target') ? A : null, updatedAt: toIso(at(300)) });
    expect(green.state.checks).toEqual(checks.map((c) => ({ check: c, result: 'SUCCESS', detail: `${c} SUCCESS` })));
    expect(green.state.history.at(-1)).toMatchObject({ to: 'Succeeded', sha: A, attempt: 1 });
    expectValidStep(t1.state, green.state);

    // Deployed and succeeded: the observer finds nothing left to write.
    const seen = observe(green.state, obs(A, A), ARMED, policy, at(360));
    expect(seen.state).toEqual({ ...green.state, targetSha: A, updatedAt: toIso(at(checks.includes('target') ? 300 : 360)) });
    expect(seen.effects).toEqual([]);
    expect(observe(seen.state, obs(A, A), ARMED, policy, at(420)).state).toBe(seen.state);
  });
});

describe('Noop', () => {
  it('is where a follower rests when the target already runs the observed sha; an idle tick writes nothing', () => {
    const policy = policyFor(HWLAB);
    const r = observe(null, obs(A, A), ARMED, policy, at(0));
    expect(r.state).toMatchObject({ phase: 'Noop', reason: `target is at ${A.slice(0, 12)}`, observedSha: A, targetSha: A, pending: null });
    expect(r.effects).toEqual([]);
    expect(r.decision).toEqual({ kind: 'none', reason: r.state.reason });
    expectValidStep(null, r.state);
    const again = observe(r.state, obs(A, A), ARMED, policy, at(60));
    expect(again.state).toBe(r.state);
  });

  it('is reached even when disarmed: nothing would be dispatched anyway', () => {
    expect(observe(null, obs(A, A), killSwitchOn(HWLAB), policyFor(HWLAB), at(0)).state.phase).toBe('Noop');
  });
});

describe('Failed, retried, then Blocked when attempts run out; a new commit clears Blocked', () => {
  const policy = policyFor(HWLAB); // maxAttempts 2 from controller.defaults
  const checks = follower(HWLAB).checks;

  it('walks the whole path', () => {
    const run1 = startRun(policy, A, at(0));
    const failed = close(run1, checks, { trigger: 'SUCCESS', pipeline: 'FAILURE' }, policy, at(100));
    expect(failed.reads).toEqual(['trigger', 'pipeline']);
    expect(failed.action).toEqual({ kind: 'fail', reason: 'check pipeline failed: pipeline FAILURE; attempt 1/2, a retry follows', cancel: false });
    expect(failed.state).toMatchObject({ phase: 'Failed', inFlight: null, lastSucceededSha: null, attempts: [{ sha: A, count: 1 }] });
    expectValidStep(run1, failed.state);

    const retry = observe(failed.state, obs(A, null), ARMED, policy, at(160));
    const name2 = runName(HWLAB, A, 1, 2);
    expect(retry.effects).toEqual([{ kind: 'dispatch', sha: A, episode: 1, attempt: 2, name: name2 }]);
    expect(name2).toBe(`bf-${HWLAB}-${A.slice(0, 12)}-e1-a2`);
    expect(retry.state.history.at(-1)).toMatchObject({ from: 'Failed', to: 'PendingTrigger', sha: A, attempt: 2 });

    const run2 = withRun(dispatched(retry.state, { name: name2, kind: 'Job', startedAt: toIso(at(161)) }, at(161)));
    expect(run2.attempts).toEqual([{ sha: A, episode: 1, count: 2 }]);
    const blocked = close(run2, checks, { trigger: 'FAILURE' }, policy, at(200));
    expect(blocked.reads).toEqual(['trigger']);
    expect(blocked.action).toEqual({
      kind: 'block',
      reason: `check trigger failed: trigger FAILURE; attempts exhausted for ${A.slice(0, 12)} (2/2 in this visit of the branch); unblock: branch-follower retry --follower ${HWLAB} --reason "<why>" --confirm (one more attempt, once the cause is fixed), push a new commit, or raise budgets.maxAttempts for ${HWLAB} in the registry`,
      cancel: false,
    });
    expect(blocked.state).toMatchObject({ phase: 'Blocked', inFlight: null });
    expectValidStep(run2, blocked.state);

    // The same sha again: still Blocked, never a third attempt.
    const still = observe(blocked.state, obs(A, null), ARMED, policy, at(260));
    expect(still.effects).toEqual([]);
    expect(still.decision.kind).toBe('block');
    expect(still.state.phase).toBe('Blocked');
    expect(still.state.reason).toBe(`attempts exhausted for ${A.slice(0, 12)} (2/2 in this visit of the branch); unblock: branch-follower retry --follower ${HWLAB} --reason "<why>" --confirm (one more attempt, once the cause is fixed), push a new commit, or raise budgets.maxAttempts for ${HWLAB} in the registry`);
    expect(observe(still.state, obs(A, null), ARMED, policy, at(320)).state).toBe(still.state);

    // A new commit clears it.
    const cleared = observe(still.state, obs(B, null), ARMED, policy, at(380));
    expect(cleared.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
    expect(cleared.state.history.at(-1)).toMatchObject({ from: 'Blocked', to: 'PendingTrigger', sha: B, attempt: 1 });
    expectValidStep(still.state, cleared.state);
  });

  it('never retries a failed sha once a newer one exists', () => {
    const failed = close(startRun(policy, A, at(0)), checks, { trigger: 'FAILURE' }, policy, at(60)).state;
    expect(failed.phase).toBe('Failed');
    const r = observe(failed, obs(B, null), ARMED, policy, at(120));
    expect(r.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
  });

  it('a sha whose attempts are exhausted is tried again when the branch leaves it and comes back (someone moved it on purpose)', () => {
    const one: Policy = { ...policy, budgets: { ...policy.budgets, maxAttempts: 1 } };
    const blocked = close(startRun(one, A, at(0)), checks, { trigger: 'FAILURE' }, one, at(60)).state;
    expect(blocked.phase).toBe('Blocked');
    const b = startRun(one, B, at(120), blocked);
    const bDone = close(b, checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, one, at(200)).state;
    const back = observe(bDone, obs(A, B), ARMED, one, at(260));
    expect(back.effects).toEqual([{ kind: 'dispatch', sha: A, episode: 3, attempt: 1, name: runName(HWLAB, A, 3, 1) }]);
    expect(back.state.history.at(-1)).toMatchObject({ from: 'Succeeded', to: 'PendingTrigger', sha: A, attempt: 1, episode: 3 });
    // Within that visit nothing changes: its one attempt failing blocks it again.
    const again = close(startRun(one, A, at(261), bDone, B), checks, { trigger: 'FAILURE' }, one, at(300)).state;
    expect(again.phase).toBe('Blocked');
    expect(observe(again, obs(A, B), ARMED, one, at(360)).effects).toEqual([]);
  });
});

describe('Skipped names the gate that stopped the dispatch', () => {
  const cases = [
    ['kill switch', killSwitchOn(SENTINEL), 'disarmed: kill switch is on (by alice: incident 42)'],
    ['allowlist', notAllowlisted(SENTINEL), `disarmed: ${SENTINEL} is not on the allowlist`],
    ['absent arming', armingAbsent(SENTINEL), 'disarmed: no arming data (counts as kill switch on)'],
    ['malformed arming', armingMalformed(SENTINEL), 'disarmed: arming data malformed at configmap/branch-follower-arming: killSwitch: not JSON'],
  ] as const;

  it.each(cases)('%s', (_label, gate, reason) => {
    const policy = policyFor(SENTINEL);
    const r = observe(null, obs(A, B), gate, policy, at(0));
    expect(r.effects).toEqual([]);
    expect(r.state).toMatchObject({ phase: 'Skipped', observedSha: A, targetSha: B, pending: null, reason: `${reason}; ${A.slice(0, 12)} not dispatched` });
    expect(r.decision).toEqual({ kind: 'skip', reason: r.state.reason });
    expect(r.state.history).toEqual([{ at: toIso(at(0)), from: 'Observed', to: 'Skipped', sha: A, attempt: null, reason: r.state.reason, episode: 1, run: null }]);
    expectValidStep(null, r.state);
    // Arming later dispatches the newest sha.
    const armed = observe(r.state, obs(C, B), ARMED, policy, at(60));
    expect(armed.effects).toEqual([{ kind: 'dispatch', sha: C, episode: 2, attempt: 1, name: runName(SENTINEL, C, 2, 1) }]);
  });

  it('braking stops new dispatches only: a run in flight is left to the closer, which still closes it out', () => {
    const policy = policyFor(SENTINEL);
    const run = startRun(policy, A, at(0));
    const braked = observe(run, obs(A, null, 'PENDING'), killSwitchOn(SENTINEL), policy, at(30));
    expect(braked.state).toBe(run);
    const done = close(run, follower(SENTINEL).checks, { trigger: 'SUCCESS', target: 'SUCCESS' }, policy, at(90));
    expect(done.state).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A });
  });

  it('a disarmed follower with onSupersede cancel does not cancel: it waits for the old run', () => {
    const policy = policyFor(AGENTRUN);
    expect(policy.onSupersede).toBe('cancel');
    const r = observe(startRun(policy, A, at(0)), obs(B, null, 'PENDING'), killSwitchOn(AGENTRUN), policy, at(30));
    expect(r.effects).toEqual([]);
    expect(r.state).toMatchObject({ phase: 'Superseded', inFlight: { sha: A, superseded: true } });
  });
});

describe('Superseded', () => {
  it('onSupersede wait: the old dispatch finishes, then only the newest sha is dispatched', () => {
    const policy = policyFor(HWLAB);
    expect(policy.onSupersede).toBe('wait');
    const run = startRun(policy, A, at(0));
    const nameA = run.inFlight.name;
    const created: string[] = [nameA];

    const s1 = observe(run, obs(B, null, 'PENDING'), ARMED, policy, at(60));
    expect(s1.effects).toEqual([]);
    expect(s1.decision.kind).toBe('supersede');
    expect(s1.state).toMatchObject({ phase: 'Superseded', observedSha: B, inFlight: { ...run.inFlight, superseded: true } });
    expect(s1.state.reason).toBe(`source moved to ${B.slice(0, 12)} while ${A.slice(0, 12)} (attempt 1) was in flight; waiting for ${nameA} to finish before dispatching the newest sha`);
    expect(s1.state.history.at(-1)).toMatchObject({ from: 'Triggering', to: 'Superseded', sha: A, attempt: 1 });
    expectValidStep(run, s1.state);

    // Another commit while still waiting: still nothing dispatched.
    const s2 = observe(s1.state, obs(C, null, 'PENDING'), ARMED, policy, at(120));
    expect(s2.effects).toEqual([]);
    expect(s2.state.phase).toBe('Superseded');

    // The closer reads only the trigger of a superseded run.
    const waiting = close(withRun(s2.state), follower(HWLAB).checks, { trigger: 'PENDING', pipeline: 'FAILURE' }, policy, at(150));
    expect(waiting.reads).toEqual(['trigger']);
    expect(waiting.action).toMatchObject({ kind: 'wait', phase: 'Superseded' });

    // The old dispatch finished: the newest sha goes at once.
    const s3 = observe(s2.state, obs(C, null, 'SUCCESS'), ARMED, policy, at(180));
    for (const e of s3.effects) if (e.kind === 'dispatch') created.push(e.name);
    expect(s3.effects).toEqual([{ kind: 'dispatch', sha: C, episode: 3, attempt: 1, name: runName(HWLAB, C, 3, 1) }]);
    expect(s3.state).toMatchObject({ phase: 'PendingTrigger', inFlight: null, pending: { sha: C, attempt: 1 } });
    expect(s3.state.history.at(-1)).toMatchObject({ from: 'Superseded', to: 'PendingTrigger', sha: C });
    expectValidStep(s2.state, s3.state);
    expect(created.some((n) => n.includes(B.slice(0, 12)))).toBe(false);
  });

  it('onSupersede wait, released by the closer: the trigger concluded, the run is let go, the observer dispatches the newest', () => {
    const policy = policyFor(HWLAB);
    const s1 = observe(startRun(policy, A, at(0)), obs(B, null, 'PENDING'), ARMED, policy, at(60)).state;
    const released = close(withRun(s1), follower(HWLAB).checks, { trigger: 'FAILURE' }, policy, at(120));
    expect(released.action).toEqual({ kind: 'supersede', reason: `${runName(HWLAB, A, 1, 1)} finished; its outcome decides nothing (superseded)`, release: true, cancel: false });
    expect(released.state).toMatchObject({ phase: 'Superseded', inFlight: null, lastSucceededSha: null });
    const next = observe(released.state, obs(B, null), ARMED, policy, at(180));
    expect(next.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
  });

  it('a superseded run that outlives its trigger budget is cancelled by the closer', () => {
    const policy = policyFor(HWLAB);
    const s1 = observe(startRun(policy, A, at(0)), obs(B, null, 'PENDING'), ARMED, policy, at(60)).state;
    const r = close(withRun(s1), follower(HWLAB).checks, { trigger: 'PENDING' }, policy, at(601));
    expect(r.action).toMatchObject({ kind: 'supersede', release: true, cancel: true });
    expect(r.state).toMatchObject({ phase: 'Superseded', inFlight: null });
  });

  it('the closer notices a moved source by itself and marks the run superseded', () => {
    const policy = policyFor(HWLAB);
    const run = { ...startRun(policy, A, at(0)), observedSha: B };
    const r = close(run, follower(HWLAB).checks, { trigger: 'PENDING' }, policy, at(30));
    expect(r.action).toEqual({ kind: 'supersede', reason: `source moved to ${B.slice(0, 12)} while ${A.slice(0, 12)} was in flight`, release: false, cancel: false });
    expect(r.state).toMatchObject({ phase: 'Superseded', inFlight: { sha: A, superseded: true } });
    expectValidStep(run, r.state);
  });

  it('onSupersede cancel: the old run is cancelled and the newest sha dispatched in the same tick', () => {
    const policy = policyFor(AGENTRUN);
    const run = startRun(policy, A, at(0));
    const r = observe(run, obs(B, null, 'PENDING'), ARMED, policy, at(60));
    expect(r.effects).toEqual([
      { kind: 'cancel', sha: A, episode: 1, attempt: 1, name: runName(AGENTRUN, A, 1, 1) },
      { kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(AGENTRUN, B, 2, 1) },
    ]);
    expect(r.decision).toEqual({ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(AGENTRUN, B, 2, 1) });
    expect(r.state).toMatchObject({ phase: 'PendingTrigger', inFlight: null, pending: { sha: B, attempt: 1 } });
    expect(r.state.history.slice(-2).map((t) => `${t.from}->${t.to}`)).toEqual(['Triggering->Superseded', 'Superseded->PendingTrigger']);
    expectValidStep(run, r.state);
  });

  it('onSupersede cancel: a dispatch adopted by this very tick is recorded first and cancelled by the next tick', () => {
    const policy = policyFor(AGENTRUN);
    const pending = observe(null, obs(A, null), ARMED, policy, at(0)).state;
    // The tick that dispatched A crashed before recording it; A runs; the source moved on.
    const adopt = observe(pending, obs(B, null, 'PENDING'), ARMED, policy, at(60));
    expect(adopt.effects).toEqual([]);
    expect(adopt.state).toMatchObject({ phase: 'Superseded', pending: null, inFlight: { sha: A, episode: 1, superseded: true }, episode: 2, attempts: [] });
    const next = observe(adopt.state, obs(B, null, 'PENDING'), ARMED, policy, at(120));
    expect(next.effects.map((e) => e.kind)).toEqual(['cancel', 'dispatch']);
  });

  it('a force-push while in flight supersedes like any move', () => {
    const policy = policyFor(HWLAB);
    const prev = close(startRun(policy, A, at(0)), follower(HWLAB).checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(60)).state;
    const runB = startRun(policy, B, at(120), prev, A);
    const back = observe(runB, obs(A, A, 'PENDING'), ARMED, policy, at(180));
    expect(back.state).toMatchObject({ phase: 'Superseded', inFlight: { sha: B, superseded: true } });
  });
});

describe('force-push back to an older sha', () => {
  it('is a new episode: attempt 1 of a fresh budget under a new name, never the name of its earlier run', () => {
    const policy = policyFor(HWLAB);
    const checks = follower(HWLAB).checks;
    const aDone = close(startRun(policy, A, at(0)), checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(60)).state;
    const bDone = close(startRun(policy, B, at(120), aDone, A), checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(180)).state;
    // The counts of A's visit ended with it: only the current visit's count is kept.
    expect(bDone).toMatchObject({ phase: 'Succeeded', lastSucceededSha: B, episode: 2, attempts: [{ sha: B, episode: 2, count: 1 }] });
    const back = observe(bDone, obs(A, B), ARMED, policy, at(240));
    expect(back.effects).toEqual([{ kind: 'dispatch', sha: A, episode: 3, attempt: 1, name: runName(HWLAB, A, 3, 1) }]);
    expect(back.state.history.at(-1)).toMatchObject({ from: 'Succeeded', to: 'PendingTrigger', sha: A, attempt: 1, episode: 3, run: runName(HWLAB, A, 3, 1) });
    expect(runName(HWLAB, A, 3, 1)).not.toBe(aDone.history.find((t) => t.to === 'Succeeded')?.run);
  });
});

describe('Blocked by the source', () => {
  const policy = policyFor(HWLAB);

  it('a missing branch is never "unchanged": Blocked, naming the branch and how to unblock; its return clears it', () => {
    const noop = observe(null, obs(A, A), ARMED, policy, at(0)).state;
    const r = observe(noop, { source: { kind: 'missing', repo: 'pikasTech/HWLAB', branch: 'v0.3' }, target: { kind: 'ok', sha: A } }, ARMED, policy, at(60));
    expect(r.effects).toEqual([]);
    expect(r.decision.kind).toBe('block');
    expect(r.state).toMatchObject({ phase: 'Blocked', observedSha: A });
    expect(r.state.reason).toBe(
      'source branch pikasTech/HWLAB@v0.3 is missing on the git mirror; unblock: restore the branch on the mirror (a new commit clears this), or point the source configRef at an existing branch',
    );
    expectValidStep(noop, r.state);
    const back = observe(r.state, obs(A, A), ARMED, policy, at(120));
    expect(back.state.phase).toBe('Noop');
  });

  it('an unresolvable source configRef is Blocked with the plan command', () => {
    const r = observe(null, { source: { kind: 'invalid', message: 'hwlab-node-lanes.yaml#lanes.v03.source: key not found' }, target: { kind: 'ok', sha: null } }, ARMED, policy, at(0));
    expect(r.state.phase).toBe('Blocked');
    expect(r.state.reason).toBe('source configRef unresolvable: hwlab-node-lanes.yaml#lanes.v03.source: key not found; unblock: fix it, then check with: branch-follower plan');
  });

  it('an unresolvable target configRef is Blocked with the plan command', () => {
    const r = observe(null, { source: { kind: 'ok', sha: A }, target: { kind: 'invalid', message: 'hwlab-node-lanes.yaml#nodes.JD01: key not found' } }, ARMED, policy, at(0));
    expect(r.state).toMatchObject({ phase: 'Blocked', observedSha: A });
    expect(r.state.reason).toBe('target configRef unresolvable: hwlab-node-lanes.yaml#nodes.JD01: key not found; unblock: fix it, then check with: branch-follower plan');
    expect(r.effects).toEqual([]);
  });

  it('a missing branch while a run is in flight leaves the run to the closer', () => {
    const run = startRun(policy, A, at(0));
    const r = observe(run, { source: { kind: 'missing', repo: 'pikasTech/HWLAB', branch: 'v0.3' }, target: { kind: 'ok', sha: null }, dispatch: 'PENDING' }, ARMED, policy, at(30));
    expect(r.state).toBe(run);
  });
});

describe('an unreachable git mirror changes nothing but the reason', () => {
  const policy = policyFor(HWLAB);
  const unreachable = { source: { kind: 'unreachable' as const, message: 'connect ECONNREFUSED 10.0.0.7:80' }, target: { kind: 'ok' as const, sha: A } };

  it('a settled follower keeps its phase and shas', () => {
    const noop = observe(null, obs(A, A), ARMED, policy, at(0)).state;
    const r = observe(noop, unreachable, ARMED, policy, at(60));
    expect(r.effects).toEqual([]);
    expect(r.state).toEqual({ ...noop, reason: 'git mirror unreachable: connect ECONNREFUSED 10.0.0.7:80; state left as it was', updatedAt: toIso(at(60)) });
  });

  it('a Blocked follower stays Blocked', () => {
    const blocked = observe(null, { source: { kind: 'invalid', message: 'x' }, target: { kind: 'ok', sha: null } }, ARMED, policy, at(0)).state;
    expect(observe(blocked, unreachable, ARMED, policy, at(60)).state.phase).toBe('Blocked');
  });

  it('a run in flight is untouched', () => {
    const run = startRun(policy, A, at(0));
    expect(observe(run, { source: unreachable.source, target: { kind: 'ok', sha: null }, dispatch: 'PENDING' }, ARMED, policy, at(60)).state).toBe(run);
  });

  it('another tick\'s pending dispatch is left alone, then dropped to Observed once its lease ran out', () => {
    const pending = observe(null, obs(A, A), ARMED, policy, at(0)).state;
    const p2 = observe(null, { source: { kind: 'ok', sha: B }, target: { kind: 'ok', sha: A } }, ARMED, policy, at(0)).state;
    expect(pending.phase).toBe('Noop');
    expect(p2.phase).toBe('PendingTrigger');
    expect(observe(p2, { ...unreachable, dispatch: 'NONE' }, ARMED, policy, at(60)).state).toBe(p2);
    const late = observe(p2, { ...unreachable, dispatch: 'NONE' }, ARMED, policy, at(PENDING_LEASE_SECONDS));
    expect(late.state).toMatchObject({ phase: 'Observed', pending: null, observedSha: B });
    expectValidStep(p2, late.state);
  });
});

describe('a mirror that cannot be read for a while leaves no trace once it answers', () => {
  // The settled phases: nothing pending, nothing in flight, so the next tick decides afresh.
  const SETTLED = ['Observed', 'Noop', 'Skipped', 'Succeeded', 'Failed', 'Blocked', 'Superseded'] as const;
  const passing = fc.oneof(
    fc.constant({ kind: 'unreachable' as const, message: 'connect ECONNREFUSED 10.0.0.7:80' }),
    isoTimeArb.map((until) => ({ kind: 'throttled' as const, until, message: 'mirror answered HTTP 429 with Retry-After' })),
  );
  const caseArb = fc
    .record({ id: fc.constantFrom(HWLAB, AGENTRUN), base: timeArb })
    .chain(({ id, base }) =>
      fc.record({
        s: followerStateArb(base, { id, phases: SETTLED }).filter((s) => s.pending === null && s.inFlight === null),
        outages: fc.array(passing, { minLength: 1, maxLength: 3 }),
        sha: shaArb,
        target: targetObsArb,
        gate: gateArb(id),
        policy: policyArb(id),
        base: fc.constant(base),
      }),
    );

  it('property: the tick after the outage decides exactly as if there had been none (phase, reason, dispatch)', () => {
    fc.assert(
      fc.property(caseArb, ({ s, outages, sha, target, gate, policy, base }) => {
        const answered = { source: { kind: 'ok' as const, sha }, target };
        // The outage ticks read the target as the next one does: only the mirror failed.
        const during = outages.reduce((st, source, i) => observe(st, { source, target }, gate, policy, base + (i + 1) * 60_000).state, s);
        const now = base + (outages.length + 1) * 60_000;
        const after = observe(during, answered, gate, policy, now);
        const without = observe(s, answered, gate, policy, now);
        expect(after.effects).toEqual(without.effects);
        expect({ phase: after.state.phase, reason: after.state.reason }).toEqual({ phase: without.state.phase, reason: without.state.reason });
        expect(after.state.history).toEqual(without.state.history);
      }),
      fcParams(),
    );
  });

  it('a succeeded sha whose target drifted is not redeployed because the mirror held it back for a while', () => {
    const policy = policyFor(HWLAB);
    const run = startRun(policy, A, at(0));
    const ok = close(run, ['trigger'], { trigger: 'SUCCESS' }, policy, at(30)).state;
    expect(ok).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A });
    const drifted = observe(ok, obs(A, B), ARMED, policy, at(60));
    expect(drifted.effects).toEqual([]);
    const held = observe(drifted.state, { source: { kind: 'throttled', until: toIso(at(300)), message: 'HTTP 429' }, target: { kind: 'ok', sha: B } }, ARMED, policy, at(120));
    const back = observe(held.state, obs(A, B), ARMED, policy, at(360));
    expect(back.effects).toEqual([]);
    expect(back.state).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A });
  });

  it('a succeeded follower gets its own reason back once the mirror answers', () => {
    const policy = policyFor(HWLAB);
    const ok = close(startRun(policy, A, at(0)), ['trigger'], { trigger: 'SUCCESS' }, policy, at(30)).state;
    const down = observe(ok, { source: { kind: 'unreachable', message: 'connect ECONNREFUSED' }, target: { kind: 'ok', sha: A } }, ARMED, policy, at(60)).state;
    expect(down.reason).toMatch(/^git mirror unreachable/);
    const up = observe(down, obs(A, A), ARMED, policy, at(120));
    expect(up.state.reason).toBe(ok.reason);
    expect(up.state.phase).toBe('Succeeded');
    // Written once with its reason back, then idle ticks find nothing to write.
    expect(observe(up.state, obs(A, A), ARMED, policy, at(180)).state).toBe(up.state);
  });
});

describe('an unreadable target', () => {
  const policy = policyFor(HWLAB); // triggerSeconds 600
  const unreadable = (sha: string) => ({ source: { kind: 'ok' as const, sha }, target: { kind: 'unreadable' as const, message: 'deployments.apps "hwlab" is forbidden' } });

  it('is Observed within the trigger budget, Blocked past it, and cleared once readable', () => {
    const noop = observe(null, obs(A, A), ARMED, policy, at(0)).state;
    const o1 = observe(noop, unreadable(B), ARMED, policy, at(10));
    expect(o1.effects).toEqual([]);
    expect(o1.state).toMatchObject({ phase: 'Observed', observedSha: B, targetSha: A, targetUnreadableSince: toIso(at(10)) });
    expect(o1.state.reason).toBe(`target unreadable since ${toIso(at(10))}: deployments.apps "hwlab" is forbidden; Blocked after 600s`);
    expectValidStep(noop, o1.state);

    const o2 = observe(o1.state, unreadable(B), ARMED, policy, at(610));
    expect(o2.state).toMatchObject({ phase: 'Observed', targetUnreadableSince: toIso(at(10)) });

    const o3 = observe(o2.state, unreadable(B), ARMED, policy, at(611));
    expect(o3.state.phase).toBe('Blocked');
    expect(o3.state.reason).toBe(
      `target unreadable since ${toIso(at(10))} (over the 600s budget): deployments.apps "hwlab" is forbidden; unblock: fix the target reader, then check with: branch-follower status --live`,
    );
    expectValidStep(o2.state, o3.state);

    const ok = observe(o3.state, obs(B, A), ARMED, policy, at(700));
    expect(ok.state).toMatchObject({ phase: 'PendingTrigger', targetUnreadableSince: null, targetSha: A });
    expect(ok.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
  });
});

describe('the pending dispatch lease', () => {
  const policy = policyFor(HWLAB);
  const pending = observe(null, obs(A, null), ARMED, policy, at(0)).state;
  const name = runName(HWLAB, A, 1, 1);

  it('another tick\'s pending dispatch is left alone until PENDING_LEASE_SECONDS, then replaced by the newest sha', () => {
    expect(PENDING_LEASE_SECONDS).toBe(300);
    const early = observe(pending, obs(B, null, 'NONE'), ARMED, policy, at(10));
    // Only the observation is recorded; the pending dispatch, phase and reason stay.
    // The new visit's start is dated for /metrics' ages and lead time.
    expect(early.state).toEqual({ ...pending, observedSha: B, episode: 2, updatedAt: toIso(at(10)), tally: { ...pending.tally, observedSince: toIso(at(10)) } });
    expect(early.effects).toEqual([]);
    expect(early.decision).toEqual({ kind: 'none', reason: `pending dispatch ${name} is left to the tick that wrote it until ${toIso(at(300))}` });
    expect(observe(pending, obs(B, null, 'NONE'), ARMED, policy, at(300) - 1).state.pending).toEqual(pending.pending);
    expect(observe(pending, obs(B, null, 'NONE'), ARMED, policy, at(300) - 1).effects).toEqual([]);

    const late = observe(pending, obs(B, null, 'NONE'), ARMED, policy, at(300));
    expect(late.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
    expect(late.state).toMatchObject({ phase: 'PendingTrigger', pending: { sha: B, attempt: 1, at: toIso(at(300)) } });
    expectValidStep(pending, late.state);
  });

  it('a pending dispatch of the still-wanted sha is repeated under the same name', () => {
    const r = observe(pending, obs(A, null, 'NONE'), ARMED, policy, at(10));
    expect(r.effects).toEqual([{ kind: 'dispatch', sha: A, episode: 1, attempt: 1, name }]);
    expect(r.state).toBe(pending);
  });

  it.each(['PENDING', 'SUCCESS', 'FAILURE'] as const)('a pending dispatch that exists (%s) is adopted, not dispatched again', (status) => {
    const r = observe(pending, obs(A, null, status), ARMED, policy, at(10));
    expect(r.effects).toEqual([]);
    expect(r.state).toMatchObject({ phase: 'Triggering', pending: null, inFlight: { name, sha: A, attempt: 1, startedAt: toIso(at(0)) }, attempts: [{ sha: A, count: 1 }], lastTriggeredSha: A });
    expectValidStep(pending, r.state);
  });

  it('disarmed: the pending dispatch is not repeated, and past the lease the follower is Skipped', () => {
    const gate = killSwitchOn(HWLAB);
    expect(observe(pending, obs(A, null, 'NONE'), gate, policy, at(10)).state).toBe(pending);
    const late = observe(pending, obs(A, null, 'NONE'), gate, policy, at(300));
    expect(late.effects).toEqual([]);
    expect(late.state).toMatchObject({ phase: 'Skipped', pending: null });
  });

  it('a dispatch that failed to be created keeps its intent and its name', () => {
    const failed = dispatchFailed(pending, name, 'jobs.batch is forbidden', at(5));
    expect(failed).toMatchObject({ phase: 'PendingTrigger', pending: pending.pending, reason: `dispatch of ${name} failed: jobs.batch is forbidden; retried next tick with the same name`, updatedAt: toIso(at(5)) });
    expect(dispatchFailed(pending, runName(HWLAB, B, 2, 1), 'x', at(5))).toBe(pending);
    expect(observe(failed, obs(A, null, 'NONE'), ARMED, policy, at(60)).effects).toEqual([{ kind: 'dispatch', sha: A, episode: 1, attempt: 1, name }]);
  });
});

describe('a succeeded sha is not redeployed on drift', () => {
  const policy = policyFor(HWLAB);
  const done = close(startRun(policy, A, at(0)), follower(HWLAB).checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(60)).state;

  it.each([[B], [null]])('target reports %s instead', (drift) => {
    const r = observe(done, obs(A, drift), ARMED, policy, at(120));
    expect(r.effects).toEqual([]);
    expect(r.state).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A, targetSha: drift });
    expect(r.state.reason).toBe(`target reports ${drift ? drift.slice(0, 12) : '-'}, not the succeeded ${A.slice(0, 12)}; a succeeded sha is not redeployed automatically`);
    expect(r.state.history).toEqual(done.history);
  });

  it('a new commit is still deployed', () => {
    expect(observe(done, obs(B, C), ARMED, policy, at(120)).effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
  });
});

describe('history', () => {
  it('keeps the last 50 transitions', () => {
    let s: FollowerState = initialState(HWLAB, at(0));
    for (let i = 0; i < HISTORY_LIMIT; i++) s = transition(s, i % 2 === 0 ? 'Noop' : 'Skipped', `step ${i}`, at(i));
    expect(s.history).toHaveLength(HISTORY_LIMIT);
    const first = s.history[0];
    const next = transition(s, 'Blocked', 'one more', at(100));
    expect(next.history).toHaveLength(HISTORY_LIMIT);
    expect(next.history.at(-1)).toMatchObject({ from: 'Skipped', to: 'Blocked', reason: 'one more' });
    expect(next.history[0]).toEqual(s.history[1]);
    expect(next.history).not.toContainEqual(first);
    expect(FollowerState.safeParse(next).success).toBe(true);
  });

  it('a phase rewritten in place appends nothing', () => {
    const s = transition(initialState(HWLAB, at(0)), 'Noop', 'a', at(1));
    expect(transition(s, 'Noop', 'b', at(2)).history).toEqual(s.history);
  });

  it('clips long reasons to the schema limit', () => {
    const s = transition(initialState(HWLAB, at(0)), 'Blocked', 'x'.repeat(5000), at(1));
    expect(s.reason).toHaveLength(2000);
    expect(FollowerState.safeParse(s).success).toBe(true);
  });
});

describe('a state stored before episodes existed', () => {
  const policy = policyFor(HWLAB);
  const checks = follower(HWLAB).checks;
  const legacyJson = (s: FollowerState): unknown =>
    JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === 'episode' || k === 'run' ? undefined : v)));

  it('reads as one visit: its attempts still count, a new sha starts the next episode under a fresh name', () => {
    const run1 = startRun(policy, A, at(0));
    const f1 = close(run1, checks, { trigger: 'FAILURE' }, policy, at(60)).state;
    const run2 = startRun(policy, A, at(100), f1);
    const blocked = close(run2, checks, { trigger: 'FAILURE' }, policy, at(160)).state;
    expect(blocked.phase).toBe('Blocked');
    const old = FollowerState.parse(legacyJson(blocked));
    expect(old).toMatchObject({ episode: 1, attempts: [{ sha: A, episode: 1, count: 2 }] });
    expect(old.history.every((t) => t.episode === undefined && t.run === undefined)).toBe(true);
    // The same visit: still Blocked, never a third attempt.
    const same = observe(old, obs(A, null), ARMED, policy, at(220));
    expect(same.effects).toEqual([]);
    expect(same.state.phase).toBe('Blocked');
    // A new commit: episode 2, whose names cannot meet the old format's `-aN` names.
    const next = observe(old, obs(B, null), ARMED, policy, at(220));
    expect(next.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 2, attempt: 1, name: runName(HWLAB, B, 2, 1) }]);
  });

  it('a run in flight under an old-format name is closed out under that name', () => {
    const run = startRun(policy, A, at(0));
    const legacyName = `bf-${HWLAB}-${A.slice(0, 12)}-a1`;
    const old = withRun(FollowerState.parse(legacyJson({ ...run, inFlight: { ...run.inFlight, name: legacyName } })));
    expect(old.inFlight).toMatchObject({ name: legacyName, episode: 1 });
    expect(observe(old, obs(A, null, 'PENDING'), ARMED, policy, at(30)).state).toBe(old);
    const done = close(old, checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(90)).state;
    expect(done).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A });
    expect(done.history.at(-1)).toMatchObject({ to: 'Succeeded', run: legacyName, episode: 1 });
  });
});

describe('a target that reports an abbreviated sha', () => {
  const policy = policyFor(HWLAB);
  const checks = follower(HWLAB).checks;

  it('equal to the observed sha is Noop, stored as the full sha, and never redeployed over ticks', () => {
    const r = observe(null, obs(A, A.slice(0, 7)), ARMED, policy, at(0));
    expect(r.effects).toEqual([]);
    expect(r.state).toMatchObject({ phase: 'Noop', targetSha: A });
    expect(observe(r.state, obs(A, A.slice(0, 12)), ARMED, policy, at(60)).state).toBe(r.state);
  });

  it('of another sha deploys, and stays as reported when no known sha expands it', () => {
    const r = observe(null, obs(B, A.slice(0, 9)), ARMED, policy, at(0));
    expect(r.effects).toEqual([{ kind: 'dispatch', sha: B, episode: 1, attempt: 1, name: runName(HWLAB, B, 1, 1) }]);
    expect(r.state.targetSha).toBe(A.slice(0, 9));
  });

  it('of the succeeded sha is not drift', () => {
    const done = close(startRun(policy, A, at(0)), checks, { trigger: 'SUCCESS', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(60)).state;
    const r = observe(done, obs(A, A.slice(0, 8)), ARMED, policy, at(120));
    expect(r.state).toBe(done);
  });
});

describe('object formats: a follower never mixes SHA-1 and SHA-256 ids', () => {
  it('property: an observed sha of the other format than the state followed never dispatches and ends Blocked, naming both formats', () => {
    fc.assert(
      fc.property(observeInputArb('armed'), ({ prev, obs: o, gate, policy, now }) => {
        const known = prev?.observedSha ?? prev?.lastTriggeredSha ?? prev?.lastSucceededSha ?? null;
        fc.pre(o.source.kind === 'ok' && known !== null && known.length !== o.source.sha.length);
        const r = observe(prev, o, gate, policy, now);
        expect(r.effects.filter((e) => e.kind === 'dispatch')).toEqual([]);
        // The followed sha stays: the new format's ids are never recorded as observed.
        expect(r.state.observedSha).toBe(prev!.observedSha);
        // A run in flight, or a dispatch written ahead within its lease, is left to its owner first.
        if (!r.state.inFlight && !r.state.pending) {
          expect(r.state.phase).toBe('Blocked');
          expect(r.state.reason).toMatch(/object format changed.*SHA-(1|256) ids.*SHA-(256|1)/);
          expect(r.state.reason).not.toMatch(/configRef/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a SHA-256 follower from no state dispatches its 64-hex sha under a name of at most 63 characters', () => {
    const sha = 'ab'.repeat(32);
    const r = observe(null, { source: { kind: 'ok', sha }, target: { kind: 'ok', sha: null } }, ARMED, policyFor(HWLAB), at(0));
    expect(r.effects).toEqual([{ kind: 'dispatch', sha, episode: 1, attempt: 1, name: runName(HWLAB, sha, 1, 1) }]);
    expect(runName(HWLAB, sha, 1, 1).length).toBeLessThanOrEqual(63);
    expect(FollowerState.safeParse(r.state).success).toBe(true);
  });

  it('a mirror answer that is not trusted blocks with a mirror reason, not a configRef one', () => {
    const r = observe(null, { source: { kind: 'untrusted', message: 'malformed ref advertisement: the body is empty' }, target: { kind: 'ok', sha: null } }, ARMED, policyFor(HWLAB), at(0));
    expect(r.state.phase).toBe('Blocked');
    expect(r.state.reason).toMatch(/^git mirror answer not used: malformed ref advertisement/);
    expect(r.state.reason).not.toMatch(/configRef/);
  });
});
