import { z } from 'zod';
import { BranchName, RepoName } from './primitives.ts';

/** The generic adapter's source section: which branch of which mirror repository to follow. */
export const SourceSection = z.object({ repo: RepoName, branch: BranchName }).strict();
export type SourceSection = z.infer<typeof SourceSection>;

const K8sName = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS-1123 subdomain');

/** How to learn which sha a target runs. Each reader reports a revision (core/revision.ts: full or abbreviated sha, Flux form), or null when nothing is deployed. */
export const TargetSpec = z.discriminatedUnion('reader', [
  z.object({ reader: z.literal('argv-json'), argv: z.array(z.string().min(1)).min(1).max(64) }).strict(),
  z.object({ reader: z.literal('file'), path: z.string().min(1) }).strict(),
  z
    .object({
      reader: z.literal('k8s-annotation'),
      apiVersion: z.string().regex(/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/, 'must be an apiVersion like apps/v1'),
      kind: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'must be a Kind like Deployment'),
      namespace: K8sName,
      name: K8sName,
      annotation: z.string().min(1).max(317),
    })
    .strict(),
]);
export type TargetSpec = z.infer<typeof TargetSpec>;

/** Which Tekton PipelineRuns belong to a run: fixed labels plus the sha under `shaLabel`. */
export const PipelineSpec = z
  .object({
    namespace: K8sName,
    labels: z.record(z.string(), z.string()),
    shaLabel: z.string().min(1),
  })
  .strict();
export type PipelineSpec = z.infer<typeof PipelineSpec>;

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
  .refine((n) => !n.startsWith('BRANCH_FOLLOWER_') && n !== 'HOME', 'HOME and BRANCH_FOLLOWER_* are set by the dispatch itself');

/** One variable of the runner's environment: a plain value, or a key of a Secret, by reference only. */
export const RunnerEnvVar = z.union([
  z.object({ value: z.string().max(4096) }).strict(),
  z
    .object({
      secretRef: z
        .object({ name: K8sName, key: z.string().min(1).max(253).regex(/^[-._A-Za-z0-9]+$/, 'must be a Secret data key') })
        .strict(),
    })
    .strict(),
]);
export type RunnerEnvVar = z.infer<typeof RunnerEnvVar>;

/**
 * Where and as whom a follower's trigger argv runs (a `runner:` key of its owning config's target
 * section): the image holding the deploy tool, the ServiceAccount whose token it uses, and its
 * environment, Secrets only by reference (the kubelet resolves them; the controller never reads
 * a Secret). Absent: the controller's image, no ServiceAccount token. Only the kubernetes driver
 * uses it; the local driver runs the argv on its own host.
 */
export const RunnerSpec = z
  .object({
    image: z.string().min(1).max(512).regex(/^\S+$/, 'must be an image reference').optional(),
    serviceAccountName: K8sName.optional(),
    env: z.record(EnvName, RunnerEnvVar).optional(),
  })
  .strict();
export type RunnerSpec = z.infer<typeof RunnerSpec>;

/** A follower's configRefs resolved by its adapter: what everything downstream works from. */
export type ResolvedFollowerSpec = {
  source: SourceSection;
  target: TargetSpec;
  pipeline: PipelineSpec | null;
  /** The owning config's runner, when it names one. */
  runner?: RunnerSpec;
  /** One line for plan and status: what the configRefs resolve to, never the owning config copied. */
  summary: string;
};
