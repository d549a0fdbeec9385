import { notJson } from '../../core/describe-content.ts';
import { randomUUID } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { z } from 'zod';
import { FollowerId } from '../../core/primitives.ts';
import { FollowerState } from '../../core/state.ts';
import { ConflictError, type StateStore, type Stored } from '../ports.ts';
import { collectionPath, listJson, makeClients, type KubeAccess } from './client.ts';
import { describeError, isConflict, isNotFound } from './errors.ts';
import { LABEL_FOLLOWER, STATE_SELECTOR, followerLabels } from './labels.ts';

/**
 * Follower states as ConfigMaps, one per follower, listed with one labelled LIST. The
 * resourceVersion is the compare-and-swap token: an update carries the version it read and
 * the API server refuses it (409 Conflict) when anyone wrote in between.
 */

export const STATE_CONFIGMAP_PREFIX = 'branch-follower-state-';
export const STATE_KEY = 'state.json';
/** The API server refuses objects over 1 MiB; the bounded history keeps a state far below this. */
export const STATE_MAX_BYTES = 900 * 1024;

export const stateConfigMapName = (id: string): string => `${STATE_CONFIGMAP_PREFIX}${id}`;

export type KubernetesStateStoreOptions = KubeAccess & { namespace: string; listing?: StateListing };

/**
 * The one labelled LIST of the controller's state ConfigMaps (the follower states, and the mirror
 * holds beside them). Calls made while a LIST is in flight share it: a tick reads its states and
 * its mirror holds with one request.
 */
export type StateListing = () => Promise<V1ConfigMap[]>;

export const createStateListing = (o: KubeAccess & { namespace: string }): StateListing => {
  const c = makeClients(o);
  let inFlight: Promise<V1ConfigMap[]> | null = null;
  // Plain JSON, paged: no typed model objects for what readStateConfigMap checks field by field.
  // ConfigMaps as the API server serves them (string data), which is all V1ConfigMap describes.
  const list = async () => (await listJson(c, collectionPath('v1', 'configmaps', o.namespace), { labelSelector: STATE_SELECTOR })) as V1ConfigMap[];
  return () =>
    (inFlight ??= list().finally(() => {
      inFlight = null;
    }));
};

const checkId = (id: string): string => {
  const r = FollowerId.safeParse(id);
  if (!r.success) throw new Error(`invalid follower id ${JSON.stringify(id)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return id;
};

const issuePath = (issue: z.core.$ZodIssue | undefined): string => (issue?.path ?? []).map((p) => `.${String(p)}`).join('');

/** Reads one state ConfigMap; anything wrong is described with where it is, never thrown. */
export const readStateConfigMap = (namespace: string, cm: V1ConfigMap): Stored | null => {
  const name = cm.metadata?.name ?? '';
  const labelled = cm.metadata?.labels?.[LABEL_FOLLOWER];
  const id = labelled ?? (name.startsWith(STATE_CONFIGMAP_PREFIX) ? name.slice(STATE_CONFIGMAP_PREFIX.length) : '');
  if (!id) return null;
  const version = cm.metadata?.resourceVersion ?? '';
  const where = `configmap ${namespace}/${name}: data.${STATE_KEY}`;
  const corrupt = (path: string, message: string): Stored => ({ id, version, corrupt: { where: `${where}${path}`, message } });
  const text = cm.data?.[STATE_KEY];
  if (text === undefined) return corrupt('', 'missing key');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return corrupt('', notJson(text, (e as Error).message));
  }
  const parsed = FollowerState.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return corrupt(issuePath(issue), issue?.message ?? 'invalid');
  }
  if (parsed.data.id !== id) return corrupt('.id', `id "${parsed.data.id}" does not match the ConfigMap's follower "${id}"`);
  if (name !== stateConfigMapName(id)) return corrupt('', `ConfigMap ${name} is labelled for follower "${id}" but is not named ${stateConfigMapName(id)}`);
  return { id, version, state: parsed.data };
};

/** The stored form; refuses what is invalid or too big, before any request is made. */
/**
 * Marks each write with a token of its own. Two racing ticks may compute byte-identical states;
 * only the token tells a retried writer whether the write that landed was its own.
 */
export const WRITE_ANNOTATION = 'branch-follower.dev/write';

export const stateConfigMap = (namespace: string, state: FollowerState, resourceVersion?: string, writeId?: string): V1ConfigMap => {
  const valid = FollowerState.parse(state);
  const text = `${JSON.stringify(valid, null, 1)}\n`;
  const bytes = Buffer.byteLength(text);
  if (bytes > STATE_MAX_BYTES) {
    throw new Error(`state of ${valid.id} is ${bytes} bytes, over the ${STATE_MAX_BYTES}-byte limit of its ConfigMap; not written`);
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: stateConfigMapName(valid.id),
      namespace,
      labels: followerLabels('state', valid.id),
      ...(writeId !== undefined ? { annotations: { [WRITE_ANNOTATION]: writeId } } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    data: { [STATE_KEY]: text },
  };
};

export const createKubernetesStateStore = (o: KubernetesStateStoreOptions): StateStore => {
  const c = makeClients(o);
  const { namespace } = o;
  const listing = o.listing ?? createStateListing(o);
  const versionOf = (cm: V1ConfigMap, what: string): string => {
    const v = cm.metadata?.resourceVersion;
    if (!v) throw new Error(`${what}: the API server answered without a resourceVersion`);
    return v;
  };
  /**
   * A retried write answered 409: was it our own first try that landed (its answer lost on the
   * way back)? Then it won, and the caller must know, or it would skip the events of its win.
   */
  const ownLandedWrite = async (name: string, body: V1ConfigMap): Promise<string | null> => {
    try {
      const live = await c.call(() => c.core.readNamespacedConfigMap({ name, namespace }));
      const mine = body.metadata?.annotations?.[WRITE_ANNOTATION];
      return mine !== undefined && live.metadata?.annotations?.[WRITE_ANNOTATION] === mine ? (live.metadata?.resourceVersion ?? null) : null;
    } catch {
      return null;
    }
  };

  return {
    async list() {
      const items = await listing();
      return items.flatMap((cm) => readStateConfigMap(namespace, cm) ?? []).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async get(id) {
      const name = stateConfigMapName(checkId(id));
      try {
        return readStateConfigMap(namespace, await c.call(() => c.core.readNamespacedConfigMap({ name, namespace })));
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },

    async create(state) {
      const body = stateConfigMap(namespace, state, undefined, randomUUID());
      const name = body.metadata?.name ?? '';
      let tries = 0;
      try {
        return versionOf(await c.call((n) => {
          tries = n;
          return c.core.createNamespacedConfigMap({ namespace, body });
        }), `create ${name}`);
      } catch (e) {
        if (!isConflict(e)) throw e;
        const landed = tries > 1 ? await ownLandedWrite(name, body) : null;
        if (landed) return landed;
        throw new ConflictError(`configmap ${namespace}/${name}: ${describeError(e)}`);
      }
    },

    async update(state, version) {
      const body = stateConfigMap(namespace, state, version, randomUUID());
      const name = body.metadata?.name ?? '';
      let tries = 0;
      try {
        return versionOf(await c.call((n) => {
          tries = n;
          return c.core.replaceNamespacedConfigMap({ name, namespace, body });
        }), `update ${name}`);
      } catch (e) {
        // A ConfigMap deleted since it was read is a lost race too: the caller re-reads.
        if (!isConflict(e) && !isNotFound(e)) throw e;
        const landed = tries > 1 && isConflict(e) ? await ownLandedWrite(name, body) : null;
        if (landed) return landed;
        throw new ConflictError(`configmap ${namespace}/${name} (version ${version}): ${describeError(e)}`);
      }
    },
  };
};
