// The ordered closeout fold, step by step.
import { describe, expect, it } from 'vitest';
import { foldStages, foldStagesAsync, foldStep } from '../../src/core/fold.ts';
import type { CheckLabel } from '../../src/core/registry.ts';

const ALL: CheckLabel[] = ['trigger', 'pipeline', 'target'];
const r = (result: 'NONE' | 'PENDING' | 'SUCCESS' | 'FAILURE', detail = '') => ({ result, detail });

describe('foldStep', () => {
  it('asks for the next stage while every stage so far succeeded', () => {
    expect(foldStep(ALL, [])).toEqual({ kind: 'read', check: 'trigger' });
    expect(foldStep(ALL, [r('SUCCESS')])).toEqual({ kind: 'read', check: 'pipeline' });
    expect(foldStep(ALL, [r('SUCCESS'), r('SUCCESS')])).toEqual({ kind: 'read', check: 'target' });
  });

  it('decides at the first stage that is not a success', () => {
    expect(foldStep(ALL, [r('FAILURE')])).toEqual({ kind: 'verdict', verdict: 'RED', decidedBy: 'trigger' });
    expect(foldStep(ALL, [r('SUCCESS'), r('PENDING')])).toEqual({ kind: 'verdict', verdict: 'PENDING', decidedBy: 'pipeline' });
    expect(foldStep(ALL, [r('SUCCESS'), r('NONE')])).toEqual({ kind: 'verdict', verdict: 'PENDING', decidedBy: 'pipeline' });
    expect(foldStep(ALL, [r('SUCCESS'), r('SUCCESS'), r('FAILURE')])).toEqual({ kind: 'verdict', verdict: 'RED', decidedBy: 'target' });
    expect(foldStep(ALL, [r('SUCCESS'), r('SUCCESS'), r('SUCCESS')])).toEqual({ kind: 'verdict', verdict: 'GREEN', decidedBy: null });
  });

  it('an empty list of checks is green at once', () => {
    expect(foldStep([], [])).toEqual({ kind: 'verdict', verdict: 'GREEN', decidedBy: null });
  });
});

describe('foldStages', () => {
  it('reads in order and stops at the deciding stage', () => {
    const reads: CheckLabel[] = [];
    const fold = foldStages(ALL, (c) => {
      reads.push(c);
      return c === 'pipeline' ? r('FAILURE', 'PipelineRun deploy-7 failed') : r('SUCCESS');
    });
    expect(reads).toEqual(['trigger', 'pipeline']);
    expect(fold).toEqual({
      verdict: 'RED',
      decidedBy: 'pipeline',
      readings: [
        { check: 'trigger', reading: r('SUCCESS') },
        { check: 'pipeline', reading: r('FAILURE', 'PipelineRun deploy-7 failed') },
      ],
    });
  });

  it('the async fold waits for each read before asking for the next', async () => {
    const log: string[] = [];
    const fold = await foldStagesAsync(ALL, async (c) => {
      log.push(`start ${c}`);
      await new Promise((res) => setTimeout(res, 1));
      log.push(`end ${c}`);
      return c === 'target' ? r('PENDING') : r('SUCCESS');
    });
    expect(log).toEqual(['start trigger', 'end trigger', 'start pipeline', 'end pipeline', 'start target', 'end target']);
    expect(fold).toMatchObject({ verdict: 'PENDING', decidedBy: 'target' });
  });
});
