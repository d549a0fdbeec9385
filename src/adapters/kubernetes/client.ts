import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  KubernetesObjectApi,
  ServerConfiguration,
  createConfiguration,
  type Configuration,
  type KubeConfig,
  type Middleware,
} from '@kubernetes/client-node';
import { requestTimeoutMs } from './backoff.ts';
import { withRetries, type RetryOptions } from './retry.ts';

/** How every API call of the driver is made: retried per retry.ts, each try bounded by a timeout. */
export type KubeCallOptions = RetryOptions & {
  /** One request's limit (shortened near the deadline); default 15 s. */
  timeoutMs?: number;
  /** Page size of the plain-JSON LISTs (listJson); default LIST_PAGE. */
  listPage?: number;
};

export type KubeAccess = KubeCallOptions & { kc: KubeConfig };

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
export const USER_AGENT = 'branch-follower';
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

export type KubeClients = {
  kc: KubeConfig;
  /**
   * A GET of `path` answered as plain JSON, without deserialising into typed model classes;
   * failures reject as ApiException, as the typed calls do (errors.ts reads both alike).
   */
  getJson(path: string, query?: Record<string, string | number | undefined>, accept?: string): Promise<unknown>;
  /** Page size of listJson's LISTs. */
  listPage: number;
  core: CoreV1Api;
  batch: BatchV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  objects: ObjectApi;
  /** Runs one API call with the retry policy; `attempt` counts tries from 1. */
  call<T>(fn: (attempt: number) => Promise<T>): Promise<T>;
};

/**
 * Gives every request an AbortSignal: client-node v2 passes RequestContext's signal to fetch,
 * so a hung connection ends as a TimeoutError, which the retry policy treats as transient.
 */
const timeoutMiddleware = (limit: () => number): Middleware => ({
  pre: async (ctx) => {
    ctx.setSignal(AbortSignal.timeout(limit()));
    return ctx;
  },
  post: async (res) => res,
});

const userAgentMiddleware: Middleware = {
  pre: async (ctx) => {
    ctx.setHeaderParam('User-Agent', USER_AGENT);
    return ctx;
  },
  post: async (res) => res,
};

/** KubernetesObjectApi.makeApiClient's namespace defaulting, on a configuration of our own. */
export class ObjectApi extends KubernetesObjectApi {
  constructor(config: Configuration, kc: KubeConfig) {
    super(config);
    this.setDefaultNamespace(kc);
  }

  /** API discovery: whether `apiVersion` serves `kind` (one GET of its resource list); 404 when the group version is not served. */
  async serves(apiVersion: string, kind: string): Promise<boolean> {
    return (await this.resource(apiVersion, kind)) !== undefined;
  }

  /** API discovery: the collection path of `kind` in `namespace`, or undefined when `apiVersion` does not serve it. */
  async collectionPath(apiVersion: string, kind: string, namespace: string): Promise<string | undefined> {
    const r = await this.resource(apiVersion, kind);
    return r ? collectionPath(apiVersion, r.name, r.namespaced ? namespace : undefined) : undefined;
  }
}

/** The REST path of a collection: core kinds under /api, the others under /apis/<group>. */
export const collectionPath = (apiVersion: string, plural: string, namespace: string | undefined): string =>
  `${apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`}${namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${plural}`;

/** A client configuration like KubeConfig.makeApiClient's, plus the timeout middleware. */
const configurationFor = (kc: KubeConfig, limit: () => number): Configuration => {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [userAgentMiddleware, timeoutMiddleware(limit)],
  });
};

/** One GET through the configuration's server, credentials and middleware (timeout, User-Agent), answered as parsed JSON. */
const getJsonWith =
  (config: Configuration) =>
  async (path: string, query: Record<string, string | number | undefined> = {}, accept: string = ACCEPT_JSON): Promise<unknown> => {
    let ctx = config.baseServer.makeRequestContext(path, HttpMethod.GET);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) ctx.setQueryParam(k, String(v));
    ctx.setHeaderParam('Accept', accept);
    await config.authMethods.default?.applySecurityAuthentication(ctx);
    for (const m of config.middleware) ctx = await m.pre(ctx).toPromise();
    let res = await config.httpApi.send(ctx).toPromise();
    for (const m of config.middleware) res = await m.post(res).toPromise();
    const text = await res.body.text();
    if (res.httpStatusCode < 200 || res.httpStatusCode > 299) throw new ApiException(res.httpStatusCode, `HTTP-Code: ${res.httpStatusCode}`, text, res.headers);
    return JSON.parse(text) as unknown;
  };

export const makeClients = (a: KubeAccess): KubeClients => {
  const now = a.now ?? Date.now;
  const timeoutMs = a.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const config = configurationFor(a.kc, () => requestTimeoutMs(timeoutMs, now(), a.deadline));
  const objects = new ObjectApi(config, a.kc);
  const retry: RetryOptions = { now };
  if (a.deadline !== undefined) retry.deadline = a.deadline;
  if (a.sleep) retry.sleep = a.sleep;
  if (a.random) retry.random = a.random;
  if (a.policy) retry.policy = a.policy;
  if (a.onRetry) retry.onRetry = a.onRetry;
  return {
    kc: a.kc,
    getJson: getJsonWith(config),
    listPage: a.listPage ?? LIST_PAGE,
    core: new CoreV1Api(config),
    batch: new BatchV1Api(config),
    apps: new AppsV1Api(config),
    custom: new CustomObjectsApi(config),
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
const isExpired = (e: unknown): boolean => e instanceof ApiException && e.code === 410;

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

/** Creation time of an object as ISO text (client-node deserializes timestamps into Dates). */
export const isoTime = (t: Date | string | undefined | null): string | null => {
  if (t === undefined || t === null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};
