import type { V1Job } from '@kubernetes/client-node';
import type { StageReading } from '../../core/fold.ts';
import type { Dispatcher, DispatchRequest, DispatchResult } from '../ports.ts';
import { LIST_PAGE, isoTime, listAll, makeClients, type KubeAccess } from './client.ts';
import { describeError, isAlreadyExists, isNotFound } from './errors.ts';
import { dispatchJob, dispatchLabels, type DispatchJobOptions } from './job-spec.ts';
import { DISPATCH_SELECTOR, LABEL_SHA, carriesSha } from './labels.ts';

/**
 * Dispatch as a batch/v1 Job under the name the core computed. Creating it twice answers
 * AlreadyExists, which is adopted: no crash, retry or racing tick ever starts a second run.
 */

export type KubernetesDispatcherOptions = KubeAccess & Omit<DispatchJobOptions, 'namespace'> & { namespace: string };

const DETAIL_MAX = 500;
const clip = (s: string): string => (s.length <= DETAIL_MAX ? s : `${s.slice(0, DETAIL_MAX - 1)}…`);

/** The `trigger` stage as the Job's conditions tell it. */
export const jobReading = (job: V1Job): StageReading => {
  const ref = `Job ${job.metadata?.namespace ?? ''}/${job.metadata?.name ?? ''}`;
  const conditions = job.status?.conditions ?? [];
  const holds = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  const complete = holds('Complete');
  if (complete) return { result: 'SUCCESS', detail: clip(`${ref} complete (succeeded ${job.status?.succeeded ?? 0})`) };
  const failed = holds('Failed');
  if (failed) {
    const why = [failed.reason, failed.message].filter((x): x is string => !!x).join(': ');
    return { result: 'FAILURE', detail: clip(`${ref} failed${why ? `: ${why}` : ''}`) };
  }
  const s = job.status;
  const counts = `active ${s?.active ?? 0}, ready ${s?.ready ?? 0}, failed ${s?.failed ?? 0}`;
  const deleting = job.metadata?.deletionTimestamp ? '; being deleted' : '';
  return { result: 'PENDING', detail: clip(`${ref} ${s?.startTime ? 'running' : 'not started yet'} (${counts})${deleting}`) };
};

const sameDispatch = (job: V1Job, req: DispatchRequest): boolean => {
  const want = dispatchLabels(req);
  const have = job.metadata?.labels ?? {};
  return Object.entries(want).every(([k, v]) => have[k] === v) && carriesSha(job.metadata ?? {}, LABEL_SHA, req.sha);
};

export const createKubernetesDispatcher = (o: KubernetesDispatcherOptions): Dispatcher => {
  const c = makeClients(o);
  const { namespace } = o;

  const adopt = async (req: DispatchRequest): Promise<DispatchResult> => {
    const job = await c.call(() => c.batch.readNamespacedJob({ name: req.name, namespace }));
    if (!sameDispatch(job, req)) {
      // A name clash with something that is not this dispatch: never adopt it, never rename.
      throw new Error(
        `Job ${namespace}/${req.name} exists but is not the dispatch of ${req.followerId} ${req.sha} attempt ${req.attempt} ` +
          `(labels ${JSON.stringify(job.metadata?.labels ?? {})}, sha annotation ${JSON.stringify(job.metadata?.annotations?.[LABEL_SHA] ?? null)}); delete it or let it expire, then the dispatch is retried under the same name`,
      );
    }
    return { name: req.name, kind: 'Job', startedAt: isoTime(job.metadata?.creationTimestamp) ?? new Date().toISOString(), adopted: true };
  };

  return {
    kind: 'Job',

    async dispatch(req) {
      const body = dispatchJob(req, { ...o, namespace });
      try {
        const created = await c.call(() => c.batch.createNamespacedJob({ namespace, body }));
        return { name: req.name, kind: 'Job', startedAt: isoTime(created.metadata?.creationTimestamp) ?? new Date().toISOString(), adopted: false };
      } catch (e) {
        if (isAlreadyExists(e)) return adopt(req);
        throw new Error(`cannot create Job ${namespace}/${req.name}: ${describeError(e)}`, { cause: e });
      }
    },

    async cancel(name) {
      try {
        // Background: the Job goes now and the garbage collector removes its pods (batch/v1's
        // default would orphan them, leaving the deploy command running).
        await c.call(() => c.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },

    async statuses(names) {
      const out = new Map<string, StageReading>();
      if (names.length === 0) return out;
      const jobs = await listAll(c, (cont) =>
        c.batch.listNamespacedJob({ namespace, labelSelector: DISPATCH_SELECTOR, limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) }),
      );
      const byName = new Map(jobs.map((j) => [j.metadata?.name ?? '', j]));
      for (const name of names) {
        const job = byName.get(name);
        out.set(name, job ? jobReading(job) : { result: 'NONE', detail: `no Job ${namespace}/${name}` });
      }
      return out;
    },
  };
};
