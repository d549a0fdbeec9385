import { RunnerSpec, SourceSection, TargetSpec } from '../../core/target-spec.ts';
import { defaultPipeline, section, type FollowerAdapter } from './adapter.ts';
import { targetSummary } from './summary.ts';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `adapter: generic`: plain `{repo, branch}` and a target reader section. */
export const genericAdapter: FollowerAdapter = {
  resolve({ follower, controller, source, target }) {
    const src = section(SourceSection, 'source', source);
    if (!src.ok) return src;
    // `runner` sits beside the reader's own keys in the target section; split it off first.
    const { runner: runnerValue, ...readerValue } = isRecord(target.value) ? target.value : { runner: undefined };
    const tgt = section(TargetSpec, 'target', { ref: target.ref, value: isRecord(target.value) ? readerValue : target.value });
    if (!tgt.ok) return tgt;
    const runner = runnerValue === undefined ? null : section(RunnerSpec, 'target', { ref: `${target.ref}.runner`, value: runnerValue });
    if (runner && !runner.ok) return runner;
    return {
      ok: true,
      spec: {
        source: src.value,
        target: tgt.value,
        pipeline: follower.checks.includes('pipeline') ? defaultPipeline(follower, controller) : null,
        summary: `${src.value.repo}@${src.value.branch} -> ${targetSummary(tgt.value)}`,
        ...(runner ? { runner: runner.value } : {}),
      },
    };
  },
};
