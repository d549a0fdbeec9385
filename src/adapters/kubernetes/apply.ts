import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeConnection } from './kubeconfig.ts';
import { ARMING_CONFIGMAP } from '../../core/arming.ts';
import { makeClients, type KubeCallOptions, type KubeClients } from './client.ts';
import { describeError, isAlreadyExists, isNotFound } from './errors.ts';
import { armingConfigMap } from './manifests.ts';

/**
 * `plan` and `apply` against a cluster. These run with the operator's own credentials (the
 * controller's Role cannot create Namespaces or RBAC), read live objects with GETs, and write
 * with server-side apply under one field manager, so re-applying the same manifests is a no-op
 * and fields other managers own are left alone.
 */

export type ObjectRef = { apiVersion: string; kind: string; name: string; namespace?: string };
export type DiffEntry = ObjectRef & { action: 'create' | 'update' | 'unchanged'; diff: string[] };
export type ApplyResult = ObjectRef & { resourceVersion: string | null };

export const FIELD_MANAGER = 'branch-follower';
const DIFF_LINES_MAX = 40;
const VALUE_MAX = 160;

/** Fields the server owns: never part of what a manifest asks for. */
const SERVER_METADATA = ['resourceVersion', 'uid', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

export const refOf = (o: KubernetesObject): ObjectRef => ({
  apiVersion: o.apiVersion ?? 'v1',
  kind: o.kind ?? '',
  name: o.metadata?.name ?? '',
  ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
});

const refText = (r: ObjectRef): string => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Plain JSON of an object: a manifest built in code can carry Dates and undefined members. */
const toJson = (v: unknown): Json => JSON.parse(JSON.stringify(v ?? null)) as Json;

const isMap = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

const show = (v: Json | undefined): string => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length <= VALUE_MAX ? s : `${s.slice(0, VALUE_MAX - 1)}…`;
};

const multiline = (a: Json | undefined, b: Json | undefined): a is string => typeof a === 'string' && typeof b === 'string' && (a.includes('\n') || b.includes('\n'));

/**
 * What `want` changes on `live`. Only fields the manifest sets are compared (the server adds
 * defaults a manifest never mentions), except ConfigMap-style `data`, whose keys a manifest owns
 * whole: a key it dropped is removed by the apply, so it shows as removed here.
 */
export const fieldDiff = (want: Json, live: Json | undefined, path: string, out: string[], ownKeys = false): void => {
  if (isMap(want)) {
    const have = isMap(live) ? live : undefined;
    for (const [k, v] of Object.entries(want)) {
      const p = path ? `${path}.${k}` : k;
      fieldDiff(v, have?.[k], p, out, path === '' && (k === 'data' || k === 'binaryData'));
    }
    if (ownKeys && have) for (const k of Object.keys(have)) if (!(k in want)) out.push(`- ${path}.${k}: ${show(have[k])}`);
    return;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(live) || live.length !== want.length) {
      out.push(`- ${path}: ${show(live)}`, `+ ${path}: ${show(want)}`);
      return;
    }
    want.forEach((v, i) => fieldDiff(v, live[i], `${path}[${i}]`, out));
    return;
  }
  if (JSON.stringify(want) === JSON.stringify(live)) return;
  if (multiline(want, live) && typeof live === 'string') {
    const before = live.split('\n');
    const after = want.split('\n');
    const gone = new Set(after);
    const came = new Set(before);
    out.push(`~ ${path}:`, ...before.filter((l) => !gone.has(l)).map((l) => `-   ${l}`), ...after.filter((l) => !came.has(l)).map((l) => `+   ${l}`));
    return;
  }
  out.push(`- ${path}: ${show(live)}`, `+ ${path}: ${show(want)}`);
};

/** The parts of a manifest that are its desired state (server metadata and status dropped). */
const desired = (o: KubernetesObject): Json => {
  const j = toJson(o);
  if (!isMap(j)) return j;
  delete j['status'];
  const meta = j['metadata'];
  if (isMap(meta)) for (const k of SERVER_METADATA) delete meta[k];
  return j;
};

const readLive = async (c: KubeClients, o: KubernetesObject): Promise<KubernetesObject | null> => {
  const r = refOf(o);
  try {
    return await c.call(() => c.objects.read({ apiVersion: r.apiVersion, kind: r.kind, metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) } }));
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new Error(`cannot read ${refText(r)}: ${describeError(e)}`, { cause: e });
  }
};

/** Per object: create, update (with what changes), or unchanged. Reads only. */
export const diffManifests = async (kc: KubeConnection, objects: readonly KubernetesObject[], opts: KubeCallOptions = {}): Promise<DiffEntry[]> => {
  const c = makeClients({ ...opts, kc });
  const out: DiffEntry[] = [];
  for (const o of objects) {
    const live = await readLive(c, o);
    if (!live) {
      out.push({ ...refOf(o), action: 'create', diff: [] });
      continue;
    }
    const lines: string[] = [];
    fieldDiff(desired(o), toJson(live), '', lines);
    const diff = lines.length <= DIFF_LINES_MAX ? lines : [...lines.slice(0, DIFF_LINES_MAX), `… ${lines.length - DIFF_LINES_MAX} more lines`];
    out.push({ ...refOf(o), action: lines.length ? 'update' : 'unchanged', diff });
  }
  return out;
};

/** What must exist before what: the Namespace first, then who runs, what it may do, its config, and last the CronJobs that use them. */
const KIND_ORDER = ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding', 'Secret', 'ConfigMap'];
const rank = (o: KubernetesObject): number => {
  const i = KIND_ORDER.indexOf(o.kind ?? '');
  return i >= 0 ? i : o.kind === 'CronJob' ? KIND_ORDER.length + 1 : KIND_ORDER.length;
};

export const applyOrder = (objects: readonly KubernetesObject[]): KubernetesObject[] =>
  objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map(({ o }) => o);

/** Server-side apply of each object, forced (this manager owns what it declares), in dependency order. */
export const applyManifests = async (
  kc: KubeConnection,
  objects: readonly KubernetesObject[],
  o: { fieldManager?: string } & KubeCallOptions = {},
): Promise<ApplyResult[]> => {
  const c = makeClients({ ...o, kc });
  const manager = o.fieldManager ?? FIELD_MANAGER;
  const out: ApplyResult[] = [];
  for (const obj of applyOrder(objects)) {
    const r = refOf(obj);
    // A fresh copy: patch() fills in defaults on the spec it is handed, and the caller's objects stay as they are.
    const body = desired(obj) as KubernetesObject;
    try {
      const applied = await c.call(() => c.objects.apply(body, manager));
      out.push({ ...r, resourceVersion: applied.metadata?.resourceVersion ?? null });
    } catch (e) {
      throw new Error(`cannot apply ${refText(r)}: ${describeError(e)}`, { cause: e });
    }
  }
  return out;
};

/** Creates the arming ConfigMap, disarmed, only when it is absent; an operator's arming is never overwritten. */
export const ensureArming = async (kc: KubeConnection, namespace: string, opts: KubeCallOptions = {}): Promise<'created' | 'present'> => {
  const c = makeClients({ ...opts, kc });
  try {
    await c.call(() => c.core.readNamespacedConfigMap({ name: ARMING_CONFIGMAP, namespace }));
    return 'present';
  } catch (e) {
    if (!isNotFound(e)) throw new Error(`cannot read configmap ${namespace}/${ARMING_CONFIGMAP}: ${describeError(e)}`, { cause: e });
  }
  try {
    await c.call(() => c.core.createNamespacedConfigMap({ namespace, body: armingConfigMap(namespace) }));
    return 'created';
  } catch (e) {
    if (isAlreadyExists(e)) return 'present';
    throw new Error(`cannot create configmap ${namespace}/${ARMING_CONFIGMAP}: ${describeError(e)}`, { cause: e });
  }
};

/**
 * CronJob moved from batch/v1beta1 to batch/v1 in Kubernetes 1.21, and v1beta1 left in 1.25. The
 * manifests (and k8s/) say batch/v1; on a server that serves only v1beta1 (1.20 and older) the
 * same objects go out as v1beta1, whose CronJob spec holds every field they set.
 */
export const CRONJOB_API_VERSIONS = ['batch/v1', 'batch/v1beta1'] as const;
export type CronJobApiVersion = (typeof CRONJOB_API_VERSIONS)[number];

/** The CronJob version the server serves, by API discovery (one GET per group version asked, newest first). */
export const servedCronJobVersion = async (kc: KubeConnection, opts: KubeCallOptions = {}): Promise<CronJobApiVersion> => {
  const c = makeClients({ ...opts, kc });
  for (const version of CRONJOB_API_VERSIONS) {
    try {
      if (await c.call(() => c.objects.serves(version, 'CronJob'))) return version;
    } catch (e) {
      // A group version the server does not serve at all answers 404 (batch/v1beta1 from 1.25 on).
      if (!isNotFound(e)) throw new Error(`cannot discover ${version}: ${describeError(e)}`, { cause: e });
    }
  }
  throw new Error(`the cluster serves CronJob in none of ${CRONJOB_API_VERSIONS.join(', ')}`);
};

/** The objects as the server takes them: CronJobs in the version it serves, everything else as written. */
export const inServedVersions = (objects: readonly KubernetesObject[], cronJobs: CronJobApiVersion): KubernetesObject[] =>
  objects.map((o) => (o.kind === 'CronJob' && o.apiVersion !== cronJobs ? { ...o, apiVersion: cronJobs } : o));

export type WaitOptions = KubeCallOptions & { timeoutMs?: number; pollMs?: number };

type CronJobLike = KubernetesObject & { spec?: { suspend?: boolean } };

/** Waits until every named CronJob exists and is not suspended; one LIST per poll. */
export const waitForCronJobs = async (
  kc: KubeConnection,
  namespace: string,
  names: readonly string[],
  o: WaitOptions & { apiVersion?: CronJobApiVersion } = {},
): Promise<void> => {
  const c = makeClients({ ...o, kc });
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const timeoutMs = o.timeoutMs ?? 60_000;
  const until = now() + timeoutMs;
  for (;;) {
    const list = await c.call(() => c.objects.list<CronJobLike>(o.apiVersion ?? 'batch/v1', 'CronJob', namespace));
    const byName = new Map<string, CronJobLike>(list.items.map((j) => [j.metadata?.name ?? '', j]));
    const waiting = names.flatMap((n) => {
      const j = byName.get(n);
      return !j ? [`${n} (missing)`] : j.spec?.suspend === true ? [`${n} (suspended)`] : [];
    });
    if (waiting.length === 0) return;
    if (now() >= until) throw new Error(`CronJobs in ${namespace} not ready after ${Math.round(timeoutMs / 1000)}s: ${waiting.join(', ')}`);
    await sleep(Math.max(0, Math.min(o.pollMs ?? 1_000, until - now())));
  }
};
