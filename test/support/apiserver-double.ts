// A Kubernetes API-server double: a real HTTP server on 127.0.0.1 that the real
// @kubernetes/client-node talks to through a kubeconfig. It serves the types a branch follower
// uses with kube-apiserver's semantics (resourceVersion CAS, AlreadyExists, 422 validation,
// merge/JSON/strategic patches, server-side apply, garbage collection, watches), records every
// request, and injects faults on demand. See apiserver-registry.ts for the verb semantics.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig, type KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { parse as parseYaml } from 'yaml';
import { FaultQueue } from './apiserver-faults.ts';
import type { FaultResponse } from './apiserver-faults.ts';
import { clone, isObject, mergePatch } from './apiserver-json.ts';
import type { JsonObject } from './apiserver-json.ts';
import { Registry } from './apiserver-registry.ts';
import { negotiate, negotiateLog, partialList, partialObject } from './apiserver-negotiation.ts';
import type { Outcome, Target, WriteContext } from './apiserver-registry.ts';
import { defaultResources, ResourceRegistry } from './apiserver-resources.ts';
import type { ResourceDef } from './apiserver-resources.ts';
import { RequestLog } from './apiserver-requests.ts';
import type { RequestInfo, RequestRecord, Verb } from './apiserver-requests.ts';
import { ApiError, badRequest, conflict, failure, modifiedMessage, notFound, notFoundPath, reasonForCode } from './apiserver-status.ts';
import type { Status } from './apiserver-status.ts';
import { metaOf, metaString, ObjectStore } from './apiserver-store.ts';
import type { WatchEvent } from './apiserver-store.ts';

export type { FaultHandle, FaultMatch, FaultResponse, FaultRule } from './apiserver-faults.ts';
export type { RequestFilter, RequestInfo, RequestRecord, Verb } from './apiserver-requests.ts';
export type { ResourceDef } from './apiserver-resources.ts';
export { CRONJOB_V1, CRONJOB_V1BETA1 } from './apiserver-resources.ts';
export type { Status } from './apiserver-status.ts';
export { FaultQueue } from './apiserver-faults.ts';
export { RequestLog } from './apiserver-requests.ts';

/** A stored object as the helpers hand it out (a copy: changing it changes nothing). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ApiServerDoubleOptions {
  /** Bearer token the kubeconfig carries and the server demands; default `double-token`. */
  token?: string;
  /**
   * Also serve requests that carry no credentials at all, as kube-apiserver's --anonymous-auth
   * with a permissive RBAC does. kubectl needs it: client-go applies a kubeconfig's user only
   * over TLS, so it sends no token to this plain-http server. A wrong token is still refused.
   * Default false.
   */
  anonymousAuth?: boolean;
  /** The kubeconfig context's namespace; default `default`. */
  contextNamespace?: string;
  /** Namespaces that exist at start; default default, kube-system, kube-public, kube-node-lease. */
  namespaces?: string[];
  /**
   * When true, requests into a namespace that does not exist answer 404 as a real cluster does.
   * Default false: the namespace springs into existence on first use.
   */
  strictNamespaces?: boolean;
  /** Extra resource types to serve (e.g. a CRD); they join the built-in table. */
  resources?: readonly ResourceDef[];
  /** Built-in types not to serve, as an older server lacks them (e.g. CRONJOB_V1 on 1.20). */
  without?: readonly { group: string; version: string; resource: string }[];
  /** The clock for creationTimestamp and managedFields times. */
  now?: () => Date;
  /** Request bodies above this answer 413; default 3 MiB as kube-apiserver. */
  maxRequestBytes?: number;
  /** Render metadata.managedFields on objects; default true, as the real server. */
  managedFields?: boolean;
  /** First resourceVersion minus one; default 1000. */
  startRevision?: number;
  /** Writes remembered for watches and continued LISTs (etcd's compaction window); default 10000. */
  historyLimit?: number;
}

export interface StoreHelpers {
  /** `type` is loose: `configmaps`, `ConfigMap`, `jobs.batch`, `PipelineRun`, `pr`... */
  get(type: string, namespace: string, name: string): KubeObject | undefined;
  list(type: string, namespace?: string): KubeObject[];
  /** Create or replace without validation, as a cluster's controllers would; bumps resourceVersion. */
  put(type: string, obj: KubeObject): KubeObject;
  /** JSON merge patch without validation. Throws when the object does not exist. */
  patch(type: string, namespace: string, name: string, patch: JsonObject): KubeObject;
  /** Merge `status` into the object's status, as a controller writing /status would. */
  patchStatus(type: string, namespace: string, name: string, status: JsonObject): KubeObject;
  /** Remove an object outright (no finalizers, no garbage collection). */
  delete(type: string, namespace: string, name: string): boolean;
  /** The current global resourceVersion. */
  revision(): number;
}

export interface ApiServerDouble {
  url: string;
  kubeconfigPath: string;
  token: string;
  /** A client-node KubeConfig for the double (tests that exercise the double with client-node's typed APIs). */
  kubeConfig(): KubeConfig;
  /** The driver's own connection to the double, as loadKubeConfig makes it from the double's kubeconfig file. */
  connection(): KubeConnection;
  requests: RequestLog;
  faults: FaultQueue;
  store: StoreHelpers;
  resources: ResourceRegistry;
  /** Text served at .../pods/{pod}/log; `container` narrows it to one container. */
  setPodLog(namespace: string, pod: string, text: string, container?: string): void;
  namespaces(): string[];
  createNamespace(name: string): KubeObject;
  /** Stops the server, ends watches and closes every connection, keep-alive ones included. */
  close(): Promise<void>;
}

function asKubeObject(obj: JsonObject): KubeObject {
  // Everything the store hands out went through orderObject, so metadata is always a map.
  return obj as KubeObject;
}

interface Route {
  kind: 'discovery' | 'resource' | 'health' | 'unknown';
  doc?: object;
  text?: string;
  target?: Target;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function route(resources: ResourceRegistry, pathname: string): Route {
  const segs = pathname.split('/').filter((s) => s !== '').map(decode);
  const [first, second, third] = segs;
  if (segs.length === 0) {
    return { kind: 'discovery', doc: { paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/readyz', '/version'] } };
  }
  if (segs.length === 1 && (first === 'healthz' || first === 'readyz' || first === 'livez')) return { kind: 'health', text: 'ok' };
  if (segs.length === 1 && first === 'version') {
    return {
      kind: 'discovery',
      doc: {
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-apiserver-double',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2024-08-13T00:00:00Z',
        goVersion: 'go1.22.5',
        compiler: 'gc',
        platform: 'linux/amd64',
      },
    };
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (first === 'api') {
    if (segs.length === 1) return { kind: 'discovery', doc: resources.apiVersions() };
    group = '';
    version = second ?? '';
    rest = segs.slice(2);
  } else if (first === 'apis') {
    if (segs.length === 1) return { kind: 'discovery', doc: resources.apiGroupList() };
    if (segs.length === 2) {
      const doc = resources.apiGroup(second ?? '');
      return doc ? { kind: 'discovery', doc } : { kind: 'unknown' };
    }
    group = second ?? '';
    version = third ?? '';
    rest = segs.slice(3);
  } else {
    return { kind: 'unknown' };
  }
  if (rest.length === 0) {
    const doc = resources.resourceList(group, version);
    return doc ? { kind: 'discovery', doc } : { kind: 'unknown' };
  }
  let namespace = '';
  let resource: string;
  let name: string | undefined;
  let subresource: string | undefined;
  let extra: string[];
  const namespacedPath =
    rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'));
  if (namespacedPath) {
    namespace = rest[1] ?? '';
    resource = rest[2] ?? '';
    name = rest[3];
    subresource = rest[4];
    extra = rest.slice(5);
  } else {
    resource = rest[0] ?? '';
    name = rest[1];
    subresource = rest[2];
    extra = rest.slice(3);
  }
  const def = resources.byPath(group, version, resource);
  if (!def || extra.length > 0) return { kind: 'unknown' };
  if (!def.namespaced && namespacedPath) return { kind: 'unknown' };
  if (def.namespaced && !namespacedPath && name !== undefined) return { kind: 'unknown' };
  if (subresource !== undefined) {
    const ok = (subresource === 'status' && def.statusSubresource) || (subresource === 'log' && def.logSubresource);
    if (!ok) return { kind: 'unknown' };
  }
  return {
    kind: 'resource',
    target: {
      def,
      namespace,
      ...(name !== undefined ? { name } : {}),
      ...(subresource !== undefined ? { subresource } : {}),
    },
  };
}

function verbFor(method: string, r: Route, query: URLSearchParams): Verb {
  if (r.kind === 'discovery' || r.kind === 'health') return 'discovery';
  // An unknown path still gets the verb its method implies, so it shows up in read/write counts.
  const named = r.target ? r.target.name !== undefined : true;
  switch (method) {
    case 'GET': {
      if (named) return 'get';
      const w = query.get('watch');
      return w === 'true' || w === '1' ? 'watch' : 'list';
    }
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return 'get';
  }
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

const statusText: Record<number, string> = {
  429: 'Too many requests, please try again later.',
  500: 'Internal error occurred: injected fault',
  503: 'the server is currently unable to handle the request',
  504: 'Timeout: request did not complete within requested timeout - context deadline exceeded',
};

function faultStatus(fault: FaultResponse, info: RequestInfo): { status: Status; headers: Record<string, string> } {
  const code = fault.status ?? 500;
  const headers: Record<string, string> = {};
  const reason = fault.reason ?? reasonForCode(code);
  const gr = { group: info.group, resource: info.resource };
  const name = info.name ?? '';
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (code === 404 && fault.message === undefined && info.resource !== '') return { status: notFound(gr, name).status, headers };
  if (code === 409 && fault.message === undefined && info.resource !== '') {
    return { status: conflict(gr, name, modifiedMessage).status, headers };
  }
  let message = fault.message ?? statusText[code];
  if (code === 403 && message === undefined) {
    const what = info.name ? `${info.resource} "${info.name}"` : info.resource;
    const where = info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope';
    message = `${what} is forbidden: User "system:serviceaccount:branch-follower:branch-follower" cannot ${info.verb} resource "${info.resource}" in API group "${info.group}"${where}`;
  }
  if (code === 500 && fault.message !== undefined) message = `Internal error occurred: ${fault.message}`;
  const details =
    code === 429
      ? { retryAfterSeconds: fault.retryAfterSeconds ?? 1 }
      : code === 500
        ? { causes: [{ reason: '', message: fault.message ?? 'injected fault' }] }
        : undefined;
  if (code === 429 && headers['Retry-After'] === undefined) headers['Retry-After'] = '1';
  return { status: failure(code, reason, message ?? `injected ${code}`, details), headers };
}

function nameInBody(raw: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    const meta = isObject(parsed) ? parsed['metadata'] : undefined;
    const name = isObject(meta) ? meta['name'] : undefined;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Body {
  raw: string;
  tooLarge: boolean;
}

function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
      } else if (!tooLarge) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve({ raw: Buffer.concat(chunks).toString('utf8'), tooLarge }));
    req.on('error', reject);
  });
}

export async function startApiServerDouble(opts: ApiServerDoubleOptions = {}): Promise<ApiServerDouble> {
  const token = opts.token ?? 'double-token';
  const maxRequestBytes = opts.maxRequestBytes ?? 3 * 1024 * 1024;
  const omitted = (d: ResourceDef): boolean => (opts.without ?? []).some((w) => w.group === d.group && w.version === d.version && w.resource === d.resource);
  const resources = new ResourceRegistry([...defaultResources.filter((d) => !omitted(d)), ...(opts.resources ?? [])]);
  const store = new ObjectStore({
    ...(opts.startRevision !== undefined ? { startRevision: opts.startRevision } : {}),
    ...(opts.historyLimit !== undefined ? { historyLimit: opts.historyLimit } : {}),
    ...(opts.managedFields !== undefined ? { managedFields: opts.managedFields } : {}),
  });
  const registry = new Registry(store, resources, {
    now: opts.now ?? (() => new Date()),
    strictNamespaces: opts.strictNamespaces ?? false,
  });
  const requests = new RequestLog();
  const faults = new FaultQueue();
  const podLogs = new Map<string, string>();
  const watches = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    registry.createNamespace(ns);
  }

  function podLog(t: Target, query: URLSearchParams): Outcome {
    const pod = store.get(t.def, t.namespace, t.name ?? '');
    if (!pod) throw notFound({ group: '', resource: 'pods' }, t.name ?? '');
    const spec = isObject(pod.obj['spec']) ? pod.obj['spec'] : {};
    const containers = Array.isArray(spec['containers'])
      ? spec['containers'].map((c: unknown) => (isObject(c) && typeof c['name'] === 'string' ? c['name'] : ''))
      : [];
    const container = query.get('container');
    if (container === null && containers.length > 1) {
      throw badRequest(`a container name must be specified for pod ${t.name ?? ''}, choose one of: [${containers.join(' ')}]`);
    }
    if (container !== null && containers.length > 0 && !containers.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${t.name ?? ''}`);
    }
    const key = `${t.namespace}/${t.name ?? ''}`;
    let text = (container !== null ? podLogs.get(`${key}/${container}`) : undefined) ?? podLogs.get(key) ?? '';
    const tail = query.get('tailLines');
    if (tail !== null) {
      const n = Number(tail);
      const lines = text.split('\n');
      const trailing = text.endsWith('\n');
      if (trailing) lines.pop();
      text = lines.slice(Math.max(0, lines.length - n)).join('\n') + (trailing && n > 0 ? '\n' : '');
    }
    const limitBytes = query.get('limitBytes');
    if (limitBytes !== null) text = Buffer.from(text).subarray(0, Number(limitBytes)).toString('utf8');
    return { status: 200, body: text, headers: { 'Content-Type': 'text/plain' } };
  }

  function dispatch(info: RequestInfo, r: Route, body: Body, contentType: string, req: IncomingMessage): Outcome {
    if (r.kind === 'discovery') return { status: 200, body: r.doc };
    if (r.kind === 'health') return { status: 200, body: r.text, headers: { 'Content-Type': 'text/plain; charset=utf-8' } };
    const t = r.target;
    if (r.kind !== 'resource' || !t) throw notFoundPath();
    const query = info.query;
    const dryRunValues = query.getAll('dryRun');
    let parsed: unknown;
    const needsJson = info.verb === 'create' || info.verb === 'update' || info.verb === 'delete' || info.verb === 'deletecollection';
    if (needsJson && body.raw.trim() !== '') {
      if (contentType === 'application/yaml' || contentType.endsWith('+yaml')) {
        try {
          parsed = parseYaml(body.raw);
        } catch (e) {
          throw badRequest(`error decoding YAML: ${e instanceof Error ? e.message : String(e)}`);
        }
      } else if (contentType === '' || contentType === 'application/json' || contentType === '*/*') {
        try {
          parsed = JSON.parse(body.raw);
        } catch (e) {
          throw badRequest(`couldn't get version/kind; json parse error: ${e instanceof Error ? e.message : String(e)}`);
        }
      } else {
        throw new ApiError(
          failure(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
          ),
        );
      }
    }
    const bodyDryRun = isObject(parsed) && Array.isArray(parsed['dryRun']) && parsed['dryRun'].includes('All');
    const userAgent = req.headers['user-agent'] ?? '';
    const ctx: WriteContext = {
      query,
      manager: query.get('fieldManager') ?? (userAgent.split('/')[0] || 'unknown'),
      dryRun: dryRunValues.includes('All') || bodyDryRun,
    };
    const unknownDryRun = dryRunValues.find((v) => v !== 'All');
    if (unknownDryRun !== undefined) {
      throw badRequest(`Invalid dry run value "${unknownDryRun}": supported values are "All"`);
    }
    if (t.subresource === 'log') {
      if (info.verb !== 'get') throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
      negotiateLog(req.headers.accept);
      return podLog(t, query);
    }
    switch (info.verb) {
      case 'get': {
        const as = negotiate(req.headers.accept, false);
        const got = registry.get(t);
        return as === 'metadata' && isObject(got.body) ? { ...got, body: partialObject(got.body) } : got;
      }
      case 'list': {
        const as = negotiate(req.headers.accept, true);
        const listed = registry.list(t, query);
        return as === 'metadata' && isObject(listed.body) ? { ...listed, body: partialList(listed.body) } : listed;
      }
      case 'create':
        if (t.name !== undefined) {
          throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        }
        return registry.create(t, parsed, ctx);
      case 'update':
        if (t.name === undefined) {
          throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        }
        return registry.update(t, parsed, ctx);
      case 'patch':
        if (t.name === undefined) {
          throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
        }
        return registry.patch(t, body.raw, contentType, ctx);
      case 'delete':
        return registry.delete(t, parsed, ctx);
      case 'deletecollection':
        return registry.deleteCollection(t, parsed, ctx);
      default:
        throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
    }
  }

  function startWatch(info: RequestInfo, t: Target, res: ServerResponse): void {
    const matches = registry.matcher(t, info.query);
    const inScope = (e: WatchEvent): boolean =>
      e.def === t.def && (!t.def.namespaced || t.namespace === '' || e.namespace === t.namespace);
    const rvParam = info.query.get('resourceVersion');
    let backlog: WatchEvent[] | undefined = [];
    if (rvParam !== null && rvParam !== '' && rvParam !== '0') {
      backlog = store.eventsSince(Number(rvParam));
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    // A real server answers a watch's headers at once, so the client's watch() resolves before any
    // event: Node would hold them back until the first write.
    res.flushHeaders();
    watches.add(res);
    const send = (type: string, object: unknown): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    if (backlog === undefined) {
      send(
        'ERROR',
        failure(410, 'Expired', `too old resource version: ${rvParam ?? ''} (${store.oldestRevision()})`),
      );
      watches.delete(res);
      res.end();
      return;
    }
    const deliver = (e: WatchEvent): void => {
      if (!inScope(e)) return;
      const now = e.type !== 'DELETED' && matches(e.object);
      const before = e.previous !== undefined && matches(e.previous);
      if (e.type === 'DELETED') {
        if (before) send('DELETED', e.object);
      } else if (now && before) send('MODIFIED', e.object);
      else if (now) send('ADDED', e.object);
      else if (before) send('DELETED', e.object);
    };
    if (rvParam === null || rvParam === '' || rvParam === '0') {
      for (const entry of registry.select(t, info.query)) send('ADDED', store.render(t.def, entry));
    } else {
      for (const e of backlog) deliver(e);
    }
    const unsubscribe = store.subscribe(deliver);
    const timeoutSeconds = Number(info.query.get('timeoutSeconds') ?? '0');
    const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    const stop = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      watches.delete(res);
    };
    res.on('close', stop);
    res.on('finish', stop);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://double.invalid');
    const r = route(resources, url.pathname);
    const verb = verbFor(method, r, url.searchParams);
    const t = r.target;
    const info: RequestInfo = {
      verb,
      method,
      path: url.pathname,
      query: url.searchParams,
      resource: t ? t.def.resource : '',
      group: t ? t.def.group : '',
      ...(t?.subresource !== undefined ? { subresource: t.subresource } : {}),
      ...(t && t.namespace !== '' ? { namespace: t.namespace } : {}),
      ...(t?.name !== undefined ? { name: t.name } : {}),
    };
    const contentType = mediaType(req.headers['content-type']);
    const body = await readBody(req, maxRequestBytes);
    // A create names its object in the body; recording it lets tests and faults match creates by name.
    if (verb === 'create' && info.name === undefined && !body.tooLarge) {
      const name = nameInBody(body.raw);
      if (name !== undefined) info.name = name;
    }
    const dryRun = url.searchParams.getAll('dryRun').includes('All');
    const record = (status: number, fault?: RequestRecord['fault']): void => {
      requests.record({
        verb: info.verb,
        method,
        path: info.path,
        query: url.searchParams.toString(),
        resource: info.resource,
        group: info.group,
        ...(info.subresource !== undefined ? { subresource: info.subresource } : {}),
        ...(info.namespace !== undefined ? { namespace: info.namespace } : {}),
        ...(info.name !== undefined ? { name: info.name } : {}),
        status,
        ...(contentType !== '' ? { contentType } : {}),
        ...(req.headers.accept !== undefined ? { accept: req.headers.accept } : {}),
        dryRun,
        ...(fault ? { fault } : {}),
      });
    };
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}, fault?: RequestRecord['fault']): void => {
      record(status, fault);
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Cache-Control': 'no-cache, private',
        'Audit-Id': randomUUID(),
        ...headers,
      });
      res.end(text);
    };
    const sendError = (e: unknown): void => {
      if (e instanceof ApiError) {
        send(e.status.code ?? 500, e.status, e.headers);
        return;
      }
      const message = e instanceof Error ? e.message : String(e);
      send(500, failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ reason: '', message }] }));
    };

    const fault = faults.take(info);
    if (fault?.delayMs !== undefined) await sleep(fault.delayMs);
    const shaped = fault !== undefined && (fault.drop === true || fault.status !== undefined);
    if (shaped && fault && !fault.afterCommit) {
      if (fault.drop) {
        record(0, 'drop');
        req.socket.destroy();
        return;
      }
      const { status, headers } = faultStatus(fault, info);
      send(status.code ?? 500, status, headers, 'status');
      return;
    }

    const anonymous = opts.anonymousAuth === true && req.headers.authorization === undefined;
    if (!anonymous && req.headers.authorization !== `Bearer ${token}`) {
      send(401, failure(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (body.tooLarge) {
      send(413, failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${maxRequestBytes}`));
      return;
    }
    if (info.verb === 'watch' && t && !shaped) {
      try {
        registry.matcher(t, info.query);
      } catch (e) {
        sendError(e);
        return;
      }
      record(200, fault ? 'delay' : undefined);
      startWatch(info, t, res);
      return;
    }
    let outcome: Outcome | undefined;
    let error: unknown;
    try {
      outcome = dispatch(info, r, body, contentType, req);
    } catch (e) {
      error = e;
    }
    if (shaped && fault) {
      // afterCommit: the request took effect; the client is told otherwise.
      if (fault.drop) {
        record(0, 'drop');
        req.socket.destroy();
        return;
      }
      const { status, headers } = faultStatus(fault, info);
      send(status.code ?? 500, status, headers, 'status');
      return;
    }
    const faultTag = fault ? 'delay' : undefined;
    if (error !== undefined || !outcome) {
      if (error instanceof ApiError) send(error.status.code ?? 500, error.status, error.headers, faultTag);
      else sendError(error);
      return;
    }
    send(outcome.status, outcome.body, outcome.headers ?? {}, faultTag);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(failure(500, 'InternalError', `Internal error occurred: ${String(e)}`)));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('apiserver double: no TCP address');
  const url = `http://127.0.0.1:${address.port}`;

  const dir = mkdtempSync(join(tmpdir(), 'apiserver-double-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const contextNamespace = opts.contextNamespace ?? 'default';
  // client-node refuses plain http unless insecure-skip-tls-verify is set.
  writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: double',
      '  cluster:',
      `    server: ${url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: double',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: double',
      '  context:',
      '    cluster: double',
      '    user: double',
      `    namespace: ${contextNamespace}`,
      'current-context: double',
      '',
    ].join('\n'),
  );

  const helpers: StoreHelpers = {
    get(type, namespace, name) {
      const def = resources.lookup(type);
      const entry = store.get(def, def.namespaced ? namespace : '', name);
      return entry ? asKubeObject(store.render(def, entry)) : undefined;
    },
    list(type, namespace) {
      const def = resources.lookup(type);
      return store.entries(def, def.namespaced ? namespace : undefined).map((e) => asKubeObject(store.render(def, e)));
    },
    put(type, obj) {
      const def = resources.lookup(type);
      const copy: JsonObject = clone(obj);
      const meta = metaOf(copy);
      const name = metaString(copy, 'name');
      if (name === '') throw new Error('apiserver double: store.put needs metadata.name');
      const namespace = def.namespaced ? metaString(copy, 'namespace') || 'default' : '';
      if (def.namespaced) {
        meta['namespace'] = namespace;
        registry.ensureNamespace(def, namespace, false);
      } else delete meta['namespace'];
      const existing = store.get(def, namespace, name);
      meta['uid'] ??= existing ? metaString(existing.obj, 'uid') : randomUUID();
      meta['creationTimestamp'] ??= existing ? metaString(existing.obj, 'creationTimestamp') : registry.timestamp();
      if (def.generation) meta['generation'] ??= 1;
      return asKubeObject(store.write(def, { obj: copy, managers: existing?.managers ?? [] }));
    },
    patch(type, namespace, name, patch) {
      const def = resources.lookup(type);
      const ns = def.namespaced ? namespace : '';
      const existing = store.get(def, ns, name);
      if (!existing) throw new Error(`apiserver double: ${def.resource} ${ns}/${name} not found`);
      const patched = mergePatch(existing.obj, patch);
      if (!isObject(patched)) throw new Error('apiserver double: patch must produce an object');
      metaOf(patched)['name'] = name;
      if (def.namespaced) metaOf(patched)['namespace'] = ns;
      return asKubeObject(store.write(def, { obj: patched, managers: existing.managers }));
    },
    patchStatus(type, namespace, name, status) {
      return helpers.patch(type, namespace, name, { status });
    },
    delete(type, namespace, name) {
      const def = resources.lookup(type);
      return store.remove(def, def.namespaced ? namespace : '', name) !== undefined;
    },
    revision() {
      return store.currentRevision();
    },
  };

  let closed = false;
  return {
    url,
    kubeconfigPath,
    token,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    },
    connection() {
      return loadKubeConfig({ kubeconfig: kubeconfigPath });
    },
    requests,
    faults,
    store: helpers,
    resources,
    setPodLog(namespace, pod, text, container) {
      podLogs.set(container === undefined ? `${namespace}/${pod}` : `${namespace}/${pod}/${container}`, text);
    },
    namespaces() {
      return store.entries(resources.lookup('namespaces')).map((e) => metaString(e.obj, 'name'));
    },
    createNamespace(name) {
      return asKubeObject(registry.createNamespace(name));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of watches) w.end();
      watches.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
