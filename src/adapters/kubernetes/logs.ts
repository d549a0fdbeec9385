import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { FollowerId, shortSha } from '../../core/primitives.ts';
import type { LogReader } from '../ports.ts';
import { LIST_PAGE, isoTime, listAll, makeClients, type KubeAccess } from './client.ts';
import { describeError } from './errors.ts';
import { DISPATCH_SELECTOR, LABEL_ATTEMPT, LABEL_FOLLOWER, LABEL_SHA } from './labels.ts';
import { TRIGGER_CONTAINER } from './job-spec.ts';

/**
 * `logs` on Kubernetes: the trigger container's log of a follower's dispatch Job (the run given,
 * else its newest Job), found through the pods the Job controller labels `job-name=<job>`.
 */

export type KubernetesLogReaderOptions = KubeAccess & { namespace: string };

/** Enough for a deploy's story without flooding the terminal. */
export const LOG_TAIL_LINES = 5_000;

const created = (o: { metadata?: { creationTimestamp?: Date | string } }): number => Date.parse(isoTime(o.metadata?.creationTimestamp) ?? '') || 0;
const newest = <T extends { metadata?: { creationTimestamp?: Date | string; name?: string } }>(xs: readonly T[]): T | undefined =>
  [...xs].sort((a, b) => created(b) - created(a) || ((b.metadata?.name ?? '') < (a.metadata?.name ?? '') ? -1 : 1))[0];

export const createKubernetesLogReader = (o: KubernetesLogReaderOptions): LogReader => {
  const c = makeClients(o);
  const { namespace } = o;

  const newestJob = async (id: string, attempt?: number): Promise<V1Job | undefined> => {
    const selector = `${DISPATCH_SELECTOR},${LABEL_FOLLOWER}=${id}${attempt === undefined ? '' : `,${LABEL_ATTEMPT}=${attempt}`}`;
    const jobs = await listAll(c, (cont) =>
      c.batch.listNamespacedJob({ namespace, labelSelector: selector, limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) }),
    );
    return newest(jobs);
  };

  const podLog = async (job: string, header: string): Promise<string> => {
    const pods: V1Pod[] = await listAll(c, (cont) =>
      c.core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}`, limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) }),
    );
    const pod = newest(pods);
    if (!pod?.metadata?.name) {
      return `${header}no pods for Job ${namespace}/${job}: not started yet, or removed with the Job (ttlSecondsAfterFinished)\n`;
    }
    const name = pod.metadata.name;
    const container = pod.spec?.containers.some((x) => x.name === TRIGGER_CONTAINER) ? TRIGGER_CONTAINER : undefined;
    const podLine = `# pod ${name} (${pod.status?.phase ?? 'phase unknown'}${pods.length > 1 ? `, newest of ${pods.length}` : ''})\n`;
    try {
      const text = await c.call(() => c.core.readNamespacedPodLog({ name, namespace, tailLines: LOG_TAIL_LINES, ...(container ? { container } : {}) }));
      return `${header}${podLine}${text}`;
    } catch (e) {
      return `${header}${podLine}no log from pod ${namespace}/${name}: ${describeError(e)}\n`;
    }
  };

  return {
    async logs(id, run, pick) {
      const checked = FollowerId.safeParse(id);
      if (!checked.success) throw new Error(`invalid follower id ${JSON.stringify(id)}`);
      if (run) return podLog(run.name, `# Job ${namespace}/${run.name} (${shortSha(run.sha)} attempt ${run.attempt})\n`);
      const job = await newestJob(id, pick?.attempt);
      if (!job?.metadata?.name) {
        return `no dispatch Jobs of ${id}${pick ? ` with attempt ${pick.attempt}` : ''} in namespace ${namespace} (finished Jobs are removed after their ttlSecondsAfterFinished)\n`;
      }
      const labels = job.metadata.labels ?? {};
      const header = `# newest Job ${namespace}/${job.metadata.name} (${shortSha(job.metadata.annotations?.[LABEL_SHA] ?? labels[LABEL_SHA])} attempt ${labels[LABEL_ATTEMPT] ?? '?'}, created ${isoTime(job.metadata.creationTimestamp) ?? '?'})\n`;
      return podLog(job.metadata.name, header);
    },
  };
};
