import type { KubeConnection } from '../adapters/kubernetes/kubeconfig.ts';
import { closerWakeJobName, pokeJobName } from '../core/push.ts';
import { servedCronJobVersion, type CronJobApiVersion } from '../adapters/kubernetes/apply.ts';
import { makeClients } from '../adapters/kubernetes/client.ts';
import { createJobFromCronJob } from '../adapters/kubernetes/job-from-cronjob.ts';
import { watchJobs } from '../adapters/kubernetes/job-watch.ts';
import { APP, LABEL_COMPONENT, LABEL_MANAGED_BY } from '../adapters/kubernetes/labels.ts';
import { cronJobName, JOB_DEADLINE_SECONDS, type Loop } from '../adapters/kubernetes/manifests.ts';
import { createCoalescer } from './coalescer.ts';
import type { PushWake } from './push-route.ts';
import type { Waker } from './wake-local.ts';

/** Says on a woken Job what woke it (the repository as the registry spells it, the pushed sha). */
export const WOKEN_BY_ANNOTATION = 'branch-follower.dev/woken-by';

/** How long a woken Job is waited for before its key takes pokes again without it (its own deadline, plus a pod's start). */
const JOB_WAIT_MS = (JOB_DEADLINE_SECONDS + 60) * 1000;

/**
 * The Kubernetes driver's waker. A push creates a Job from the observer CronJob's template (what
 * `kubectl create job --from=cronjob/branch-follower-observer` does), named from (repository,
 * sha), so a redelivered hook, a second replica or a restart finds it there (AlreadyExists) and
 * adds nothing. One such Job per repository runs at a time, one more waits. A watch of the
 * controller's Jobs sees each dispatch Job end and wakes the closer the same way.
 */
export const createKubernetesWaker = (o: { kc: KubeConnection; namespace: string; log: (line: string) => void; signal: AbortSignal }): Waker => {
  const c = makeClients({ kc: o.kc });
  let version: Promise<CronJobApiVersion> | null = null;
  const served = (): Promise<CronJobApiVersion> =>
    (version ??= servedCronJobVersion(o.kc).catch((e: unknown) => {
      version = null;
      throw e;
    }));
  const waiters = new Map<string, () => void>();

  /** Creates the Job and, when it is new, waits until the watch sees it end. */
  const wakeLoop = async (loop: Loop, jobName: string, wokenBy: string): Promise<void> => {
    const ended = new Promise<void>((resolve) => {
      const t = setTimeout(done, JOB_WAIT_MS);
      function done(): void {
        clearTimeout(t);
        waiters.delete(jobName);
        o.signal.removeEventListener('abort', done);
        resolve();
      }
      waiters.set(jobName, done);
      o.signal.addEventListener('abort', done, { once: true });
    });
    let r: 'created' | 'exists';
    try {
      r = await createJobFromCronJob(c, { namespace: o.namespace, cronJobName: cronJobName(loop), cronJobVersion: await served(), jobName, annotations: { [WOKEN_BY_ANNOTATION]: wokenBy } });
    } catch (e) {
      waiters.get(jobName)?.();
      throw e;
    }
    o.log(`serve: ${loop} ${r === 'created' ? 'woken: created' : 'already woken: found'} Job ${o.namespace}/${jobName}`);
    if (r === 'exists') waiters.get(jobName)?.();
    await ended;
  };

  const closer = createCoalescer<string>({
    run: (_key, dispatch) => wakeLoop('closer', closerWakeJobName(dispatch), `end of ${dispatch}`),
    merge: (_older, newer) => newer,
    log: o.log,
  });
  const observer = createCoalescer<PushWake>({
    run: (key, w) => wakeLoop('observer', pokeJobName(key, w.sha), `push to ${key} at ${w.sha.slice(0, 12)}`),
    merge: (a, b) => ({ key: b.key, sha: b.sha, followers: [...new Set([...a.followers, ...b.followers])] }),
    log: o.log,
  });

  void watchJobs({
    kc: o.kc,
    namespace: o.namespace,
    labelSelector: `${LABEL_MANAGED_BY}=${APP}`,
    signal: o.signal,
    log: o.log,
    onFinished(job) {
      const name = job.metadata?.name ?? '';
      waiters.get(name)?.();
      if (job.metadata?.labels?.[LABEL_COMPONENT] === 'dispatch') closer.poke('closer', name);
    },
  });

  return {
    wake: (w) => observer.poke(w.key, w),
    async idle() {
      await observer.idle();
      await closer.idle();
    },
  };
};
