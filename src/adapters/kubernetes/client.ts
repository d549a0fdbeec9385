import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
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

export type KubeClients = {
  kc: KubeConfig;
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
}

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

/** Creation time of an object as ISO text (client-node deserializes timestamps into Dates). */
export const isoTime = (t: Date | string | undefined | null): string | null => {
  if (t === undefined || t === null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};
