import type { Writer, WriterLiveness } from '../../core/state.ts';
import type { WriterProbe } from '../ports.ts';
import { processLiveness, processWriter, type ProcessIdentity } from '../local/writer.ts';
import { makeClients, type KubeAccess } from './client.ts';
import { apiFailure } from './errors.ts';

/**
 * A tick in a controller pod names itself by its pod's name and uid, which the CronJob hands it
 * through the downward API (POD_NAME_ENV, POD_UID_ENV). A later tick asks the API server: no
 * such pod, a pod of that name with another uid (a new pod under an old name), or a pod that
 * has terminated (Succeeded, Failed) means the writer is gone. A tick run elsewhere (a laptop's
 * `tick observer`) is a process writer, judged as on the local driver.
 */

export const POD_NAME_ENV = 'BRANCH_FOLLOWER_POD_NAME';
export const POD_UID_ENV = 'BRANCH_FOLLOWER_POD_UID';

export type KubernetesWriterProbeOptions = KubeAccess & { namespace: string; env: NodeJS.ProcessEnv; me: ProcessIdentity };

export const podWriter = (env: NodeJS.ProcessEnv): Writer | null => {
  const name = env[POD_NAME_ENV];
  const uid = env[POD_UID_ENV];
  return name && uid && name.length <= 253 && uid.length <= 64 ? { kind: 'pod', name, uid } : null;
};

export const createKubernetesWriterProbe = (o: KubernetesWriterProbeOptions): WriterProbe => {
  const c = makeClients(o);
  const podLiveness = async (w: Writer & { kind: 'pod' }): Promise<WriterLiveness> => {
    try {
      const pod = await c.call(() => c.core.readNamespacedPod({ name: w.name, namespace: o.namespace }));
      if (pod.metadata?.uid !== w.uid) return 'gone';
      const phase = pod.status?.phase;
      return phase === 'Succeeded' || phase === 'Failed' ? 'gone' : 'alive';
    } catch (e) {
      // Only a definite answer counts; anything else (forbidden, unreachable) leaves it to the lease.
      return apiFailure(e)?.code === 404 ? 'gone' : 'unknown';
    }
  };
  return {
    self: podWriter(o.env) ?? processWriter(o.me),
    liveness: (w) => (w.kind === 'pod' ? podLiveness(w) : processLiveness(o.me, w)),
  };
};
