import { z } from 'zod';
import type { FollowerAdapter } from './adapter.ts';
import { K8sObjectName, resolveWorkloadFollower, workloadTargetShape } from './shared-sections.ts';

// The pipeline tags images with the source sha, so the owning config names the repository only.
const ImageRepository = z
  .string()
  .regex(/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+$/, 'must be an image repository without a tag or digest');

/** `config/agentrun.yaml#lanes.<LANE>.runtime`: the AgentRun workload a lane deploys to. */
export const AgentrunRuntimeSection = z.strictObject({
  ...workloadTargetShape(['StatefulSet', 'Deployment']),
  image: z.strictObject({ repository: ImageRepository }).optional(),
  configMap: K8sObjectName.optional(),
});
export type AgentrunRuntimeSection = z.infer<typeof AgentrunRuntimeSection>;

/** `adapter: agentrun-yaml-lane`: source `lanes.<LANE>.source`, target `lanes.<LANE>.runtime`. */
export const agentrunYamlLaneAdapter: FollowerAdapter = {
  resolve: (input) => resolveWorkloadFollower(input, AgentrunRuntimeSection),
};
