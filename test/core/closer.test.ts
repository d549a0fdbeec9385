// Example tests of the closer's pure decision: budgets, vanished Jobs, and what closeRun() writes.
import { describe, expect, it } from 'vitest';
import { checksToRead, closeRun, nextAction, rememberedReading } from '../../src/core/next-action.ts';
import { observe } from '../../src/core/observe.ts';
import type { Policy } from '../../src/core/policy.ts';
import { toIso } from '../../src/core/primitives.ts';
import { runName } from '../../src/core/run-name.ts';
import { expectValidStep } from './helpers.ts';
import { A, ARMED, at, B, close, follower, HWLAB, obs, policyFor, SENTINEL, startRun, withRun } from './fixtures.ts';

const policy = policyFor(HWLAB); // trigger 600 s, closeout 2400 s, 2 attempts
const checks = follower(HWLAB).checks;
const name1 = runName(HWLAB, A, 1, 1);

/** A run of A in ClosingOut: dispatched at 0, its trigger succeeded at 60. */
const closingOut = () => {
  const r = close(startRun(policy, A, at(0)), checks, { trigger: 'SUCCESS', pipeline: 'PENDING' }, policy, at(60));
  expect(r.state.phase).toBe('ClosingOut');
  return withRun(r.state);
};

/** A run of A on its second and last attempt, still Triggering. */
const lastAttempt = () => {
  const failed = close(startRun(policy, A, at(0)), checks, { trigger: 'FAILURE' }, policy, at(60)).state;
  return startRun(policy, A, at(100), failed);
};

describe('the closeout budget', () => {
  it('bounds the whole run from its dispatch: waits up to it, fails past it (the dispatch already ended: nothing to cancel)', () => {
    const s = closingOut();
    expect(close(s, checks, { pipeline: 'PENDING' }, policy, at(2400)).action).toEqual({ kind: 'wait', phase: 'ClosingOut', reason: 'waiting on check pipeline: pipeline PENDING' });
    const r = close(s, checks, { pipeline: 'PENDING' }, policy, at(2401));
    expect(r.action).toEqual({ kind: 'fail', reason: 'closeout budget of 2400s ran out waiting on check pipeline; attempt 1/2, a retry follows', cancel: false });
    expect(r.state).toMatchObject({ phase: 'Failed', inFlight: null, lastSucceededSha: null });
    expectValidStep(s, r.state);
  });

  it('blocks when the attempts are exhausted', () => {
    const s = close(lastAttempt(), checks, { trigger: 'SUCCESS', pipeline: 'NONE' }, policy, at(160)).state;
    expect(s.phase).toBe('ClosingOut');
    const r = close(withRun(s), checks, { pipeline: 'NONE' }, policy, at(100 + 2401));
    expect(r.action).toEqual({
      kind: 'block',
      reason: `closeout budget of 2400s ran out waiting on check pipeline; attempts exhausted for ${A.slice(0, 12)} (2/2 in this visit of the branch); unblock: branch-follower retry --follower ${HWLAB} --reason "<why>" --confirm (one more attempt, once the cause is fixed), push a new commit, or raise budgets.maxAttempts for ${HWLAB} in the registry`,
      cancel: false,
    });
    expect(r.state.phase).toBe('Blocked');
  });

  it('cancels the dispatch when it is still running as the closeout budget runs out', () => {
    const short: Policy = { ...policy, budgets: { triggerSeconds: 600, closeoutSeconds: 300, maxAttempts: 2 } };
    const r = close(startRun(short, A, at(0)), checks, { trigger: 'PENDING' }, short, at(301));
    expect(r.action).toEqual({ kind: 'fail', reason: 'closeout budget of 300s ran out waiting on check trigger; attempt 1/2, a retry follows', cancel: true });
  });
});

describe('the trigger budget', () => {
  it('fails a dispatch that runs past it, and asks for it to be cancelled', () => {
    const run = startRun(policy, A, at(0));
    expect(close(run, checks, { trigger: 'PENDING' }, policy, at(600)).action.kind).toBe('wait');
    const r = close(run, checks, { trigger: 'PENDING' }, policy, at(601));
    expect(r.action).toEqual({ kind: 'fail', reason: `trigger budget of 600s ran out before ${name1} finished; attempt 1/2, a retry follows`, cancel: true });
    expect(r.state).toMatchObject({ phase: 'Failed', inFlight: null });
    expectValidStep(run, r.state);
  });

  it('a Job that never showed up (NONE) runs into the same budget', () => {
    const r = close(startRun(policy, A, at(0)), checks, {}, policy, at(601));
    expect(r.action).toMatchObject({ kind: 'fail', cancel: true });
  });

  it('blocks with cancel when the attempts are exhausted', () => {
    const r = close(lastAttempt(), checks, { trigger: 'PENDING' }, policy, at(100 + 601));
    expect(r.action).toMatchObject({ kind: 'block', cancel: true });
    expect(r.action.reason).toContain('attempts exhausted for');
    expect(r.state.phase).toBe('Blocked');
  });
});

describe('a ClosingOut run whose Job vanished', () => {
  it('remembers that its dispatch succeeded, so a Job removed by its TTL never sends it back to Triggering', () => {
    const s = closingOut();
    expect(rememberedReading(s, 'trigger')).toEqual({ result: 'SUCCESS', detail: 'the dispatch finished successfully earlier' });
    expect(rememberedReading(s, 'pipeline')).toBeNull();
    expect(rememberedReading(startRun(policy, A, at(0)), 'trigger')).toBeNull();

    // The Job is gone (its trigger would read NONE), the pipeline is still running.
    const waiting = close(s, checks, { trigger: 'NONE', pipeline: 'PENDING' }, policy, at(120));
    expect(waiting.reads).toEqual(['pipeline']);
    expect(waiting.action).toMatchObject({ kind: 'wait', phase: 'ClosingOut' });
    expect(waiting.state.phase).toBe('ClosingOut');

    const done = close(s, checks, { trigger: 'NONE', pipeline: 'SUCCESS', target: 'SUCCESS' }, policy, at(180));
    expect(done.state).toMatchObject({ phase: 'Succeeded', lastSucceededSha: A });
    expect(done.state.checks[0]).toEqual({ check: 'trigger', result: 'SUCCESS', detail: 'the dispatch finished successfully earlier' });
  });

  it('a Triggering run whose Job vanished is not remembered as done: it waits, then runs out of its trigger budget', () => {
    const run = startRun(policy, A, at(0));
    expect(close(run, checks, { trigger: 'NONE' }, policy, at(60)).action).toMatchObject({ kind: 'wait', phase: 'Triggering' });
  });
});

describe('nextAction and closeRun', () => {
  it('a red check names itself and its detail; the checks after it are not read', () => {
    const r = close(startRun(policy, A, at(0)), checks, { trigger: 'SUCCESS', pipeline: 'FAILURE', target: 'SUCCESS' }, policy, at(60));
    expect(r.reads).toEqual(['trigger', 'pipeline']);
    expect(r.action).toEqual({ kind: 'fail', reason: 'check pipeline failed: pipeline FAILURE; attempt 1/2, a retry follows', cancel: false });
    expect(r.state.checks).toEqual([
      { check: 'trigger', result: 'SUCCESS', detail: 'trigger SUCCESS' },
      { check: 'pipeline', result: 'FAILURE', detail: 'pipeline FAILURE' },
    ]);
  });

  it('reads only the trigger of a superseded run, every check otherwise', () => {
    const run = startRun(policy, A, at(0));
    expect(checksToRead(run.inFlight, checks)).toEqual(checks);
    expect(checksToRead({ ...run.inFlight, superseded: true }, checks)).toEqual(['trigger']);
  });

  it('a wait that changes nothing writes nothing', () => {
    const run = startRun(policy, A, at(0));
    const first = close(run, checks, { trigger: 'PENDING' }, policy, at(30));
    const second = close(withRun(first.state), checks, { trigger: 'PENDING' }, policy, at(60));
    expect(second.state).toBe(first.state);
  });

  it('a success while Triggering goes straight to Succeeded (a one-check follower)', () => {
    const one = { ...policyFor(SENTINEL) };
    const run = startRun(one, A, at(0));
    const r = close(run, ['trigger'], { trigger: 'SUCCESS' }, one, at(30));
    expect(r.state.history.at(-1)).toMatchObject({ from: 'Triggering', to: 'Succeeded', sha: A, attempt: 1 });
    expectValidStep(run, r.state);
  });

  it('clips stage details to the schema limit', () => {
    const run = startRun(policy, A, at(0));
    const fold = { verdict: 'PENDING' as const, decidedBy: 'trigger' as const, readings: [{ check: 'trigger' as const, reading: { result: 'PENDING' as const, detail: 'x'.repeat(900) } }] };
    const next = closeRun(run, nextAction({ state: run, fold, policy }, at(10)), fold, at(10));
    expect(next.checks[0]?.detail).toHaveLength(500);
    expectValidStep(run, next);
  });

  it('a Superseded run that was already released stays with the observer', () => {
    const s1 = observe(startRun(policy, A, at(0)), obs(B, null, 'SUCCESS'), ARMED, policy, at(60)).state;
    expect(s1.inFlight).toBeNull();
    expect(s1.pending?.sha).toBe(B);
    expect(s1.updatedAt).toBe(toIso(at(60)));
  });
});
