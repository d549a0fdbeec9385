// The API-server double, exercised only through the real @kubernetes/client-node v2 client and a
// kubeconfig, so what passes here is what the Kubernetes adapters will meet. This file holds what
// only the double does (faults, request counts, objects put without validation, pod logs, CRDs);
// the Kubernetes semantics it shares with a real server are in test/support/apiserver-scenarios.ts,
// run against the double (test/adapters/apiserver-scenarios.test.ts) and a real cluster.

import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject, V1Job } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServerDouble } from '../support/apiserver-double.ts';
import type { ApiServerDouble } from '../support/apiserver-double.ts';
import { configMap, failureOf } from '../support/apiserver-scenarios.ts';

let api: ApiServerDouble;
let kc: KubeConfig;
let core: CoreV1Api;
let batch: BatchV1Api;
let custom: CustomObjectsApi;
let objects: KubernetesObjectApi;
let nsCounter = 0;

beforeAll(async () => {
  api = await startApiServerDouble();
  kc = api.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  batch = kc.makeApiClient(BatchV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  objects = KubernetesObjectApi.makeApiClient(kc);
});

afterAll(async () => {
  await api.close();
});

afterEach(() => {
  api.faults.clear();
});

/** A fresh namespace per test keeps tests independent on one shared server. */
function freshNamespace(): string {
  nsCounter += 1;
  return `t${nsCounter}`;
}

function job(name: string, labels: Record<string, string> = {}): V1Job {
  return {
    metadata: { name, labels },
    spec: {
      template: {
        spec: { restartPolicy: 'Never', containers: [{ name: 'run', image: 'busybox:1.36', command: ['true'] }] },
      },
    },
  };
}

describe('core verbs through CoreV1Api', () => {
  it('pages a list with limit and continue', async () => {
    const namespace = freshNamespace();
    for (const n of ['p1', 'p2', 'p3']) await core.createNamespacedConfigMap({ namespace, body: configMap(n, {}) });
    const first = await core.listNamespacedConfigMap({ namespace, limit: 2 });
    expect(first.items.map((i) => i.metadata?.name)).toEqual(['p1', 'p2']);
    expect(first.metadata?.remainingItemCount).toBe(1);
    const cont = first.metadata?._continue;
    expect(cont).toBeTruthy();
    const second = await core.listNamespacedConfigMap({ namespace, limit: 2, _continue: cont ?? '' });
    expect(second.items.map((i) => i.metadata?.name)).toEqual(['p3']);
    expect(second.metadata?._continue).toBeUndefined();
  });

  it('serves a continued page from the first page\'s snapshot, at its resourceVersion, and refuses a resourceVersion beside continue', async () => {
    const namespace = freshNamespace();
    for (const n of ['s1', 's2', 's3', 's4']) await core.createNamespacedConfigMap({ namespace, body: configMap(n, { v: '1' }) });
    const first = await core.listNamespacedConfigMap({ namespace, limit: 2 });
    const rv = first.metadata?.resourceVersion;
    // Written after the first page: etcd serves the rest of the list as it was.
    await core.deleteNamespacedConfigMap({ name: 's3', namespace });
    await core.createNamespacedConfigMap({ namespace, body: configMap('s5', {}) });
    await core.replaceNamespacedConfigMap({ name: 's4', namespace, body: { ...configMap('s4', { v: '2' }) } });
    const second = await core.listNamespacedConfigMap({ namespace, limit: 2, _continue: first.metadata?._continue ?? '' });
    expect(second.items.map((i) => [i.metadata?.name, i.data?.v])).toEqual([['s3', '1'], ['s4', '1']]);
    expect(second.metadata?.resourceVersion).toBe(rv);
    expect(second.metadata?._continue).toBeUndefined();
    const both = await failureOf(core.listNamespacedConfigMap({ namespace, limit: 2, _continue: first.metadata?._continue ?? '', resourceVersion: rv }));
    expect(both.code).toBe(400);
    // A fresh list sees the writes.
    expect((await core.listNamespacedConfigMap({ namespace })).items.map((i) => i.metadata?.name)).toEqual(['s1', 's2', 's4', 's5']);
  });

  it('answers a continue token older than its history with 410 Expired', async () => {
    const small = await startApiServerDouble({ historyLimit: 3 });
    try {
      const c = small.kubeConfig().makeApiClient(CoreV1Api);
      for (const n of ['e1', 'e2', 'e3']) await c.createNamespacedConfigMap({ namespace: 'x', body: configMap(n, {}) });
      const first = await c.listNamespacedConfigMap({ namespace: 'x', limit: 1 });
      for (const n of ['e4', 'e5', 'e6', 'e7']) await c.createNamespacedConfigMap({ namespace: 'y', body: configMap(n, {}) });
      const gone = await failureOf(c.listNamespacedConfigMap({ namespace: 'x', limit: 1, _continue: first.metadata?._continue ?? '' }));
      expect(gone.code).toBe(410);
      expect(gone.status.reason).toBe('Expired');
    } finally {
      await small.close();
    }
  });

  it('answers Accept: as=PartialObjectMetadataList with metadata alone, paged, and refuses what it cannot serve with 406', async () => {
    const namespace = freshNamespace();
    for (const n of ['m1', 'm2', 'm3']) {
      api.store.put('deployments', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: n, namespace, annotations: { a: n } }, spec: { replicas: 1 } });
    }
    const cluster = kc.getCurrentCluster()!;
    const get = async (path: string, accept?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${cluster.server}${path}`, { headers: { Authorization: `Bearer ${api.token}`, ...(accept ? { Accept: accept } : {}) } });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const meta = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
    const page = await get(`/apis/apps/v1/namespaces/${namespace}/deployments?limit=2`, meta);
    expect(page.status).toBe(200);
    expect(page.body.kind).toBe('PartialObjectMetadataList');
    expect(page.body.apiVersion).toBe('meta.k8s.io/v1');
    const items = page.body.items as Record<string, unknown>[];
    expect(items.map((i) => [i.kind, i.apiVersion, Object.keys(i).sort()])).toEqual([
      ['PartialObjectMetadata', 'meta.k8s.io/v1', ['apiVersion', 'kind', 'metadata']],
      ['PartialObjectMetadata', 'meta.k8s.io/v1', ['apiVersion', 'kind', 'metadata']],
    ]);
    expect((items[0]!.metadata as Record<string, unknown>).annotations).toEqual({ a: 'm1' });
    const listMeta = page.body.metadata as Record<string, unknown>;
    expect(listMeta.remainingItemCount).toBe(1);
    const rest = await get(`/apis/apps/v1/namespaces/${namespace}/deployments?limit=2&continue=${String(listMeta.continue)}`, meta);
    expect((rest.body.items as Record<string, unknown>[]).map((i) => (i.metadata as Record<string, unknown>).name)).toEqual(['m3']);
    // One object: as=PartialObjectMetadata.
    const one = await get(`/apis/apps/v1/namespaces/${namespace}/deployments/m2`, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
    expect([one.body.kind, Object.keys(one.body).sort()]).toEqual(['PartialObjectMetadata', ['apiVersion', 'kind', 'metadata']]);
    // The list form asked of one object, or only protobuf: 406; a plain JSON fallback takes the whole object.
    expect((await get(`/apis/apps/v1/namespaces/${namespace}/deployments/m2`, meta)).status).toBe(406);
    expect((await get(`/apis/apps/v1/namespaces/${namespace}/deployments`, 'application/vnd.kubernetes.protobuf')).status).toBe(406);
    const fallback = await get(`/apis/apps/v1/namespaces/${namespace}/deployments/m2`, `${meta}, application/json`);
    expect([fallback.body.kind, (fallback.body.spec as Record<string, unknown>).replicas]).toEqual(['Deployment', 1]);
    expect(api.requests.all().at(-1)?.accept).toBe(`${meta}, application/json`);
  });
});

describe('patches', () => {
  it('merge-patches when the content type is set with setHeaderOptions', async () => {
    const namespace = freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: configMap('m', { a: '1', b: '2' }, { keep: 'yes' }) });
    const patched = await core.patchNamespacedConfigMap(
      { name: 'm', namespace, body: { data: { b: null, c: '3' }, metadata: { labels: { added: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.data).toEqual({ a: '1', c: '3' });
    expect(patched.metadata?.labels).toEqual({ keep: 'yes', added: 'yes' });
    expect(api.requests.last({ verb: 'patch' })?.contentType).toBe('application/merge-patch+json');
  });

  it('re-applying an unchanged Job manifest is a no-op despite server defaults and generated labels', async () => {
    const namespace = freshNamespace();
    const manifest: V1Job = { apiVersion: 'batch/v1', kind: 'Job', ...job('applied'), metadata: { name: 'applied', namespace } };
    const first = await objects.patch(manifest, undefined, undefined, 'bf', true, PatchStrategy.ServerSideApply);
    const again = await objects.patch(manifest, undefined, undefined, 'bf', true, PatchStrategy.ServerSideApply);
    expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(again.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
  });

  it('refuses strategic merge patch on custom resources with 415, as CRDs do', async () => {
    const namespace = freshNamespace();
    await custom.createNamespacedCustomObject({
      group: 'tekton.dev',
      version: 'v1',
      namespace,
      plural: 'pipelineruns',
      body: { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'pr1' }, spec: {} },
    });
    const pr: KubernetesObject = { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name: 'pr1', namespace } };
    const err = await failureOf(objects.patch({ ...pr, metadata: { ...pr.metadata, labels: { a: 'b' } } }));
    expect(err.code).toBe(415);
    expect(err.status.reason).toBe('UnsupportedMediaType');
  });
});

describe('jobs, pods and garbage collection', () => {
  it('deletes a Job and, with Background propagation, its pods', async () => {
    const namespace = freshNamespace();
    const created = await batch.createNamespacedJob({ namespace, body: job('run-abc') });
    expect(created.metadata?.generation).toBe(1);
    expect(created.spec?.backoffLimit).toBe(6);
    api.store.put('pods', { metadata: { name: 'run-abc-x1', namespace, labels: { 'job-name': 'run-abc' } } });
    api.store.put('pods', { metadata: { name: 'unrelated', namespace, labels: { 'job-name': 'other' } } });

    const status = await batch.deleteNamespacedJob({ name: 'run-abc', namespace, propagationPolicy: 'Background' });
    expect(status).toMatchObject({ status: 'Success', details: { name: 'run-abc', group: 'batch', kind: 'jobs' } });
    expect(api.store.get('jobs', namespace, 'run-abc')).toBeUndefined();
    expect(api.store.list('pods', namespace).map((p) => p.metadata?.name)).toEqual(['unrelated']);
  });

  it('orphans a Job\'s pods when no propagation policy is given (the batch/v1 default) and warns', async () => {
    const namespace = freshNamespace();
    const created = await batch.createNamespacedJob({ namespace, body: job('orphaning') });
    api.store.put('pods', {
      metadata: {
        name: 'orphaning-x',
        namespace,
        labels: { 'job-name': 'orphaning' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'orphaning', uid: created.metadata?.uid }],
      },
    });
    const info = await batch.deleteNamespacedJobWithHttpInfo({ name: 'orphaning', namespace });
    expect(info.headers['warning']).toContain('child pods are preserved by default');
    const pod = api.store.get('pods', namespace, 'orphaning-x');
    expect(pod?.metadata?.['ownerReferences']).toBeUndefined();
  });

  it('keeps status on the /status subresource and bumps generation only for spec changes', async () => {
    const namespace = freshNamespace();
    const created = await batch.createNamespacedJob({ namespace, body: job('st') });
    api.store.patchStatus('jobs', namespace, 'st', { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] });
    const read = await batch.readNamespacedJob({ name: 'st', namespace });
    expect(read.status?.succeeded).toBe(1);
    expect(read.metadata?.generation).toBe(1);
    expect(Number(read.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));

    // A status change sent to the main resource is dropped, as on a real cluster.
    const labelled = await batch.patchNamespacedJob(
      { name: 'st', namespace, body: { metadata: { labels: { seen: 'yes' } }, status: { failed: 9 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(labelled.status?.failed).toBeUndefined();
    expect(labelled.metadata?.generation).toBe(1);

    const viaStatus = await batch.patchNamespacedJobStatus(
      { name: 'st', namespace, body: { status: { failed: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(viaStatus.status?.failed).toBe(2);

    const immutable = await failureOf(
      batch.patchNamespacedJob(
        { name: 'st', namespace, body: { spec: { template: { spec: { containers: [{ name: 'run', image: 'other' }] } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(immutable.code).toBe(422);
    expect(immutable.status.message).toContain('field is immutable');

    const suspended = await batch.patchNamespacedJob(
      { name: 'st', namespace, body: { spec: { suspend: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(suspended.metadata?.generation).toBe(2);
  });

  it('serves pod logs as text/plain', async () => {
    const namespace = freshNamespace();
    api.store.put('pods', {
      metadata: { name: 'runner', namespace },
      spec: { containers: [{ name: 'run', image: 'busybox' }] },
    });
    api.setPodLog(namespace, 'runner', 'line 1\nline 2\nline 3\n');
    const log = await core.readNamespacedPodLog({ name: 'runner', namespace });
    expect(log).toBe('line 1\nline 2\nline 3\n');
    expect(await core.readNamespacedPodLog({ name: 'runner', namespace, tailLines: 1 })).toBe('line 3\n');
    const missing = await failureOf(core.readNamespacedPodLog({ name: 'ghost', namespace }));
    expect(missing.code).toBe(404);
    expect(api.requests.last({ subresource: 'log' })).toMatchObject({ verb: 'get', resource: 'pods', status: 404 });
  });

  it('negotiates a pod log like any GET: text/plain alone is refused with 406, as the real server refuses it', async () => {
    const namespace = freshNamespace();
    await core.createNamespacedPod({ namespace, body: { metadata: { name: 'runner', namespace }, spec: { containers: [{ name: 'run', image: 'busybox' }] } } });
    api.setPodLog(namespace, 'runner', 'hello\n');
    const get = (accept: string) => fetch(`${api.url}/api/v1/namespaces/${namespace}/pods/runner/log`, { headers: { Accept: accept, Authorization: `Bearer ${api.token}` } });
    const refused = await get('text/plain');
    expect(refused.status).toBe(406);
    expect(((await refused.json()) as { reason: string }).reason).toBe('NotAcceptable');
    for (const accept of ['application/json, */*', '*/*', 'application/json']) {
      const r = await get(accept);
      expect(r.status, accept).toBe(200);
      expect(await r.text()).toBe('hello\n');
    }
  });

});

describe('custom objects and generic objects', () => {
  it('lists Tekton PipelineRuns by label selector through CustomObjectsApi', async () => {
    const namespace = freshNamespace();
    for (const [name, sha] of [
      ['pr-a', 'aaa'],
      ['pr-b', 'bbb'],
      ['pr-c', 'aaa'],
    ]) {
      await custom.createNamespacedCustomObject({
        group: 'tekton.dev',
        version: 'v1',
        namespace,
        plural: 'pipelineruns',
        body: {
          apiVersion: 'tekton.dev/v1',
          kind: 'PipelineRun',
          metadata: { name, labels: { 'branch-follower/id': 'f1', 'branch-follower/sha': sha } },
          spec: { pipelineRef: { name: 'deploy' } },
        },
      });
    }
    api.store.patchStatus('pipelineruns', namespace, 'pr-c', {
      conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded' }],
    });
    const list: unknown = await custom.listNamespacedCustomObject({
      group: 'tekton.dev',
      version: 'v1',
      namespace,
      plural: 'pipelineruns',
      labelSelector: 'branch-follower/id=f1,branch-follower/sha=aaa',
    });
    expect(list).toMatchObject({
      kind: 'PipelineRunList',
      apiVersion: 'tekton.dev/v1',
      items: [
        { kind: 'PipelineRun', metadata: { name: 'pr-a' } },
        { kind: 'PipelineRun', metadata: { name: 'pr-c' }, status: { conditions: [{ type: 'Succeeded', status: 'True' }] } },
      ],
    });
  });

  it('serves discovery so KubernetesObjectApi can read, list and delete any type', async () => {
    const namespace = freshNamespace();
    api.store.put('deployments', {
      metadata: { name: 'web', namespace, annotations: { 'example.com/sha': 'abc' } },
      spec: { replicas: 1 },
    });
    api.requests.reset();
    const fresh = KubernetesObjectApi.makeApiClient(kc);
    const read = await fresh.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace } });
    expect(read.metadata?.annotations?.['example.com/sha']).toBe('abc');
    const listed = await fresh.list('apps/v1', 'Deployment', namespace);
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(['web']);
    const byVerb = api.requests.byVerb();
    expect(byVerb.discovery).toBe(1);
    expect(byVerb.get).toBe(1);
    expect(byVerb.list).toBe(1);
    await fresh.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace } });
    expect(api.store.get('deployments', namespace, 'web')).toBeUndefined();
  });
});

describe('fault injection', () => {
  it('answers 429 with a Retry-After the client can see', async () => {
    const namespace = freshNamespace();
    api.faults.add({ match: { verb: 'list', resource: 'configmaps' }, respond: { status: 429, retryAfterSeconds: 3 } });
    const err = await failureOf(core.listNamespacedConfigMap({ namespace }));
    expect(err.code).toBe(429);
    expect(err.headers['retry-after']).toBe('3');
    expect(err.status).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 3 } });
    // Consumed: the next call goes through.
    await core.listNamespacedConfigMap({ namespace });
  });

  it('answers 500 and 503 in order, `times` each', async () => {
    const namespace = freshNamespace();
    api.faults.add({ match: { path: '/configmaps' }, times: 2, respond: { status: 500 } });
    api.faults.add({ match: { path: /configmaps$/ }, respond: { status: 503 } });
    expect((await failureOf(core.listNamespacedConfigMap({ namespace }))).status.reason).toBe('InternalError');
    expect((await failureOf(core.listNamespacedConfigMap({ namespace }))).code).toBe(500);
    const unavailable = await failureOf(core.listNamespacedConfigMap({ namespace }));
    expect(unavailable.code).toBe(503);
    expect(unavailable.status.reason).toBe('ServiceUnavailable');
    expect(api.faults.pending()).toBe(0);
    await core.listNamespacedConfigMap({ namespace });
  });

  it('delays a request and then serves it', async () => {
    const namespace = freshNamespace();
    api.faults.add({ match: { verb: 'create' }, respond: { delayMs: 150 } });
    const start = Date.now();
    await core.createNamespacedConfigMap({ namespace, body: configMap('slow', {}) });
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
    expect(api.requests.last({ verb: 'create' })).toMatchObject({ status: 201, fault: 'delay' });
  });

  it('drops the connection without an answer; the client rejects with a fetch error, not ApiException', async () => {
    const namespace = freshNamespace();
    api.faults.add({ match: { verb: 'get' }, respond: { drop: true } });
    const err: unknown = await core.readNamespacedConfigMap({ name: 'x', namespace }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ApiException);
    expect(api.requests.last({ verb: 'get' })).toMatchObject({ status: 0, fault: 'drop' });
  });

  it('can fail a write after committing it, so a retried create meets AlreadyExists', async () => {
    const namespace = freshNamespace();
    api.faults.add({ match: { verb: 'create', resource: 'jobs' }, respond: { drop: true, afterCommit: true } });
    const lost: unknown = await batch.createNamespacedJob({ namespace, body: job('once') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(lost).toBeInstanceOf(Error);
    expect(api.store.get('jobs', namespace, 'once')).toBeDefined();
    const retry = await failureOf(batch.createNamespacedJob({ namespace, body: job('once') }));
    expect(retry.status.reason).toBe('AlreadyExists');
  });

  it('does not retry on its own: one failing call is one request', async () => {
    const namespace = freshNamespace();
    api.requests.reset();
    api.faults.add({ match: { verb: 'list' }, times: 5, respond: { status: 503 } });
    await failureOf(core.listNamespacedConfigMap({ namespace }));
    expect(api.requests.count({ verb: 'list' })).toBe(1);
  });
});

describe('request counting', () => {
  it('records verb, resource, namespace, name and status of every request', async () => {
    const namespace = freshNamespace();
    api.requests.reset();
    await core.createNamespacedConfigMap({ namespace, body: configMap('c1', {}) });
    await core.readNamespacedConfigMap({ name: 'c1', namespace });
    await core.listNamespacedConfigMap({ namespace });
    await core.patchNamespacedConfigMap(
      { name: 'c1', namespace, body: { data: { a: 'b' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const c1 = await core.readNamespacedConfigMap({ name: 'c1', namespace });
    await core.replaceNamespacedConfigMap({ name: 'c1', namespace, body: c1 });
    await core.deleteNamespacedConfigMap({ name: 'c1', namespace });
    await failureOf(core.readNamespacedConfigMap({ name: 'c1', namespace }));

    expect(api.requests.byVerb()).toEqual({ create: 1, get: 3, list: 1, patch: 1, update: 1, delete: 1 });
    expect(api.requests.writes()).toBe(4);
    expect(api.requests.count({ status: 404 })).toBe(1);
    expect(api.requests.count({ resource: 'configmaps', namespace, name: 'c1' })).toBe(7);
    expect(api.requests.all()[0]).toMatchObject({
      verb: 'create',
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      resource: 'configmaps',
      namespace,
      status: 201,
    });
    api.requests.reset();
    expect(api.requests.count()).toBe(0);
  });

  it('counts dry-run writes as writes but stores nothing', async () => {
    const namespace = freshNamespace();
    api.requests.reset();
    const preview = await core.createNamespacedConfigMap({ namespace, body: configMap('dry', { a: '1' }), dryRun: 'All' });
    expect(preview.metadata?.name).toBe('dry');
    expect(api.store.get('configmaps', namespace, 'dry')).toBeUndefined();
    expect(api.requests.writes()).toBe(1);
    expect(api.requests.last()?.dryRun).toBe(true);
  });
});

describe('namespaces, auth, watch and store helpers', () => {
  it('keeps namespaces as objects and can be strict about them', async () => {
    const created = await core.createNamespace({ body: { metadata: { name: 'made-by-test' } } });
    expect(created.status?.phase).toBe('Active');
    expect(api.namespaces()).toEqual(expect.arrayContaining(['default', 'kube-system', 'made-by-test']));
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('made-by-test');

    const strict = await startApiServerDouble({ strictNamespaces: true });
    try {
      const strictCore = strict.kubeConfig().makeApiClient(CoreV1Api);
      const err = await failureOf(strictCore.createNamespacedConfigMap({ namespace: 'absent', body: configMap('x', {}) }));
      expect(err.code).toBe(404);
      expect(err.status.message).toBe('namespaces "absent" not found');
    } finally {
      await strict.close();
    }
  });

  it('deleting a namespace deletes what is in it', async () => {
    const namespace = freshNamespace();
    await core.createNamespacedConfigMap({ namespace, body: configMap('inside', {}) });
    // The real server answers with the Namespace (phase Terminating), which the generated
    // client, typed for V1Status, deserializes loosely; only the effect is asserted.
    await core.deleteNamespace({ name: namespace });
    expect(api.store.get('configmaps', namespace, 'inside')).toBeUndefined();
    expect(api.namespaces()).not.toContain(namespace);
  });

  it('demands the kubeconfig token', async () => {
    const wrong = api.kubeConfig();
    const user = wrong.getCurrentUser();
    if (!user) throw new Error('no user');
    wrong.users = [{ ...user, token: 'not-the-token' }];
    const err: unknown = await wrong
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // 401 is the one code the generated client reports without the response body.
    expect(err).toBeInstanceOf(ApiException);
    expect(err instanceof ApiException ? err.code : 0).toBe(401);
    expect(api.requests.last()?.status).toBe(401);
  });

  it('serves requests without credentials only when anonymousAuth is on, and never a wrong token', async () => {
    const anon = await startApiServerDouble({ anonymousAuth: true });
    try {
      const bare = async (server: ApiServerDouble, headers: Record<string, string>): Promise<number> =>
        (await fetch(`${server.url}/api/v1/namespaces/default/configmaps`, { headers })).status;
      expect(await bare(api, {})).toBe(401);
      expect(await bare(anon, {})).toBe(200);
      expect(await bare(anon, { authorization: 'Bearer not-the-token' })).toBe(401);
      expect(await bare(anon, { authorization: `Bearer ${anon.token}` })).toBe(200);
    } finally {
      await anon.close();
    }
  });

  it('put bypasses validation, bumps resourceVersion, and is visible to the client', async () => {
    const namespace = freshNamespace();
    api.createNamespace(namespace);
    const before = api.store.revision();
    const put = api.store.put('ConfigMap', { metadata: { name: 'Not_Valid', namespace }, data: { 'bad key': 'ok' } });
    expect(Number(put.metadata?.resourceVersion)).toBe(before + 1);
    const read = await core.readNamespacedConfigMap({ name: 'Not_Valid', namespace });
    expect(read.data).toEqual({ 'bad key': 'ok' });
    expect(api.store.delete('configmaps', namespace, 'Not_Valid')).toBe(true);
  });
});
