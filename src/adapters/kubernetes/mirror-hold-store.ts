import type { V1ConfigMap } from '@kubernetes/client-node';
import { MIRROR_HOLDS_CONFIGMAP, MirrorHolds } from '../../core/mirror-holds.ts';
import { ConflictError, type MirrorHoldStore } from '../ports.ts';
import { makeClients, type KubeAccess } from './client.ts';
import { describeError, isConflict, isNotFound } from './errors.ts';
import { componentLabels } from './labels.ts';
import type { StateListing } from './state-store.ts';

/**
 * Mirror back-pressure holds as the `branch-follower-mirror-holds` ConfigMap, key `holds.json`;
 * compare-and-swap on the resourceVersion. It carries the state labels (but no follower), so the
 * states' LIST returns it too: read through a shared listing, an idle tick costs no extra request.
 */

export type KubernetesMirrorHoldStoreOptions = KubeAccess & { namespace: string; listing?: StateListing };

export const HOLDS_KEY = 'holds.json';

export const createKubernetesMirrorHoldStore = (o: KubernetesMirrorHoldStoreOptions): MirrorHoldStore => {
  const c = makeClients(o);
  const { namespace } = o;
  const name = MIRROR_HOLDS_CONFIGMAP;
  const at = `configmap ${namespace}/${name}`;
  return {
    async read() {
      let cm: V1ConfigMap | undefined;
      if (o.listing) cm = (await o.listing()).find((x) => x.metadata?.name === name);
      else {
        try {
          cm = await c.call(() => c.core.readNamespacedConfigMap({ name, namespace }));
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      if (cm === undefined) return { holds: { schemaVersion: 1, holds: {} }, version: null };
      const version = cm.metadata?.resourceVersion ?? null;
      const text = cm.data?.[HOLDS_KEY];
      if (text === undefined) return { corrupt: { where: `${at}: data.${HOLDS_KEY}`, message: 'missing' }, version };
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        return { corrupt: { where: `${at}: data.${HOLDS_KEY}`, message: `not JSON: ${(e as Error).message}` }, version };
      }
      const r = MirrorHolds.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0];
        return { corrupt: { where: `${at}: data.${HOLDS_KEY}: ${(issue?.path ?? []).map(String).join('.') || 'the whole value'}`, message: issue?.message ?? 'invalid' }, version };
      }
      return { holds: r.data, version };
    },
    async write(holds, version) {
      const body: V1ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels: componentLabels('state'), ...(version !== null ? { resourceVersion: version } : {}) },
        data: { [HOLDS_KEY]: JSON.stringify(MirrorHolds.parse(holds)) },
      };
      try {
        if (version === null) await c.call(() => c.core.createNamespacedConfigMap({ namespace, body }));
        else await c.call(() => c.core.replaceNamespacedConfigMap({ name, namespace, body }));
      } catch (e) {
        if (isConflict(e) || (version !== null && isNotFound(e))) throw new ConflictError(`${at}${version !== null ? ` (version ${version})` : ''}: ${describeError(e)}`);
        throw e;
      }
    },
  };
};
