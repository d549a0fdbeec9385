import type { V1Job } from '@kubernetes/client-node';
import type { StageReading } from '../../core/fold.ts';
import { makeClients } from './client.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { kubeWatch } from './rest.ts';
import { describeError } from './errors.ts';
import { jobReading } from './dispatcher.ts';

/** How long one watch request lasts before it is renewed (a fresh list, then a new watch). */
const WATCH_SECONDS = 270;

/** Finished Jobs remembered so a re-list after a broken watch reports each end once. */
const REMEMBERED = 5000;

export type JobWatchOptions = {
  kc: KubeConnection;
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
      // One watch from the list's resourceVersion until the server ends it (its timeout, a dropped
      // connection, an ERROR such as 410 Gone) or the signal aborts; then the loop lists afresh.
      const ctl = new AbortController();
      const stop = (): void => ctl.abort();
      o.signal.addEventListener('abort', stop, { once: true });
      try {
        await kubeWatch(
          o.kc,
          `/apis/batch/v1/namespaces/${encodeURIComponent(o.namespace)}/jobs`,
          { labelSelector: o.labelSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
          (ev) => {
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') see(ev.object as V1Job, true);
            else if (ev.type === 'ERROR') ctl.abort();
          },
          ctl.signal,
        );
      } catch (err) {
        if (!o.signal.aborted && !ctl.signal.aborted) o.log(`serve: watch of Jobs in ${o.namespace} ended: ${describeError(err)}`);
      } finally {
        o.signal.removeEventListener('abort', stop);
      }
    } catch (e) {
      if (!o.signal.aborted) o.log(`serve: cannot list Jobs in ${o.namespace}: ${describeError(e)}`);
    }
    await pause(o.retryMs ?? 1_000, o.signal);
  }
};
