import { z } from 'zod';
import type { FollowerAdapter } from './adapter.ts';
import { GitopsSection, resolveWorkloadFollower, workloadTargetShape } from './shared-sections.ts';

/**
 * `config/hwlab-node-lanes.yaml#nodes.<NODE>.lanes.<LANE>.runtime`: the HWLAB control plane a
 * node runs for a lane, rendered through the lane's GitOps checkout.
 */
export const HwlabRuntimeSection = z.strictObject({
  ...workloadTargetShape(['Deployment', 'StatefulSet']),
  gitops: GitopsSection,
});
export type HwlabRuntimeSection = z.infer<typeof HwlabRuntimeSection>;

/** `adapter: hwlab-node-runtime`: source `lanes.<LANE>.source`, target a node lane's runtime. */
export const hwlabNodeRuntimeAdapter: FollowerAdapter = {
  resolve: (input) => resolveWorkloadFollower(input, HwlabRuntimeSection),
};
