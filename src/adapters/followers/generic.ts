import { SourceSection, TargetSpec } from '../../core/target-spec.ts';
import { defaultPipeline, section, type FollowerAdapter } from './adapter.ts';
import { targetSummary } from './summary.ts';

/** `adapter: generic`: plain `{repo, branch}` and a target reader section. */
export const genericAdapter: FollowerAdapter = {
  resolve({ follower, controller, source, target }) {
    const src = section(SourceSection, 'source', source);
    if (!src.ok) return src;
    const tgt = section(TargetSpec, 'target', target);
    if (!tgt.ok) return tgt;
    return {
      ok: true,
      spec: {
        source: src.value,
        target: tgt.value,
        pipeline: follower.checks.includes('pipeline') ? defaultPipeline(follower, controller) : null,
        summary: `${src.value.repo}@${src.value.branch} -> ${targetSummary(tgt.value)}`,
      },
    };
  },
};
