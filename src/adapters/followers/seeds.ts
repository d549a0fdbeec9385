import type { AdapterKind } from '../../core/registry.ts';
import type { FollowerAdapter } from './adapter.ts';
import { agentrunYamlLaneAdapter } from './agentrun-yaml-lane.ts';
import { hwlabNodeRuntimeAdapter } from './hwlab-node-runtime.ts';
import { webProbeSentinelCicdAdapter } from './web-probe-sentinel-cicd.ts';

/** The seed adapters, each reading its own owning config's shape (see shared-sections.ts). */
export const seedAdapters: Record<Exclude<AdapterKind, 'generic'>, FollowerAdapter> = {
  'hwlab-node-runtime': hwlabNodeRuntimeAdapter,
  'agentrun-yaml-lane': agentrunYamlLaneAdapter,
  'web-probe-sentinel-cicd': webProbeSentinelCicdAdapter,
};
