import { z } from 'zod';
import type { FollowerAdapter } from './adapter.ts';
import { resolveWorkloadFollower, workloadTargetShape } from './shared-sections.ts';

/**
 * `config/hwlab-web-probe-sentinel/sentinels.yaml#sentinels.<NAME>.runtime`: where a published
 * sentinel runs. Its profile, scenarios and report stay in their own files of that directory.
 */
export const SentinelRuntimeSection = z
  .strictObject({
    ...workloadTargetShape(['CronJob', 'Deployment']),
    schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'must be a five-field cron schedule').optional(),
  })
  .refine((s) => (s.workload.kind === 'CronJob') === (s.schedule !== undefined), {
    message: 'a CronJob sentinel needs a schedule, and only a CronJob has one',
    path: ['schedule'],
  });
export type SentinelRuntimeSection = z.infer<typeof SentinelRuntimeSection>;

/** `adapter: web-probe-sentinel-cicd`: source and runtime of one sentinel in sentinels.yaml. */
export const webProbeSentinelCicdAdapter: FollowerAdapter = {
  resolve: (input) => resolveWorkloadFollower(input, SentinelRuntimeSection),
};
