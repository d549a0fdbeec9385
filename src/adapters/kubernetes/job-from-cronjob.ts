import type { KubernetesObject, V1Job, V1JobSpec, V1ObjectMeta } from '@kubernetes/client-node';
import type { CronJobApiVersion } from './apply.ts';
import type { KubeClients } from './client.ts';
import { describeError, isAlreadyExists } from './errors.ts';

/** A CronJob as read back in either served version (batch/v1 and batch/v1beta1 share these fields). */
export type CronJobLike = KubernetesObject & { spec?: { jobTemplate?: { metadata?: V1ObjectMeta; spec?: V1JobSpec } } };

/** The annotation `kubectl create job --from=cronjob/...` sets, so the Job reads as started by hand. */
export const INSTANTIATE_ANNOTATION = 'cronjob.kubernetes.io/instantiate';

/**
 * What `kubectl create job NAME --from=cronjob/CRONJOB` creates: the CronJob's jobTemplate (its
 * labels, annotations and spec) under a name of ours, annotated as instantiated by hand, and
 * owned by the CronJob as its controller, so the CronJob's concurrencyPolicy (Forbid) also holds
 * back a scheduled tick while it runs and its history limits clean it up.
 */
export const jobFromCronJob = (cronJob: CronJobLike, name: string, annotations: Readonly<Record<string, string>> = {}): V1Job => {
  const template = cronJob.spec?.jobTemplate;
  const meta = cronJob.metadata;
  if (!template?.spec || !meta?.name || !meta.uid) throw new Error(`CronJob ${meta?.namespace ?? ''}/${meta?.name ?? '?'} has no jobTemplate.spec or uid`);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: meta.namespace,
      labels: { ...template.metadata?.labels },
      annotations: { [INSTANTIATE_ANNOTATION]: 'manual', ...template.metadata?.annotations, ...annotations },
      ownerReferences: [{ apiVersion: cronJob.apiVersion ?? 'batch/v1', kind: 'CronJob', name: meta.name, uid: meta.uid, controller: true }],
    },
    spec: template.spec,
  };
};

/**
 * Creates Job `jobName` from CronJob `cronJobName` (read in the version the server serves). A Job
 * of that name already there answers 'exists': the same poke was made before, and is coalesced.
 */
export const createJobFromCronJob = async (
  c: KubeClients,
  o: { namespace: string; cronJobName: string; cronJobVersion: CronJobApiVersion; jobName: string; annotations?: Readonly<Record<string, string>> },
): Promise<'created' | 'exists'> => {
  let cronJob: CronJobLike;
  try {
    cronJob = await c.call(() => c.objects.read<CronJobLike>({ apiVersion: o.cronJobVersion, kind: 'CronJob', metadata: { name: o.cronJobName, namespace: o.namespace } }));
  } catch (e) {
    throw new Error(`cannot read CronJob ${o.namespace}/${o.cronJobName}: ${describeError(e)}`, { cause: e });
  }
  const body = jobFromCronJob(cronJob, o.jobName, o.annotations);
  try {
    await c.call(() => c.batch.createNamespacedJob({ namespace: o.namespace, body }));
    return 'created';
  } catch (e) {
    if (isAlreadyExists(e)) return 'exists';
    throw new Error(`cannot create Job ${o.namespace}/${o.jobName}: ${describeError(e)}`, { cause: e });
  }
};
