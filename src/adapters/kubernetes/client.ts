import type { CoreV1Event, KubernetesListObject, KubernetesObject, V1ConfigMap, V1Job, V1Pod } from '@kubernetes/client-node';
import { requestTimeoutMs } from './backoff.ts';
import type { KubeConnection } from './kubeconfig.ts';
import { KubeApiError, kubeJson, kubeText, type KubeRequest, type Query } from './rest.ts';
import { withRetries, type RetryOptions } from './retry.ts';

/** How every API call of the driver is made: retried per retry.ts, each try bounded by a timeout. */
export type KubeCallOptions = RetryOptions & {
  /** One request's limit (shortened near the deadline); default 15 s. */
  timeoutMs?: number;
  /** Page size of the plain-JSON LISTs (listJson); default LIST_PAGE. */
  listPage?: number;
};

export type KubeAccess = KubeCallOptions & { kc: KubeConnection };

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
export { USER_AGENT } from './rest.ts';
/**
 * Page size of LIST calls: the registry's limit on followers (5000, core/registry.ts), so the
 * states (and a target namespace) of any valid registry come back in one call and an idle tick
 * makes a constant number of reads whatever N; a larger collection still pages.
 */
export const LIST_PAGE = 5000;

/** What a GET asks the server to answer with: the objects themselves, or their metadata alone. */
export const ACCEPT_JSON = 'application/json';
/**
 * Metadata-only LIST (as controller-runtime's metadata informers ask): each item is a
 * PartialObjectMetadata, its ObjectMeta and nothing else, so 1000 Deployments cost their labels
 * and annotations, not their pod templates.
 */
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
// What a pod log GET accepts, as kubectl asks it: the log is text whatever this says, but
// kube-apiserver negotiates it like any GET and answers `text/plain` alone with 406.
export const LOG_ACCEPT = 'application/json, */*';
/** The content type of a server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/). */
export const APPLY_PATCH = 'application/apply-patch+yaml';

// The answers are typed with client-node's model types (type-only imports: nothing of it loads),
// but they are the JSON as sent: a timestamp those types call a Date is RFC 3339 text here, and is
// read only through isoTime().
type Ns = { namespace: string };
type Named = Ns & { name: string };
type ListQuery = Ns & { labelSelector?: string; fieldSelector?: string; limit?: number; _continue?: string };
type List<T> = KubernetesListObject<T & KubernetesObject>;

/** The core/v1 calls the driver makes, named as client-node names them. */
export type CoreApi = {
  readNamespacedConfigMap(q: Named): Promise<V1ConfigMap>;
  createNamespacedConfigMap(q: Ns & { body: V1ConfigMap }): Promise<V1ConfigMap>;
  replaceNamespacedConfigMap(q: Named & { body: V1ConfigMap }): Promise<V1ConfigMap>;
  createNamespacedEvent(q: Ns & { body: CoreV1Event }): Promise<CoreV1Event>;
  listNamespacedEvent(q: ListQuery): Promise<List<CoreV1Event>>;
  listNamespacedPod(q: ListQuery): Promise<List<V1Pod>>;
  readNamespacedPod(q: Named): Promise<V1Pod>;
  readNamespacedPodLog(q: Named & { container?: string; tailLines?: number }): Promise<string>;
};

/** The batch/v1 calls the driver makes. */
export type BatchApi = {
  readNamespacedJob(q: Named): Promise<V1Job>;
  createNamespacedJob(q: Ns & { body: V1Job }): Promise<V1Job>;
  deleteNamespacedJob(q: Named & { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' }): Promise<unknown>;
  listNamespacedJob(q: ListQuery): Promise<List<V1Job>>;
};

/** Custom resources (Tekton PipelineRuns). */
export type CustomApi = {
  listNamespacedCustomObject(q: ListQuery & { group: string; version: string; plural: string }): Promise<unknown>;
};

/** An object named by apiVersion, kind and metadata, the way manifests name them. */
export type ObjectApi = {
  /** API discovery: whether `apiVersion` serves `kind` (one GET of its resource list); 404 when the group version is not served. */
  serves(apiVersion: string, kind: string): Promise<boolean>;
  /** API discovery: the collection path of `kind` in `namespace`, or undefined when `apiVersion` does not serve it. */
  collectionPath(apiVersion: string, kind: string, namespace: string): Promise<string | undefined>;
  read<T extends KubernetesObject = KubernetesObject>(o: KubernetesObject): Promise<T>;
  list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string): Promise<{ items: T[] }>;
  /** Server-side apply of `o`, forced, as `fieldManager`. */
  apply(o: KubernetesObject, fieldManager: string): Promise<KubernetesObject>;
};

export type KubeClients = {
  kc: KubeConnection;
  /** A GET of `path` answered as plain JSON; failures reject as KubeApiError. */
  getJson(path: string, query?: Record<string, string | number | undefined>, accept?: string): Promise<unknown>;
  /** Page size of listJson's LISTs. */
  listPage: number;
  core: CoreApi;
  batch: BatchApi;
  custom: CustomApi;
  objects: ObjectApi;
  /** Runs one API call with the retry policy; `attempt` counts tries from 1. */
  call<T>(fn: (attempt: number) => Promise<T>): Promise<T>;
};

/** The REST path of a collection: core kinds under /api, the others under /apis/<group>. */
export const collectionPath = (apiVersion: string, plural: string, namespace: string | undefined): string =>
  `${apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`}${namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${plural}`;

const seg = encodeURIComponent;
const listQuery = (q: ListQuery): Query => ({ labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, limit: q.limit, continue: q._continue });

type Discovered = { name: string; namespaced: boolean; kind: string };

export const makeClients = (a: KubeAccess): KubeClients => {
  const now = a.now ?? Date.now;
  const timeoutMs = a.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const kc = a.kc;
  // Every request is bounded; a hung connection ends as a TimeoutError, which the retry policy treats as transient.
  const bounded = (r: KubeRequest): KubeRequest => ({ ...r, signal: AbortSignal.timeout(requestTimeoutMs(timeoutMs, now(), a.deadline)) });
  const json = async <T>(r: KubeRequest): Promise<T> => (await kubeJson(kc, bounded(r))) as T;
  const retry: RetryOptions = { now };
  if (a.deadline !== undefined) retry.deadline = a.deadline;
  if (a.sleep) retry.sleep = a.sleep;
  if (a.random) retry.random = a.random;
  if (a.policy) retry.policy = a.policy;
  if (a.onRetry) retry.onRetry = a.onRetry;

  const cm = (ns: string, name?: string): string => `/api/v1/namespaces/${seg(ns)}/configmaps${name !== undefined ? `/${seg(name)}` : ''}`;
  const jobs = (ns: string, name?: string): string => `/apis/batch/v1/namespaces/${seg(ns)}/jobs${name !== undefined ? `/${seg(name)}` : ''}`;
  const core: CoreApi = {
    readNamespacedConfigMap: (q) => json({ path: cm(q.namespace, q.name) }),
    createNamespacedConfigMap: (q) => json({ method: 'POST', path: cm(q.namespace), body: q.body }),
    replaceNamespacedConfigMap: (q) => json({ method: 'PUT', path: cm(q.namespace, q.name), body: q.body }),
    createNamespacedEvent: (q) => json({ method: 'POST', path: `/api/v1/namespaces/${seg(q.namespace)}/events`, body: q.body }),
    listNamespacedEvent: (q) => json({ path: `/api/v1/namespaces/${seg(q.namespace)}/events`, query: listQuery(q) }),
    listNamespacedPod: (q) => json({ path: `/api/v1/namespaces/${seg(q.namespace)}/pods`, query: listQuery(q) }),
    readNamespacedPod: (q) => json({ path: `/api/v1/namespaces/${seg(q.namespace)}/pods/${seg(q.name)}` }),
    readNamespacedPodLog: (q) =>
      kubeText(kc, bounded({ path: `/api/v1/namespaces/${seg(q.namespace)}/pods/${seg(q.name)}/log`, query: { container: q.container, tailLines: q.tailLines }, accept: LOG_ACCEPT })),
  };
  const batch: BatchApi = {
    readNamespacedJob: (q) => json({ path: jobs(q.namespace, q.name) }),
    createNamespacedJob: (q) => json({ method: 'POST', path: jobs(q.namespace), body: q.body }),
    deleteNamespacedJob: (q) => json({ method: 'DELETE', path: jobs(q.namespace, q.name), query: { propagationPolicy: q.propagationPolicy } }),
    listNamespacedJob: (q) => json({ path: jobs(q.namespace), query: listQuery(q) }),
  };
  const custom: CustomApi = {
    listNamespacedCustomObject: (q) => json({ path: `/apis/${seg(q.group)}/${seg(q.version)}/namespaces/${seg(q.namespace)}/${seg(q.plural)}`, query: listQuery(q) }),
  };

  // Discovery answers, per group version, for the life of these clients.
  const discovered = new Map<string, Promise<Discovered[]>>();
  const resource = async (apiVersion: string, kind: string): Promise<Discovered | undefined> => {
    let list = discovered.get(apiVersion);
    if (!list) {
      list = json<{ resources?: Discovered[] }>({ path: apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}` }).then((r) => r.resources ?? []);
      list.catch(() => discovered.delete(apiVersion));
      discovered.set(apiVersion, list);
    }
    // Subresources (deployments/scale) share the kind of others; the resource itself has no slash.
    return (await list).find((r) => r.kind === kind && !r.name.includes('/'));
  };
  const objectPath = async (o: KubernetesObject): Promise<string> => {
    const apiVersion = o.apiVersion ?? '';
    const kind = o.kind ?? '';
    const r = await resource(apiVersion, kind);
    if (!r) throw new KubeApiError(404, '', {}, `${apiVersion} serves no ${kind}`);
    const namespace = r.namespaced ? (o.metadata?.namespace ?? kc.namespace ?? 'default') : undefined;
    return `${collectionPath(apiVersion, r.name, namespace)}/${seg(o.metadata?.name ?? '')}`;
  };
  const objects: ObjectApi = {
    serves: async (apiVersion, kind) => (await resource(apiVersion, kind)) !== undefined,
    collectionPath: async (apiVersion, kind, namespace) => {
      const r = await resource(apiVersion, kind);
      return r ? collectionPath(apiVersion, r.name, r.namespaced ? namespace : undefined) : undefined;
    },
    read: async <T extends KubernetesObject>(o: KubernetesObject) => json<T>({ path: await objectPath(o) }),
    list: async (apiVersion, kind, namespace) => {
      const path = await objects.collectionPath(apiVersion, kind, namespace);
      if (path === undefined) throw new KubeApiError(404, '', {}, `${apiVersion} serves no ${kind}`);
      return json({ path });
    },
    apply: async (o, fieldManager) =>
      json({ method: 'PATCH', path: await objectPath(o), query: { fieldManager, force: true }, contentType: APPLY_PATCH, body: JSON.stringify(o) }),
  };

  return {
    kc,
    getJson: (path, query = {}, accept = ACCEPT_JSON) => json({ path, query, accept }),
    listPage: a.listPage ?? LIST_PAGE,
    core,
    batch,
    custom,
    objects,
    call: (fn) => withRetries(fn, retry),
  };
};

type Page<T> = { items: T[]; metadata?: { _continue?: string; continue?: string } };

/** Every item of a LIST, one retried call per page (one call in all below LIST_PAGE items). */
export const listAll = async <T>(c: KubeClients, page: (cont: string | undefined) => Promise<Page<T>>): Promise<T[]> => {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const p = await c.call(() => page(cont));
    out.push(...p.items);
    cont = p.metadata?._continue || p.metadata?.continue || undefined;
  } while (cont);
  return out;
};

/** A LIST answer as plain JSON: its items (untyped until the caller checks them) and where the next page starts. */
type JsonPage = { items: unknown[]; metadata?: { continue?: string } };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const jsonPage = (body: unknown, path: string): JsonPage => {
  if (!isRecord(body) || !Array.isArray(body['items'])) throw new Error(`LIST ${path}: the answer holds no items`);
  const meta = isRecord(body['metadata']) ? body['metadata'] : {};
  return { items: body['items'], metadata: typeof meta['continue'] === 'string' ? { continue: meta['continue'] } : {} };
};

/** The API server's answer to a continue token it no longer serves (its snapshot was compacted). */
const isExpired = (e: unknown): boolean => e instanceof KubeApiError && e.code === 410;

/**
 * Every item of a collection, LISTed as plain JSON in pages of `c.listPage` (`limit`/`continue`), each
 * page one retried call. A page whose continue token expired (410: the first page's snapshot was
 * compacted away mid-list) starts the LIST over once, as client-go's pager does; the items of the
 * abandoned pages are dropped, so the result is always one snapshot.
 */
export const listJson = async (
  c: KubeClients,
  path: string,
  o: { labelSelector?: string; accept?: string } = {},
): Promise<unknown[]> => {
  const query = (cont: string | undefined) => ({ labelSelector: o.labelSelector, limit: c.listPage, continue: cont });
  for (let attempt = 0; ; attempt++) {
    const out: unknown[] = [];
    let cont: string | undefined;
    try {
      do {
        const page = jsonPage(await c.call(() => c.getJson(path, query(cont), o.accept)), path);
        out.push(...page.items);
        cont = page.metadata?.continue || undefined;
      } while (cont);
      return out;
    } catch (e) {
      if (!isExpired(e) || cont === undefined || attempt > 0) throw e;
    }
  }
};

/** A timestamp of an object as ISO text (RFC 3339 on the wire; a Date where a caller built the object). */
export const isoTime = (t: Date | string | undefined | null): string | null => {
  if (t === undefined || t === null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};
