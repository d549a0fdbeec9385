import type { CheckLabel } from './registry.ts';
import type { CheckResult } from './state.ts';

export type StageReading = { result: CheckResult; detail: string };
export type Verdict = 'GREEN' | 'RED' | 'PENDING';

export type FoldStep =
  | { kind: 'read'; check: CheckLabel }
  | { kind: 'verdict'; verdict: Verdict; decidedBy: CheckLabel | null };

/**
 * One step of the ordered closeout fold. The loop reads one stage, appends it, and asks again,
 * so a stage after a deciding one is never read: FAILURE is RED, NONE or PENDING waits, and
 * only when every stage succeeded is the verdict GREEN.
 */
export const foldStep = (checks: readonly CheckLabel[], readings: readonly StageReading[]): FoldStep => {
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i] as StageReading;
    const check = checks[i] as CheckLabel;
    if (r.result === 'FAILURE') return { kind: 'verdict', verdict: 'RED', decidedBy: check };
    if (r.result === 'NONE' || r.result === 'PENDING') return { kind: 'verdict', verdict: 'PENDING', decidedBy: check };
  }
  const next = checks[readings.length];
  return next === undefined ? { kind: 'verdict', verdict: 'GREEN', decidedBy: null } : { kind: 'read', check: next };
};

export type Fold = {
  verdict: Verdict;
  decidedBy: CheckLabel | null;
  readings: { check: CheckLabel; reading: StageReading }[];
};

/** The fold of the readings taken so far, once foldStep reached its verdict. */
export const toFold = (checks: readonly CheckLabel[], readings: readonly StageReading[], step: FoldStep & { kind: 'verdict' }): Fold => ({
  verdict: step.verdict,
  decidedBy: step.decidedBy,
  readings: readings.map((reading, i) => ({ check: checks[i] as CheckLabel, reading })),
});

/** Drives foldStep with a synchronous reader (the pure tests); the loops use foldStagesAsync. */
export const foldStages = (checks: readonly CheckLabel[], read: (check: CheckLabel) => StageReading): Fold => {
  const readings: StageReading[] = [];
  for (let step = foldStep(checks, readings); ; step = foldStep(checks, readings)) {
    if (step.kind === 'verdict') return toFold(checks, readings, step);
    readings.push(read(step.check));
  }
};

export const foldStagesAsync = async (checks: readonly CheckLabel[], read: (check: CheckLabel) => Promise<StageReading>): Promise<Fold> => {
  const readings: StageReading[] = [];
  for (let step = foldStep(checks, readings); ; step = foldStep(checks, readings)) {
    if (step.kind === 'verdict') return toFold(checks, readings, step);
    readings.push(await read(step.check));
  }
};
