import { open } from 'node:fs/promises';
import type { V1ConfigMap, V1ContainerStateTerminated, V1Pod } from '@kubernetes/client-node';
import { decodeSummary, EMPTY_TICK_TOTALS, encodeSummary, foldTick, TickTotals } from '../../core/tick-metrics.ts';
import { WHOLE_FILE } from '../../core/primitives.ts';
import { CorruptStateError, type TickLog } from '../ports.ts';
import { listAll, makeClients, type KubeAccess } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { APP, LABEL_COMPONENT, LABEL_MANAGED_BY } from './labels.ts';
import { TICK_METRICS_CONFIGMAP } from './rbac.ts';

/**
 * Tick metrics on Kubernetes. A tick writes its summary as its container's termination message
 * (`terminationMessagePath`, /dev/termination-log, a file the kubelet mounts into the container
 * and reads back into the pod's status when it exits): no request to the API server, so an idle
 * tick still makes none. `serve` lists the tick pods, folds in each summary it has not counted
 * (by pod uid and container id), and keeps the totals in the `branch-follower-tick-metrics`
 * ConfigMap (compare-and-swap), so they outlive `serve`. Ticks that ran while `serve` was down are
 * counted as long as their pods are kept (the CronJobs' job history limits); older ones are lost,
 * and the counters still never fall.
 */

export { TICK_METRICS_CONFIGMAP };
export const TICK_METRICS_KEY = 'totals.json';
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** The tick pods of both loops (the CronJobs' and the Jobs `serve` creates from them). */
export const TICK_POD_SELECTOR = `${LABEL_MANAGED_BY}=${APP},${LABEL_COMPONENT} in (observer,closer)`;

/**
 * Writes the summary where the kubelet reads it. The file is opened without creating it: outside
 * a pod (a tick run from a laptop with the kubernetes driver) there is none, and nothing is written.
 */
export const writeTerminationMessage = async (file: string, text: string): Promise<boolean> => {
  let h;
  try {
    h = await open(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    await h.truncate(0);
    await h.write(text, 0, 'utf8');
    return true;
  } finally {
    await h.close();
  }
};

export type KubernetesTickLogOptions = KubeAccess & {
  namespace: string;
  /** Default /dev/termination-log. */
  terminationMessagePath?: string;
  log?: (line: string) => void;
};

const terminatedOf = (pod: V1Pod): { id: string; t: V1ContainerStateTerminated }[] => {
  const uid = pod.metadata?.uid;
  if (!uid) return [];
  return (pod.status?.containerStatuses ?? []).flatMap((c) =>
    [c.state?.terminated, c.lastState?.terminated].flatMap((t) => (t && t.message !== undefined ? [{ id: `${uid}/${t.containerID ?? c.name}`, t }] : [])),
  );
};

export const createKubernetesTickLog = (o: KubernetesTickLogOptions): TickLog => {
  const c = makeClients(o);
  const { namespace } = o;
  const name = TICK_METRICS_CONFIGMAP;
  const at = `configmap ${namespace}/${name}`;
  const path = o.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH;

  const read = async (): Promise<{ totals: TickTotals; version: string | null; labels?: Record<string, string> }> => {
    let cm: V1ConfigMap;
    try {
      cm = await c.call(() => c.core.readNamespacedConfigMap({ name, namespace }));
    } catch (e) {
      if (isNotFound(e)) return { totals: EMPTY_TICK_TOTALS, version: null };
      throw e;
    }
    const version = cm.metadata?.resourceVersion ?? null;
    const labels = cm.metadata?.labels ?? {};
    const text = cm.data?.[TICK_METRICS_KEY];
    if (text === undefined) return { totals: EMPTY_TICK_TOTALS, version, labels };
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new CorruptStateError(`${at}: data.${TICK_METRICS_KEY}: ${WHOLE_FILE}`, "not JSON");
    }
    const r = TickTotals.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new CorruptStateError(`${at}: data.${TICK_METRICS_KEY}: ${(issue?.path ?? []).map(String).join('.') || WHOLE_FILE}`, issue?.message ?? 'invalid');
    }
    return { totals: r.data, version, labels };
  };

  // What this process last answered: the base when the ConfigMap is missing, so that what it
  // folded in memory does not fall when the pods it came from are gone.
  let memo: TickTotals | null = null;
  let saidMissing = false;
  const gather = async (keep: boolean): Promise<TickTotals> => {
    const pods = await listAll(c, (cont) => c.core.listNamespacedPod({ namespace, labelSelector: TICK_POD_SELECTOR, limit: 500, _continue: cont }));
    for (let round = 0; ; round++) {
      const kept = await read();
      const base = kept.version === null ? (memo ?? kept.totals) : kept.totals;
      let next = base;
      for (const pod of pods) for (const { id, t } of terminatedOf(pod)) next = foldTick(next, decodeSummary(t.message ?? ''), id);
      if (next === kept.totals || !keep) return (memo = next);
      // Kept in memory when it cannot be kept (no ConfigMap: `apply` makes it; serve may not create one).
      if (kept.version === null) {
        if (!saidMissing) o.log?.(`serve: ${at} not found; tick counters are not kept across restarts until \`apply\` creates it`);
        saidMissing = true;
        return (memo = next);
      }
      try {
        // A PUT replaces the whole object: the labels `apply` set go back as they were read.
        const body: V1ConfigMap = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace, resourceVersion: kept.version, labels: kept.labels ?? {} },
          data: { [TICK_METRICS_KEY]: JSON.stringify(TickTotals.parse(next)) },
        };
        await c.call(() => c.core.replaceNamespacedConfigMap({ name, namespace, body }));
        return (memo = next);
      } catch (e) {
        // Another replica of serve folded in between: fold again on what it wrote.
        if (!isConflict(e) || round > 0) throw e;
      }
    }
  };

  return {
    async record(summary) {
      await writeTerminationMessage(path, encodeSummary(summary));
    },
    totals: () => gather(false),
    collect: () => gather(true),
  };
};
