import { Watch, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { StageReading } from '../../core/fold.ts';
import { makeClients } from './client.ts';
import { describeError } from './errors.ts';
import { jobReading } from './dispatcher.ts';

/** How long one watch request lasts before it is renewed (a fresh list, then a new watch). */
const WATCH_SECONDS = 270;

/** Finished Jobs remembered so a re-list after a broken watch reports each end once. */
const REMEMBERED = 5000;

export type JobWatchOptions = {
  kc: KubeConfig;
  namespace: string;
  labelSelector: string;
  /** Called once per Job that ends (Complete or Failed) after the watch started; Jobs already ended then are not reported. */
  onFinished: (job: V1Job, reading: StageReading) => void;
  log: (line: string) => void;
  signal: AbortSignal;
  /** Pause before re-listing after the watch ended or failed. */
  retryMs?: number;
};

const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Lists and then watches the namespace's Jobs matching the selector until the signal aborts,
 * reporting each Job's end once. A watch that ends (the server's timeout, a dropped connection,
 * 410 Gone) is followed by a fresh list: an end that happened in between is reported then.
 */
export const watchJobs = async (o: JobWatchOptions): Promise<void> => {
  const c = makeClients({ kc: o.kc });
  const finished = new Set<string>();
  const see = (job: V1Job, report: boolean): void => {
    const name = job.metadata?.name;
    if (!name || finished.has(name)) return;
    const reading = jobReading(job);
    if (reading.result === 'PENDING') return;
    finished.add(name);
    if (finished.size > REMEMBERED) finished.delete(finished.values().next().value as string);
    if (report) o.onFinished(job, reading);
  };
  let first = true;
  while (!o.signal.aborted) {
    try {
      const list = await c.call(() => c.batch.listNamespacedJob({ namespace: o.namespace, labelSelector: o.labelSelector }));
      for (const j of list.items) see(j, !first);
      first = false;
      await new Promise<void>((resolve) => {
        let ctl: AbortController | null = null;
        // Until the server answers there is no controller yet; `.then` below aborts it when it comes.
        const stop = (): void => {
          ctl?.abort();
          end();
        };
        o.signal.addEventListener('abort', stop, { once: true });
        const end = (): void => {
          o.signal.removeEventListener('abort', stop);
          resolve();
        };
        new Watch(o.kc)
          .watch(
            `/apis/batch/v1/namespaces/${encodeURIComponent(o.namespace)}/jobs`,
            { labelSelector: o.labelSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
            (phase: string, obj: V1Job) => {
              if (phase === 'ADDED' || phase === 'MODIFIED') see(obj, true);
              // ERROR (410 Gone): end this watch; the loop lists afresh.
              else if (phase === 'ERROR') ctl?.abort();
            },
            (err: unknown) => {
              if (err && !o.signal.aborted && !(err instanceof Error && err.name === 'AbortError')) o.log(`serve: watch of Jobs in ${o.namespace} ended: ${describeError(err)}`);
              end();
            },
          )
          .then(
            (controller) => {
              ctl = controller;
              if (o.signal.aborted) controller.abort();
            },
            (e: unknown) => {
              o.log(`serve: cannot watch Jobs in ${o.namespace}: ${describeError(e)}`);
              end();
            },
          );
      });
    } catch (e) {
      if (!o.signal.aborted) o.log(`serve: cannot list Jobs in ${o.namespace}: ${describeError(e)}`);
    }
    await pause(o.retryMs ?? 1_000, o.signal);
  }
};
