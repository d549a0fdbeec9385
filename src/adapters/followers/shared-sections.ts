import { z } from 'zod';
import { BranchName, RepoName } from '../../core/primitives.ts';
import { PipelineSpec, RunnerSpec, SourceSection, TargetSpec, type ResolvedFollowerSpec } from '../../core/target-spec.ts';
import { section, type Resolution, type SectionInput } from './adapter.ts';
import { targetSummary } from './summary.ts';

/*
 * Section schemas, readers and checks the three seed adapters share. Every owning config the
 * seeds read describes a Kubernetes workload that carries the deployed sha in an annotation,
 * plus the labels of the PipelineRuns that deploy it; the adapters differ only in the details
 * around that core, so they extend one schema instead of copying it.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const K8sNamespace = z.string().max(63).regex(DNS_LABEL, 'must be a DNS-1123 label');
export const K8sObjectName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a DNS-1123 subdomain');

/** Label and annotation keys: an optional DNS-subdomain prefix and a name, as the API server checks them. */
export const QualifiedKey = z
  .string()
  .min(1)
  .refine((k) => {
    const slash = k.lastIndexOf('/');
    const prefix = slash === -1 ? null : k.slice(0, slash);
    const name = slash === -1 ? k : k.slice(slash + 1);
    if (prefix !== null && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
    return name.length <= 63 && QUALIFIED_NAME.test(name);
  }, 'must be a Kubernetes qualified name like example.com/name');

export const LabelValue = z
  .string()
  .max(63, 'label values are at most 63 characters')
  .refine((v) => v === '' || QUALIFIED_NAME.test(v), 'must be a valid label value');

/** A relative path inside a repository; never absolute and never climbing out. */
export const RepoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').some((s) => s === '..' || s === '.' || s === ''), 'must be a relative path without "." or ".." segments');

/** Where a branch lives on the mirror: the only source shape the seeds read. */
export const RepoBranchSource = SourceSection;

/**
 * A Secret named by reference. There is deliberately no field that could carry a value: the
 * strict schema turns `value:`, `data:` or `stringData:` into an error naming the path.
 */
export const SecretRef = z
  .strictObject({
    secretRef: z.strictObject({
      name: K8sObjectName,
      key: z.string().min(1).max(253).regex(/^[-._A-Za-z0-9]+$/, 'must be a Secret data key'),
    }),
  });
export type SecretRef = z.infer<typeof SecretRef>;

export const SecretRefs = z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'must be a camelCase alias'), SecretRef);

/** The workload kinds whose sha annotation a seed reads, and the API group each lives in. */
export const WORKLOAD_API_VERSIONS = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  CronJob: 'batch/v1',
} as const;
export type WorkloadKind = keyof typeof WORKLOAD_API_VERSIONS;

export const workloadRef = <const K extends readonly [WorkloadKind, ...WorkloadKind[]]>(kinds: K) =>
  z.strictObject({ kind: z.enum(kinds), name: K8sObjectName });

export const PipelineRunSection = z
  .strictObject({
    namespace: K8sNamespace,
    labels: z.record(QualifiedKey, LabelValue).refine((l) => Object.keys(l).length > 0, 'needs at least one label, or every PipelineRun in the namespace would match'),
    shaLabel: QualifiedKey,
  })
  .refine((p) => !Object.hasOwn(p.labels, p.shaLabel), { message: 'shaLabel must not also be a fixed label', path: ['shaLabel'] });
export type PipelineRunSection = z.infer<typeof PipelineRunSection>;

/** A GitOps checkout the seed's own tooling renders into; validated here, never read by the follower. */
export const GitopsSection = z.strictObject({
  repo: RepoName,
  branch: BranchName,
  path: RepoPath,
  kustomization: z.strictObject({ namespace: K8sNamespace, name: K8sObjectName }).optional(),
});

/**
 * The fields every seed target section has. Adapters spread this into their own strict object
 * (`z.strictObject({ ...workloadTargetShape(kinds), extra })`) so unknown keys stay errors.
 */
export const workloadTargetShape = <const K extends readonly [WorkloadKind, ...WorkloadKind[]]>(kinds: K) => ({
  namespace: K8sNamespace,
  workload: workloadRef(kinds),
  shaAnnotation: QualifiedKey,
  pipelineRun: PipelineRunSection.optional(),
  secrets: SecretRefs.optional(),
  /** Where the follower's trigger argv runs: image, ServiceAccount, env from Secrets by reference. */
  runner: RunnerSpec.optional(),
});

export type WorkloadTarget = {
  namespace: string;
  workload: { kind: WorkloadKind; name: string };
  shaAnnotation: string;
  pipelineRun?: PipelineRunSection | undefined;
  runner?: RunnerSpec | undefined;
};

/** The target reader a workload section stands for: its sha annotation. */
export const annotationTarget = (t: WorkloadTarget): TargetSpec => ({
  reader: 'k8s-annotation',
  apiVersion: WORKLOAD_API_VERSIONS[t.workload.kind],
  kind: t.workload.kind,
  namespace: t.namespace,
  name: t.workload.name,
  annotation: t.shaAnnotation,
});

type Failure = Extract<Resolution, { ok: false }>;

/**
 * The `pipeline` check reads the owning config's PipelineRun labels; a follower that asks for
 * the check against a section without them is a configuration error, not a silent pass.
 */
export const pipelineFor = (input: SectionInput, t: WorkloadTarget): { ok: true; value: ResolvedFollowerSpec['pipeline'] } | Failure => {
  if (!input.follower.checks.includes('pipeline')) return { ok: true, value: null };
  if (!t.pipelineRun) {
    return { ok: false, side: 'target', message: `${input.target.ref}: follower "${input.follower.id}" checks "pipeline" but the section has no pipelineRun` };
  }
  return { ok: true, value: { namespace: t.pipelineRun.namespace, labels: { ...t.pipelineRun.labels }, shaLabel: t.pipelineRun.shaLabel } };
};

/**
 * The whole resolution of a seed follower: parse both sections with the adapter's schemas,
 * then derive the annotation target, the PipelineRun selection and the one-line summary.
 */
export const resolveWorkloadFollower = <T extends WorkloadTarget>(
  input: SectionInput,
  targetSchema: z.ZodType<T>,
): Resolution => {
  const src = section(RepoBranchSource, 'source', input.source);
  if (!src.ok) return src;
  const tgt = section(targetSchema, 'target', input.target);
  if (!tgt.ok) return tgt;
  const pipeline = pipelineFor(input, tgt.value);
  if (!pipeline.ok) return pipeline;
  const target = annotationTarget(tgt.value);
  // The shared schemas are stricter than the core's; re-checking guards the two drifting apart.
  const checkedTarget = TargetSpec.safeParse(target);
  if (!checkedTarget.success) return { ok: false, side: 'target', message: `${input.target.ref}: ${checkedTarget.error.issues[0]?.message ?? 'invalid target'}` };
  if (pipeline.value && !PipelineSpec.safeParse(pipeline.value).success) {
    return { ok: false, side: 'target', message: `${input.target.ref}.pipelineRun: not a valid PipelineRun selection` };
  }
  return {
    ok: true,
    spec: {
      source: src.value,
      target: checkedTarget.data,
      pipeline: pipeline.value,
      summary: seedSummary(src.value, checkedTarget.data, input.target.ref),
      ...(tgt.value.runner ? { runner: tgt.value.runner } : {}),
    },
  };
};

/** `repo@branch -> <what the target reader looks at> (<target configRef>)`: one line, nothing copied. */
export const seedSummary = (source: SourceSection, target: TargetSpec, targetRef: string): string =>
  `${source.repo}@${source.branch} -> ${targetSummary(target)} (${targetRef})`;
