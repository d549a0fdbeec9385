import type { V1ConfigMap } from '@kubernetes/client-node';
import { ARMING_CONFIGMAP, Arming, armingToData, parseArmingData, type ArmingRead } from '../../core/arming.ts';
import { ConflictError, type ArmingStore } from '../ports.ts';
import { makeClients, type KubeAccess } from './client.ts';
import { describeError, isConflict, isNotFound } from './errors.ts';
import { componentLabels } from './labels.ts';

/**
 * The arming gate as the `branch-follower-arming` ConfigMap: two keys, `killSwitch` and
 * `allowlist`, each a JSON document (see core/arming.ts). Writes are compare-and-swap on the
 * resourceVersion, so two operators editing at once cannot silently undo each other.
 */

export type KubernetesArmingStoreOptions = KubeAccess & { namespace: string };

/** parseArmingData names the key after `where: `; on a ConfigMap that key lives under `data.`. */
export const readArmingConfigMap = (namespace: string, cm: V1ConfigMap): ArmingRead => {
  const prefix = `configmap ${namespace}/${ARMING_CONFIGMAP}`;
  const read = parseArmingData(prefix, cm.data ?? {});
  if (read.kind !== 'malformed') return read;
  const rest = read.where.startsWith(`${prefix}: `) ? read.where.slice(prefix.length + 2) : read.where;
  return { ...read, where: `${prefix}: data.${rest}` };
};

export const createKubernetesArmingStore = (o: KubernetesArmingStoreOptions): ArmingStore => {
  const c = makeClients(o);
  const { namespace } = o;
  const name = ARMING_CONFIGMAP;

  return {
    async read() {
      try {
        const cm = await c.call(() => c.core.readNamespacedConfigMap({ name, namespace }));
        return { read: readArmingConfigMap(namespace, cm), version: cm.metadata?.resourceVersion ?? null };
      } catch (e) {
        if (isNotFound(e)) return { read: { kind: 'absent' }, version: null };
        throw e;
      }
    },

    async write(arming, version) {
      const body: V1ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels: componentLabels('arming'), ...(version !== null ? { resourceVersion: version } : {}) },
        data: armingToData(Arming.parse(arming)),
      };
      try {
        if (version === null) await c.call(() => c.core.createNamespacedConfigMap({ namespace, body }));
        else await c.call(() => c.core.replaceNamespacedConfigMap({ name, namespace, body }));
      } catch (e) {
        if (isConflict(e) || (version !== null && isNotFound(e))) {
          throw new ConflictError(`configmap ${namespace}/${name}${version !== null ? ` (version ${version})` : ''}: ${describeError(e)}`);
        }
        throw e;
      }
    },
  };
};
