import type { Fold, StageReading } from './fold.ts';
import type { Policy } from './policy.ts';
import { fromIso, shortSha } from './primitives.ts';
import type { CheckLabel } from './registry.ts';
import { allowedAttempts, attemptsExhausted, attemptsFor, stamp, transition, type FollowerState, type Run } from './state.ts';

export type RunState = {
  state: FollowerState & { inFlight: Run };
  /** The fold of the checks the closer read for this run (only `trigger` for a superseded run). */
  fold: Fold;
  policy: Policy;
};

export type CloserAction =
  | { kind: 'wait'; phase: 'Triggering' | 'ClosingOut' | 'Superseded'; reason: string }
  | { kind: 'succeed'; reason: string }
  | { kind: 'fail'; reason: string; cancel: boolean }
  | { kind: 'block'; reason: string; cancel: boolean }
  | { kind: 'supersede'; reason: string; release: boolean; cancel: boolean };

/** A superseded run only needs its dispatch to end, so that is the only stage read for it. */
export const checksToRead = (run: Run, checks: readonly CheckLabel[]): readonly CheckLabel[] =>
  run.superseded ? ['trigger'] : checks;

/**
 * A reading the state already settles: once a run reached ClosingOut its dispatch succeeded,
 * and a Job removed later by its TTL must not send the run back to Triggering.
 */
export const rememberedReading = (s: FollowerState, check: CheckLabel): StageReading | null =>
  check === 'trigger' && s.phase === 'ClosingOut' && s.inFlight ? { result: 'SUCCESS', detail: 'the dispatch finished successfully earlier' } : null;

/** The source moved on from the run's visit: to another sha, or away and back (a new episode). */
export const isSuperseded = (s: FollowerState & { inFlight: Run }): boolean =>
  s.inFlight.superseded || (s.observedSha !== null && (s.observedSha !== s.inFlight.sha || s.episode !== s.inFlight.episode));

/**
 * The closer's pure decision for a run in flight. Budgets bound the whole run from its
 * dispatch: `triggerSeconds` the dispatch itself, `closeoutSeconds` everything.
 */
export const nextAction = ({ state, fold, policy }: RunState, now: number): CloserAction => {
  const run = state.inFlight;
  const elapsed = (now - fromIso(run.startedAt)) / 1000;
  const trigger = fold.readings[0]?.reading.result;
  const triggerDone = trigger === 'SUCCESS' || trigger === 'FAILURE';
  const { triggerSeconds, closeoutSeconds, maxAttempts } = policy.budgets;

  if (isSuperseded(state)) {
    const why = run.superseded ? state.reason : `source moved to ${shortSha(state.observedSha)} while ${shortSha(run.sha)} was in flight`;
    if (triggerDone) return { kind: 'supersede', reason: `${run.name} finished; its outcome decides nothing (superseded)`, release: true, cancel: false };
    if (elapsed > triggerSeconds) return { kind: 'supersede', reason: `${run.name} ran past its ${triggerSeconds}s trigger budget after being superseded; cancelled`, release: true, cancel: true };
    return run.superseded ? { kind: 'wait', phase: 'Superseded', reason: why } : { kind: 'supersede', reason: why, release: false, cancel: false };
  }

  const failOrBlock = (why: string, cancel: boolean): CloserAction => {
    const used = attemptsFor(state, run.sha, run.episode);
    const allowed = allowedAttempts(state, run.sha, run.episode, maxAttempts);
    return used >= allowed
      ? { kind: 'block', reason: `${why}; ${attemptsExhausted(state.id, shortSha(run.sha), used, allowed)}`, cancel }
      : { kind: 'fail', reason: `${why}; attempt ${run.attempt}/${allowed}, a retry follows`, cancel };
  };

  if (fold.verdict === 'GREEN') return { kind: 'succeed', reason: `every check passed for ${shortSha(run.sha)}: ${fold.readings.map((r) => r.check).join(', ')}` };
  if (fold.verdict === 'RED') {
    const failed = fold.readings.find((r) => r.reading.result === 'FAILURE');
    return failOrBlock(`check ${fold.decidedBy} failed${failed?.reading.detail ? `: ${failed.reading.detail}` : ''}`, false);
  }
  if (elapsed > closeoutSeconds) return failOrBlock(`closeout budget of ${closeoutSeconds}s ran out waiting on check ${fold.decidedBy}`, !triggerDone);
  if (!triggerDone && elapsed > triggerSeconds) return failOrBlock(`trigger budget of ${triggerSeconds}s ran out before ${run.name} finished`, true);
  const waitingOn = fold.readings.at(-1);
  return {
    kind: 'wait',
    phase: trigger === 'SUCCESS' ? 'ClosingOut' : 'Triggering',
    reason: `waiting on check ${fold.decidedBy}${waitingOn?.reading.detail ? `: ${waitingOn.reading.detail}` : ''}`,
  };
};

/** Applies the closer's action to the state; the loop writes the result with compare-and-swap. */
export const closeRun = (s: FollowerState & { inFlight: Run }, action: CloserAction, fold: Fold, now: number): FollowerState => {
  const run = s.inFlight;
  const checks = fold.readings.map((r) => ({ check: r.check, result: r.reading.result, detail: r.reading.detail.slice(0, 500) }));
  const base = { ...s, checks };
  let next: FollowerState;
  switch (action.kind) {
    case 'wait':
      next = transition(base, action.phase, action.reason, now, run);
      break;
    case 'succeed':
      // A passed target check is a fresh reading of the target: status need not wait for the observer.
      next = transition(
        { ...base, inFlight: null, lastSucceededSha: run.sha, targetSha: fold.readings.some((r) => r.check === 'target' && r.reading.result === 'SUCCESS') ? run.sha : s.targetSha },
        'Succeeded',
        action.reason,
        now,
        run,
      );
      break;
    case 'fail':
      next = transition({ ...base, inFlight: null }, 'Failed', action.reason, now, run);
      break;
    case 'block':
      next = transition({ ...base, inFlight: null }, 'Blocked', action.reason, now, run, 'attempts-exhausted');
      break;
    case 'supersede': {
      const marked = transition({ ...base, inFlight: { ...run, superseded: true } }, 'Superseded', action.reason, now, run);
      next = action.release ? { ...marked, inFlight: null } : marked;
      break;
    }
  }
  return stamp(s, next, now);
};
