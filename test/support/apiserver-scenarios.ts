// The Kubernetes semantics the adapters rely on, written once and run against two servers: the
// API-server double (test/adapters/apiserver-scenarios.test.ts, in `npm test`) and the real
// kube-apiserver KUBECONFIG names (test/cluster/apiserver-scenarios.test.ts, in the cluster
// suite). Where the real server answers differently, the double is what gets fixed. Only the
// real @kubernetes/client-node v2 client talks to the server here, so nothing reaches into the
// double's store: what the double alone can do (faults, request counts, putting objects
// without validation) stays in test/adapters/apiserver-double.test.ts.

import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { CoreV1Event, KubeConfig, KubernetesObject, V1ConfigMap, V1Job } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { CRONJOB_API_VERSIONS, servedCronJobVersion } from '../../src/adapters/kubernetes/apply.ts';
import type { Status } from './apiserver-status.ts';
import type { KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';

export type ScenarioServer = {
  /** Which server answers: the double or a real kube-apiserver. */
  readonly kind: 'double' | 'real';
  readonly kc: KubeConfig;
  /** The driver's own connection to the same server (loadKubeConfig). */
  readonly conn: KubeConnection;
  /** Creates a namespace of its own for one test, through the API, and returns its name. */
  namespace(): Promise<string>;
};

export interface CaughtError {
  code: number;
  status: Status;
  headers: Record<string, string>;
}

const isStatus = (value: unknown): value is Status =>
  typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'Status';

/** client-node v2 rejects with ApiException whose body is the raw response text. */
export const failureOf = async (promise: Promise<unknown>): Promise<CaughtError> => {
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const parsed: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    if (!isStatus(parsed)) throw new Error(`not a Status body: ${String(e.body)}`);
    return { code: e.code, status: parsed, headers: e.headers };
  }
  throw new Error('expected the call to fail');
};

export const configMap = (name: string, data: Record<string, string>, labels?: Record<string, string>): V1ConfigMap => ({
  metadata: { name, ...(labels ? { labels } : {}) },
  data,
});

/** A Job no pod is ever made for (parallelism 0), so a real job controller leaves it alone. */
export const idleJob = (name: string, labels: Record<string, string> = {}): V1Job => ({
  metadata: { name, labels },
  spec: {
    parallelism: 0,
    template: {
      spec: { restartPolicy: 'Never', containers: [{ name: 'run', image: 'busybox:1.36', command: ['true'] }] },
    },
  },
});

/** An object as applied: any fields beside apiVersion, kind and metadata. */
type Manifest = KubernetesObject & { [field: string]: unknown };

/** A Deployment no pod is ever made for (replicas 0). */
const idleDeployment = (name: string, namespace: string, container: Record<string, unknown> = {}): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'busybox:1.36', ...container }] } },
  },
});

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export const defineApiServerScenarios = (server: () => ScenarioServer): void => {
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let objects: KubernetesObjectApi;
  const ns = (): Promise<string> => server().namespace();
  /** Server-side apply; T names what the test reads back from the answer. */
  const apply = async <T extends KubernetesObject = Manifest>(obj: Manifest, manager: string, force = true): Promise<T> =>
    (await objects.patch(obj, undefined, undefined, manager, force, PatchStrategy.ServerSideApply)) as unknown as T;

  beforeAll(() => {
    const { kc } = server();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    objects = KubernetesObjectApi.makeApiClient(kc);
  });

  describe('core verbs', () => {
    it('creates and reads a ConfigMap with server-set metadata', async () => {
      const namespace = await ns();
      const created = await core.createNamespacedConfigMap({ namespace, body: configMap('state-a', { phase: 'Noop' }) });
      expect(created.metadata?.namespace).toBe(namespace);
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
      expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(created.kind).toBe('ConfigMap');
      expect(created.apiVersion).toBe('v1');
      const read = await core.readNamespacedConfigMap({ name: 'state-a', namespace });
      expect(read.data).toEqual({ phase: 'Noop' });
      expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    });

    it('lists by label selector (=, ==, !=, in, notin, exists, !exists) and field selector', async () => {
      const namespace = await ns();
      const specs: [string, Record<string, string>][] = [
        ['a', { app: 'bf', tier: 'x' }],
        ['b', { app: 'bf', tier: 'y', paused: 'true' }],
        ['c', { app: 'other', tier: 'x' }],
        ['d', {}],
      ];
      for (const [name, labels] of specs) await core.createNamespacedConfigMap({ namespace, body: configMap(name, {}, labels) });
      const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> => {
        const list = await core.listNamespacedConfigMap({
          namespace,
          ...(labelSelector !== undefined ? { labelSelector } : {}),
          ...(fieldSelector !== undefined ? { fieldSelector } : {}),
        });
        // A real namespace also holds kube-root-ca.crt (from 1.20 on): only the test's own count.
        return list.items.map((i) => i.metadata?.name ?? '').filter((n) => n.length === 1);
      };
      expect(await names()).toEqual(['a', 'b', 'c', 'd']);
      expect(await names('app=bf')).toEqual(['a', 'b']);
      expect(await names('app==bf,tier=x')).toEqual(['a']);
      expect(await names('app!=bf')).toEqual(['c', 'd']);
      expect(await names('tier in (x, z)')).toEqual(['a', 'c']);
      expect(await names('tier notin (x)')).toEqual(['b', 'd']);
      expect(await names('paused')).toEqual(['b']);
      expect(await names('app,!paused')).toEqual(['a', 'c']);
      expect(await names(undefined, 'metadata.name=c')).toEqual(['c']);
      expect(await names('app=bf', 'metadata.name!=a')).toEqual(['b']);
      const list = await core.listNamespacedConfigMap({ namespace });
      expect(list.kind).toBe('ConfigMapList');
      expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);
      expect((await failureOf(core.listNamespacedConfigMap({ namespace, labelSelector: 'a in b' }))).code).toBe(400);
    });

    it('pages a list with limit and continue', async () => {
      const namespace = await ns();
      for (const n of ['p1', 'p2', 'p3']) await core.createNamespacedConfigMap({ namespace, body: configMap(n, {}, { page: 'yes' }) });
      const first = await core.listNamespacedConfigMap({ namespace, labelSelector: 'page', limit: 2 });
      expect(first.items.map((i) => i.metadata?.name)).toEqual(['p1', 'p2']);
      const cont = first.metadata?._continue;
      expect(cont).toBeTruthy();
      const second = await core.listNamespacedConfigMap({ namespace, labelSelector: 'page', limit: 2, _continue: cont ?? '' });
      expect(second.items.map((i) => i.metadata?.name)).toEqual(['p3']);
      expect(second.metadata?._continue).toBeUndefined();
    });

    it('replaces with resourceVersion compare-and-swap: stale writes get 409 Conflict', async () => {
      const namespace = await ns();
      const created = await core.createNamespacedConfigMap({ namespace, body: configMap('cas', { n: '1' }) });
      const winner = await core.replaceNamespacedConfigMap({ name: 'cas', namespace, body: { ...created, data: { n: '2' } } });
      expect(Number(winner.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
      const loser = await failureOf(core.replaceNamespacedConfigMap({ name: 'cas', namespace, body: { ...created, data: { n: '3' } } }));
      expect(loser.code).toBe(409);
      expect(loser.status.reason).toBe('Conflict');
      expect(loser.status.message).toBe(
        'Operation cannot be fulfilled on configmaps "cas": the object has been modified; please apply your changes to the latest version and try again',
      );
      expect(loser.status.details).toEqual({ name: 'cas', kind: 'configmaps' });
      expect((await core.readNamespacedConfigMap({ name: 'cas', namespace })).data).toEqual({ n: '2' });
    });

    it('does not bump resourceVersion for an update that changes nothing', async () => {
      const namespace = await ns();
      const created = await core.createNamespacedConfigMap({ namespace, body: configMap('same', { k: 'v' }) });
      const again = await core.replaceNamespacedConfigMap({ name: 'same', namespace, body: created });
      expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    });

    it('answers AlreadyExists and NotFound with the real messages and details', async () => {
      const namespace = await ns();
      await core.createNamespacedConfigMap({ namespace, body: configMap('dup', {}) });
      const dup = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('dup', {}) }));
      expect(dup.code).toBe(409);
      expect(dup.status.reason).toBe('AlreadyExists');
      expect(dup.status.message).toBe('configmaps "dup" already exists');
      expect(dup.status.details).toEqual({ name: 'dup', kind: 'configmaps' });

      await batch.createNamespacedJob({ namespace, body: idleJob('dispatch-1') });
      const jobDup = await failureOf(batch.createNamespacedJob({ namespace, body: idleJob('dispatch-1') }));
      expect(jobDup.status.reason).toBe('AlreadyExists');
      expect(jobDup.status.message).toBe('jobs.batch "dispatch-1" already exists');
      expect(jobDup.status.details).toEqual({ name: 'dispatch-1', group: 'batch', kind: 'jobs' });

      const missing = await failureOf(core.readNamespacedConfigMap({ name: 'nope', namespace }));
      expect(missing.code).toBe(404);
      expect(missing.status).toMatchObject({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'NotFound',
        message: 'configmaps "nope" not found',
        details: { name: 'nope', kind: 'configmaps' },
        code: 404,
      });
      expect((await failureOf(batch.deleteNamespacedJob({ name: 'nope', namespace }))).status.message).toBe('jobs.batch "nope" not found');
    });

    it('rejects a create that carries a resourceVersion, as etcd storage does', async () => {
      const namespace = await ns();
      const err = await failureOf(core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'rv', resourceVersion: '5' } } }));
      expect(err.code).toBe(500);
      expect(err.status.message).toBe('resourceVersion should not be set on objects to be created');
    });

    it('generates names from generateName', async () => {
      const namespace = await ns();
      const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { generateName: 'run-' } } });
      expect(created.metadata?.name).toMatch(/^run-[a-z0-9]{5}$/);
    });

    it('answers 404 for a namespace that does not exist', async () => {
      const err = await failureOf(core.createNamespacedConfigMap({ namespace: 'bf-ci-absent-namespace', body: configMap('x', {}) }));
      expect(err.code).toBe(404);
      expect(err.status.message).toBe('namespaces "bf-ci-absent-namespace" not found');
    });
  });

  describe('validation (422 Invalid)', () => {
    it('rejects names that are not DNS-1123 subdomains', async () => {
      const namespace = await ns();
      const err = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('Bad_Name', {}) }));
      expect(err.code).toBe(422);
      expect(err.status.reason).toBe('Invalid');
      expect(err.status.message).toMatch(/^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
      expect(err.status.details?.causes?.[0]).toMatchObject({ reason: 'FieldValueInvalid', field: 'metadata.name' });
      const long = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('a'.repeat(254), {}) }));
      expect(long.status.details?.causes?.[0]?.message).toContain('must be no more than 253 characters');
    });

    it('limits Job names to 63 characters (the job-name label) and namespaces to DNS-1123 labels', async () => {
      const namespace = await ns();
      const ok = await batch.createNamespacedJob({ namespace, body: idleJob('j'.repeat(63)) });
      expect(ok.spec?.template.metadata?.labels?.['job-name']).toBe('j'.repeat(63));
      const err = await failureOf(batch.createNamespacedJob({ namespace, body: idleJob('j'.repeat(64)) }));
      expect(err.code).toBe(422);
      expect(err.status.message).toContain('Job.batch "' + 'j'.repeat(64) + '" is invalid');
      expect(err.status.message).toContain('must be no more than 63 characters');
      expect(err.status.details).toMatchObject({ group: 'batch', kind: 'Job' });
      const nsErr = await failureOf(core.createNamespace({ body: { metadata: { name: 'has.dot' } } }));
      expect(nsErr.code).toBe(422);
      expect(nsErr.status.message).toContain('a lowercase RFC 1123 label');
    });

    it('rejects a Job pod template without restartPolicy OnFailure or Never', async () => {
      const namespace = await ns();
      const body = idleJob('no-policy');
      delete body.spec?.template.spec?.restartPolicy;
      const err = await failureOf(batch.createNamespacedJob({ namespace, body }));
      expect(err.code).toBe(422);
      // 1.20 says `Required value: valid values: ...`; current servers default the template to
      // Always first and say `Unsupported value: "Always": supported values: ...`.
      expect(err.status.message).toMatch(/^Job\.batch "no-policy" is invalid: spec\.template\.spec\.restartPolicy: .*"OnFailure", "Never"/);
    });

    it('validates label keys and values', async () => {
      const namespace = await ns();
      const err = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('labels', {}, { 'bad key': 'v', ok: 'x'.repeat(64) }) }));
      expect(err.code).toBe(422);
      expect(err.status.details?.causes?.map((c) => c.field)).toEqual(['metadata.labels', 'metadata.labels']);
      expect(err.status.message).toContain('must be no more than 63 characters');
    });

    it('validates ConfigMap keys and the 1 MiB data limit', async () => {
      const namespace = await ns();
      const badKey = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('k', { 'bad key': 'v' }) }));
      expect(badKey.code).toBe(422);
      expect(badKey.status.details?.causes?.[0]).toMatchObject({ field: 'data[bad key]' });
      expect(badKey.status.message).toContain('a valid config key must consist of alphanumeric characters');
      // Only the values count toward the limit, not the keys.
      const justFits = 'x'.repeat(1048576);
      await core.createNamespacedConfigMap({ namespace, body: configMap('fits', { big: justFits }) });
      const tooBig = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('too-big', { big: `${justFits}x` }) }));
      expect(tooBig.code).toBe(422);
      expect(tooBig.status.message).toBe('ConfigMap "too-big" is invalid: []: Too long: must have at most 1048576 bytes');
      expect(tooBig.status.details?.causes?.[0]).toMatchObject({ reason: 'FieldValueTooLong' });
    });

    it('answers 413 for a request body over 3 MiB', async () => {
      const namespace = await ns();
      const err = await failureOf(core.createNamespacedConfigMap({ namespace, body: configMap('huge', { a: 'x'.repeat(3 * 1024 * 1024) }) }));
      expect(err.code).toBe(413);
      expect(err.status.reason).toBe('RequestEntityTooLarge');
    });
  });

  describe('patches and server-side apply', () => {
    it('merge-patches, and takes a resourceVersion inside the patch as a precondition', async () => {
      const namespace = await ns();
      const created = await core.createNamespacedConfigMap({ namespace, body: configMap('m', { a: '1', b: '2' }, { keep: 'yes' }) });
      const patched = await core.patchNamespacedConfigMap(
        { name: 'm', namespace, body: { data: { b: null, c: '3' }, metadata: { labels: { added: 'yes' } } } },
        merge,
      );
      expect(patched.data).toEqual({ a: '1', c: '3' });
      expect(patched.metadata?.labels).toEqual({ keep: 'yes', added: 'yes' });
      const stale = await failureOf(
        core.patchNamespacedConfigMap({ name: 'm', namespace, body: { metadata: { resourceVersion: created.metadata?.resourceVersion }, data: { a: '3' } } }, merge),
      );
      expect(stale.code).toBe(409);
      expect(stale.status.reason).toBe('Conflict');
    });

    it('applies JSON patches, which is what the generated client sends by default', async () => {
      const namespace = await ns();
      await core.createNamespacedConfigMap({ namespace, body: configMap('jp', { a: '1' }) });
      const patched = await core.patchNamespacedConfigMap({
        name: 'jp',
        namespace,
        body: [
          { op: 'test', path: '/data/a', value: '1' },
          { op: 'add', path: '/data/b', value: '2' },
        ],
      });
      expect(patched.data).toEqual({ a: '1', b: '2' });
      const failed = await failureOf(core.patchNamespacedConfigMap({ name: 'jp', namespace, body: [{ op: 'test', path: '/data/a', value: 'zzz' }] }));
      expect(failed.code).toBe(422);
    });

    it('creates and then updates with server-side apply, removing fields the manager stopped setting', async () => {
      const namespace = await ns();
      const applied = await apply<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace }, data: { a: '1', b: '2' } }, 'branch-follower');
      expect(applied.metadata?.resourceVersion).toBeTruthy();
      const updated = await apply<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace }, data: { a: '1', c: '3' } }, 'branch-follower');
      expect(updated.data).toEqual({ a: '1', c: '3' });
      expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(applied.metadata?.resourceVersion));
      const read = await core.readNamespacedConfigMap({ name: 'ssa', namespace });
      expect(read.data).toEqual({ a: '1', c: '3' });
      expect(read.metadata?.managedFields).toEqual([expect.objectContaining({ manager: 'branch-follower', operation: 'Apply' })]);
    });

    it('reports an apply conflict with another manager unless forced', async () => {
      const namespace = await ns();
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owned', namespace }, data: { k: 'mine' } };
      await apply(cm, 'first', false);
      const theirs = { ...cm, data: { k: 'theirs' } };
      const err = await failureOf(apply(theirs, 'second', false));
      expect(err.code).toBe(409);
      expect(err.status.message).toBe('Apply failed with 1 conflict: conflict with "first": .data.k');
      expect(await apply(theirs, 'second', true)).toMatchObject({ data: { k: 'theirs' } });
    });

    it('fields written by a plain create belong to the creating client, so a later apply conflicts', async () => {
      const namespace = await ns();
      await core.createNamespacedConfigMap({ namespace, body: configMap('created', { k: 'v1' }) });
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'created', namespace }, data: { k: 'v2' } };
      const err = await failureOf(apply(cm, 'bf', false));
      expect(err.status.message).toBe('Apply failed with 1 conflict: conflict with "kubernetes-client-javascript" using v1: .data.k');
    });

    it('re-applying an unchanged manifest changes no spec despite server defaults', async () => {
      const namespace = await ns();
      const manifest = idleDeployment('applied', namespace);
      type Applied = typeof manifest & { spec: { template: { spec: { containers: { imagePullPolicy?: string }[] } } } };
      const first = await apply<Applied>(manifest, 'bf');
      // (A real deployment controller writes status meanwhile, so resourceVersion may move.)
      const again = await apply<Applied>(manifest, 'bf');
      expect(again.metadata?.generation).toBe(1);
      expect(first.metadata?.generation).toBe(1);
      expect(again.spec.template.spec.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
    });

    it('applies a container port without protocol (its key has a default), but not a Service port (1.20 answers 500)', async () => {
      const namespace = await ns();
      const deployment = idleDeployment('ports', namespace, { ports: [{ containerPort: 8080 }] });
      await apply(deployment, 'bf');
      await apply(deployment, 'bf');
      const service = (ports: object[]): Manifest => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'ports', namespace },
        spec: { selector: { app: 'ports' }, ports },
      });
      const err = await failureOf(apply(service([{ port: 80, targetPort: 8080 }]), 'bf'));
      expect(err.code).toBe(500);
      expect(err.status.message).toBe(
        'failed to create typed patch object: .spec.ports: element 0: associative list with keys has an element that omits key field "protocol" (and doesn\'t have default value)',
      );
      expect((await failureOf(core.readNamespacedService({ name: 'ports', namespace }))).code).toBe(404);
      // With the protocol named, the same apply creates it, and applies again.
      const named = service([{ port: 80, targetPort: 8080, protocol: 'TCP' }]);
      expect((await apply(named, 'bf')).metadata?.name).toBe('ports');
      await apply(named, 'bf');
    });
  });

  describe('jobs, finalizers and deletion', () => {
    it('defaults a Job and refuses changes to its pod template', async () => {
      const namespace = await ns();
      const created = await batch.createNamespacedJob({ namespace, body: idleJob('st') });
      // (No metadata.generation assertion: 1.20 gives Jobs none, current servers 1.)
      expect(created.spec?.backoffLimit).toBe(6);
      // Completions default to 1 only when parallelism is unset too.
      expect(created.spec?.completions).toBeUndefined();
      expect(created.spec?.parallelism).toBe(0);
      expect((await batch.createNamespacedJob({ namespace, body: { ...idleJob('plain'), spec: { template: idleJob('plain').spec?.template ?? {} } } })).spec?.completions).toBe(1);
      expect(created.spec?.template.metadata?.labels?.['job-name']).toBe('st');
      expect(created.spec?.template.metadata?.labels?.['controller-uid']).toBe(created.metadata?.uid);
      const immutable = await failureOf(
        batch.patchNamespacedJob({ name: 'st', namespace, body: { spec: { template: { spec: { containers: [{ name: 'run', image: 'other' }] } } } } }, merge),
      );
      expect(immutable.code).toBe(422);
      expect(immutable.status.message).toContain('field is immutable');
      // A status sent to the main resource is dropped.
      const labelled = await batch.patchNamespacedJob({ name: 'st', namespace, body: { metadata: { labels: { seen: 'yes' } }, status: { failed: 9 } } }, merge);
      expect(labelled.status?.failed).toBeUndefined();
      expect(labelled.metadata?.labels?.['seen']).toBe('yes');
    });

    it('deletes a Job with Background propagation and answers a Success Status', async () => {
      const namespace = await ns();
      await batch.createNamespacedJob({ namespace, body: idleJob('run-abc') });
      const status = await batch.deleteNamespacedJob({ name: 'run-abc', namespace, propagationPolicy: 'Background' });
      expect(status).toMatchObject({ status: 'Success', details: { name: 'run-abc', group: 'batch', kind: 'jobs' } });
      expect((await failureOf(batch.readNamespacedJob({ name: 'run-abc', namespace }))).code).toBe(404);
    });

    it('holds an object with finalizers until the last one is removed', async () => {
      const namespace = await ns();
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
      await core.deleteNamespacedConfigMap({ name: 'held', namespace });
      const held = await core.readNamespacedConfigMap({ name: 'held', namespace });
      expect(held.metadata?.deletionTimestamp).toBeInstanceOf(Date);
      await core.patchNamespacedConfigMap({ name: 'held', namespace, body: { metadata: { finalizers: null } } }, merge);
      expect((await failureOf(core.readNamespacedConfigMap({ name: 'held', namespace }))).code).toBe(404);
    });
  });

  describe('discovery, CronJob versions, Events and watches', () => {
    it('serves discovery so KubernetesObjectApi can create, read, list and delete any type', async () => {
      const namespace = await ns();
      const fresh = KubernetesObjectApi.makeApiClient(server().kc);
      const web = idleDeployment('web', namespace);
      await fresh.create({ ...web, metadata: { ...web.metadata, annotations: { 'example.com/sha': 'abc' } } });
      const read = await fresh.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace } });
      expect(read.metadata?.annotations?.['example.com/sha']).toBe('abc');
      expect((await fresh.list('apps/v1', 'Deployment', namespace)).items.map((i) => i.metadata?.name)).toEqual(['web']);
      await fresh.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace } });
      await expect(fresh.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace } })).rejects.toBeInstanceOf(ApiException);
    });

    it('serves CronJob in the version discovery names, and a version it does not name cannot be used', async () => {
      const namespace = await ns();
      const served = await servedCronJobVersion(server().conn);
      const fresh = KubernetesObjectApi.makeApiClient(server().kc);
      const cronJob = {
        apiVersion: served,
        kind: 'CronJob',
        metadata: { name: 'tick', namespace },
        spec: {
          schedule: '*/5 * * * *',
          suspend: true,
          jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'run', image: 'busybox:1.36' }] } } } },
        },
      };
      const first = await apply(cronJob, 'bf');
      expect(first.apiVersion).toBe(served);
      // Re-applied unchanged despite the defaults in its job template: nothing is written.
      expect((await apply(cronJob, 'bf')).metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
      const listed = await fresh.list(served, 'CronJob', namespace);
      expect(listed.items.map((i) => i.metadata?.name)).toEqual(['tick']);
      for (const other of CRONJOB_API_VERSIONS.filter((v) => v !== served)) {
        // Served too (1.21-1.24 serve both): nothing more to check.
        if (await fresh.list(other, 'CronJob', namespace).then(() => true, () => false)) continue;
        // This is how `apply` failed on a 1.20 server before it asked discovery (issue 11).
        await expect(fresh.read({ ...cronJob, apiVersion: other })).rejects.toThrow(/Unrecognized API version and kind|404/);
      }
    });

    it('stores core/v1 Events as the event sink writes them; a second create of the name is AlreadyExists', async () => {
      const namespace = await ns();
      const at = new Date('2026-01-02T03:04:05Z');
      const event = (name: string, on: string): CoreV1Event => ({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'branch-follower', follower: on }, annotations: { 'example.dev/to': 'Running' } },
        involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: on, namespace },
        reason: 'Running',
        message: 'dispatched',
        type: 'Normal',
        source: { component: 'branch-follower' },
        reportingComponent: 'branch-follower',
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      });
      const created = await core.createNamespacedEvent({ namespace, body: event('state-a.1', 'state-a') });
      expect(created.firstTimestamp?.toISOString()).toBe(at.toISOString());
      await core.createNamespacedEvent({ namespace, body: event('state-b.1', 'state-b') });
      const dup = await failureOf(core.createNamespacedEvent({ namespace, body: event('state-a.1', 'state-a') }));
      expect(dup.status.reason).toBe('AlreadyExists');
      expect(dup.status.message).toBe('events "state-a.1" already exists');
      const byLabel = await core.listNamespacedEvent({ namespace, labelSelector: 'follower=state-b' });
      expect(byLabel.items.map((e) => [e.metadata?.name, e.reason, e.metadata?.annotations?.['example.dev/to']])).toEqual([['state-b.1', 'Running', 'Running']]);
      const byField = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=ConfigMap,involvedObject.name=state-a' });
      expect(byField.items.map((e) => e.metadata?.name)).toEqual(['state-a.1']);
      const wrongNamespace = await failureOf(
        core.createNamespacedEvent({ namespace, body: { ...event('state-c.1', 'state-c'), involvedObject: { kind: 'ConfigMap', name: 'state-c', namespace: 'elsewhere' } } }),
      );
      expect(wrongNamespace.code).toBe(422);
      expect(wrongNamespace.status.message).toContain('involvedObject.namespace');
    });

    it('streams watch events for changes after a resourceVersion', async () => {
      const namespace = await ns();
      const first = await core.createNamespacedConfigMap({ namespace, body: configMap('w1', {}, { app: 'bf' }) });
      const events: string[] = [];
      let started: () => void = () => {};
      const watching = new Promise<void>((r) => (started = r));
      const done = new Promise<void>((resolve) => {
        void new Watch(server().kc)
          .watch(
            `/api/v1/namespaces/${namespace}/configmaps`,
            { resourceVersion: first.metadata?.resourceVersion, labelSelector: 'app=bf' },
            (type, obj: KubernetesObject) => {
              events.push(`${type} ${obj.metadata?.name ?? ''}`);
              if (events.length === 3) resolve();
            },
            () => resolve(),
          )
          .then((controller) => {
            started();
            void done.then(() => controller.abort());
          });
      });
      await watching;
      await core.createNamespacedConfigMap({ namespace, body: configMap('w2', {}, { app: 'bf' }) });
      await core.createNamespacedConfigMap({ namespace, body: configMap('ignored', {}, { app: 'other' }) });
      await core.patchNamespacedConfigMap({ name: 'w1', namespace, body: { data: { x: '1' } } }, merge);
      await core.deleteNamespacedConfigMap({ name: 'w2', namespace });
      await done;
      expect(events).toEqual(['ADDED w2', 'MODIFIED w1', 'DELETED w2']);
    });
  });
};
