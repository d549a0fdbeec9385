// The Kubernetes stage and target readers and the event sink, against the API-server double:
// what they read, and how few calls it takes.
import { describe, expect, it } from 'vitest';
import type { Transition } from '../../src/core/state.ts';
import type { TargetSpec } from '../../src/core/target-spec.ts';
import { createKubernetesEventSink } from '../../src/adapters/kubernetes/events.ts';
import { LABEL_FOLLOWER } from '../../src/adapters/kubernetes/labels.ts';
import { createKubernetesPipelineReader } from '../../src/adapters/kubernetes/pipelines.ts';
import { createKubernetesTargetReader } from '../../src/adapters/kubernetes/targets.ts';
import type { PipelineRequest, TargetRequest } from '../../src/adapters/ports.ts';
import { createTargetReader } from '../../src/adapters/targets/target-reader.ts';
import { useK8sSuite } from '../support/k8s-suite.ts';

const sha = (n: number): string => n.toString(16).padStart(40, '0');
const suite = useK8sSuite('bf-read');
const { freshNamespace, access } = suite;

const putRun = (namespace: string, name: string, labels: Record<string, string>, created: string, succeeded?: { status: string; reason?: string; message?: string }): void => {
  suite.api.store.put('pipelineruns', {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name, namespace, labels, creationTimestamp: created },
    spec: { pipelineRef: { name: 'deploy' } },
    ...(succeeded ? { status: { conditions: [{ type: 'Succeeded', ...succeeded }] } } : {}),
  });
};

describe('kubernetes pipeline reader', () => {
  it('reads the newest labelled PipelineRun: none, pending, succeeded, failed', async () => {
    const namespace = freshNamespace();
    const reader = createKubernetesPipelineReader(access());
    const spec = (lane: string) => ({ namespace, labels: { 'hwlab.dev/lane': lane, app: 'hwlab' }, shaLabel: 'hwlab.dev/sha' });
    const lab = (lane: string, s: string) => ({ 'hwlab.dev/lane': lane, app: 'hwlab', 'hwlab.dev/sha': s });
    putRun(namespace, 'v03-old', lab('v03', sha(1)), '2026-01-01T00:00:00Z', { status: 'False', reason: 'Failed' });
    putRun(namespace, 'v03-new', lab('v03', sha(1)), '2026-01-01T01:00:00Z', { status: 'True', reason: 'Succeeded' });
    putRun(namespace, 'v02-run', lab('v02', sha(2)), '2026-01-01T00:00:00Z', { status: 'False', reason: 'PipelineRunTimeout', message: 'timed out after 1h' });
    putRun(namespace, 'v01-run', lab('v01', sha(3)), '2026-01-01T00:00:00Z', { status: 'Unknown', reason: 'Running' });
    putRun(namespace, 'v04-run', lab('v04', sha(4)), '2026-01-01T00:00:00Z');
    putRun(namespace, 'other-sha', lab('v05', sha(9)), '2026-01-01T00:00:00Z', { status: 'True' });
    const reqs: PipelineRequest[] = [
      { key: 'v03', spec: spec('v03'), sha: sha(1) },
      { key: 'v02', spec: spec('v02'), sha: sha(2) },
      { key: 'v01', spec: spec('v01'), sha: sha(3) },
      { key: 'v04', spec: spec('v04'), sha: sha(4) },
      { key: 'v05', spec: spec('v05'), sha: sha(5) },
    ];
    suite.api.requests.reset();
    const got = await reader.readMany(reqs);
    expect(got.get('v03')).toEqual({ result: 'SUCCESS', detail: `PipelineRun ${namespace}/v03-new (newest of 2) succeeded` });
    expect(got.get('v02')).toEqual({ result: 'FAILURE', detail: `PipelineRun ${namespace}/v02-run failed: PipelineRunTimeout: timed out after 1h` });
    expect(got.get('v01')).toEqual({ result: 'PENDING', detail: `PipelineRun ${namespace}/v01-run running (Running)` });
    expect(got.get('v04')).toEqual({ result: 'PENDING', detail: `PipelineRun ${namespace}/v04-run not started yet` });
    expect(got.get('v05')?.result).toBe('NONE');
    expect(got.get('v05')?.detail).toContain(`no PipelineRun in ${namespace} labelled app=hwlab,hwlab.dev/lane=v05,hwlab.dev/sha=${sha(5)}`);
    // Five followers in one namespace: one LIST, selecting on the label they share.
    expect(suite.api.requests.count()).toBe(1);
    expect(suite.api.requests.last()).toMatchObject({ verb: 'list', resource: 'pipelineruns', namespace });
    expect(new URLSearchParams(suite.api.requests.last()?.query).get('labelSelector')).toBe('app=hwlab');
  });

  it('finds SHA-256 runs by their 63-character label and checks the full sha in the annotation', async () => {
    const namespace = freshNamespace();
    const reader = createKubernetesPipelineReader(access());
    const spec = { namespace, labels: { app: 'hwlab' }, shaLabel: 'hwlab.dev/sha' };
    const full = `${'9f'.repeat(31)}e0`;
    const twin = `${full.slice(0, 63)}1`;
    const put = (name: string, s: string | null, created: string, status: string): void => {
      suite.api.store.put('pipelineruns', {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { name, namespace, labels: { app: 'hwlab', 'hwlab.dev/sha': full.slice(0, 63) }, ...(s ? { annotations: { 'hwlab.dev/sha': s } } : {}), creationTimestamp: created },
        spec: { pipelineRef: { name: 'deploy' } },
        status: { conditions: [{ type: 'Succeeded', status }] },
      });
    };
    // Newer runs of the twin sha, and one without the annotation, share the label value: never this sha's.
    put('mine', full, '2026-01-01T00:00:00Z', 'True');
    put('twin', twin, '2026-01-01T01:00:00Z', 'False');
    put('unannotated', null, '2026-01-01T02:00:00Z', 'False');
    const got = await reader.readMany([
      { key: 'full', spec, sha: full },
      { key: 'twin', spec, sha: twin },
      { key: 'other', spec, sha: `${'0'.repeat(63)}1` },
    ]);
    expect(got.get('full')).toEqual({ result: 'SUCCESS', detail: `PipelineRun ${namespace}/mine succeeded` });
    expect(got.get('twin')).toEqual({ result: 'FAILURE', detail: `PipelineRun ${namespace}/twin failed` });
    expect(got.get('other')?.detail).toContain(`labelled app=hwlab,hwlab.dev/sha=${'0'.repeat(63)} and annotated hwlab.dev/sha=${'0'.repeat(63)}1`);
  });

  it('lists once per namespace, and one namespace failing leaves the others readable', async () => {
    const a = freshNamespace();
    const b = freshNamespace();
    putRun(a, 'ok', { f: 'x', s: sha(1) }, '2026-01-01T00:00:00Z', { status: 'True' });
    const reader = createKubernetesPipelineReader(access());
    suite.api.faults.add({ match: { verb: 'list', resource: 'pipelineruns', namespace: b }, respond: { status: 403, reason: 'Forbidden', message: 'pipelineruns.tekton.dev is forbidden' } });
    suite.api.requests.reset();
    const got = await reader.readMany([
      { key: 'a1', spec: { namespace: a, labels: { f: 'x' }, shaLabel: 's' }, sha: sha(1) },
      { key: 'a2', spec: { namespace: a, labels: { f: 'y' }, shaLabel: 's' }, sha: sha(1) },
      { key: 'b1', spec: { namespace: b, labels: { f: 'x' }, shaLabel: 's' }, sha: sha(1) },
    ]);
    expect(got.get('a1')?.result).toBe('SUCCESS');
    expect(got.get('a2')?.result).toBe('NONE');
    expect(got.get('b1')).toEqual({ result: 'PENDING', detail: `cannot list PipelineRuns in ${b}: 403 Forbidden: pipelineruns.tekton.dev is forbidden` });
    expect(suite.api.requests.count({ verb: 'list' })).toBe(2);
    // No label shared by every follower of namespace a: the LIST selects nothing server-side.
    expect(suite.api.requests.all({ namespace: a }).map((r) => new URLSearchParams(r.query).get('labelSelector'))).toEqual([null]);
  });
});

describe('kubernetes target reader', () => {
  const annotation = 'hwlab.dev/deployed-sha';
  const spec = (namespace: string, name: string, kind = 'Deployment', apiVersion = 'apps/v1'): TargetSpec => ({ reader: 'k8s-annotation', apiVersion, kind, namespace, name, annotation });
  const putWorkload = (type: string, namespace: string, name: string, annotations: Record<string, string>): void => {
    suite.api.store.put(type, { metadata: { name, namespace, annotations }, spec: {} });
  };

  it('reads 300 followers in one namespace with one LIST', async () => {
    const namespace = freshNamespace();
    for (let i = 0; i < 300; i++) putWorkload('deployments', namespace, `app-${i}`, { [annotation]: sha(i + 1) });
    const reader = createKubernetesTargetReader(access());
    const reqs: TargetRequest[] = Array.from({ length: 300 }, (_, i) => ({ key: `f${i}`, spec: spec(namespace, `app-${i}`) }));
    suite.api.requests.reset();
    const got = await reader.readMany(reqs);
    expect(suite.api.requests.count()).toBe(1);
    expect(suite.api.requests.last()).toMatchObject({ verb: 'list', resource: 'deployments', namespace });
    for (let i = 0; i < 300; i++) expect(got.get(`f${i}`)).toEqual({ kind: 'ok', sha: sha(i + 1) });
  });

  it('asks for metadata only (PartialObjectMetadataList) and pages: requests counted with their Accept headers', async () => {
    const namespace = freshNamespace();
    for (let i = 0; i < 5; i++) putWorkload('deployments', namespace, `app-${i}`, { [annotation]: sha(i + 1) });
    const reqs: TargetRequest[] = Array.from({ length: 5 }, (_, i) => ({ key: `f${i}`, spec: spec(namespace, `app-${i}`) }));
    const meta = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

    // Pages of 2: three LISTs, each metadata-only, each after the first continuing the one before.
    suite.api.requests.reset();
    const paged = await createKubernetesTargetReader({ ...access(), listPage: 2 }).readMany(reqs);
    for (let i = 0; i < 5; i++) expect(paged.get(`f${i}`)).toEqual({ kind: 'ok', sha: sha(i + 1) });
    const lists = suite.api.requests.all();
    expect(lists.map((r) => [r.verb, r.resource, r.accept])).toEqual([
      ['list', 'deployments', meta],
      ['list', 'deployments', meta],
      ['list', 'deployments', meta],
    ]);
    const q = lists.map((r) => new URLSearchParams(r.query));
    expect(q.map((p) => p.get('limit'))).toEqual(['2', '2', '2']);
    expect(q[0]?.has('continue')).toBe(false);
    expect(q[1]?.get('continue')).toBeTruthy();
    expect(q[2]?.get('continue')).not.toBe(q[1]?.get('continue'));

    // A continue token the server no longer serves (410 Expired): the LIST starts over, once.
    suite.api.faults.add({ match: (r) => r.verb === 'list' && r.query.has('continue'), respond: { status: 410 } });
    suite.api.requests.reset();
    const restarted = await createKubernetesTargetReader({ ...access(), listPage: 2 }).readMany(reqs);
    for (let i = 0; i < 5; i++) expect(restarted.get(`f${i}`)).toEqual({ kind: 'ok', sha: sha(i + 1) });
    expect(suite.api.requests.all().map((r) => [r.status, new URLSearchParams(r.query).has('continue')])).toEqual([
      [200, false],
      [410, true],
      [200, false],
      [200, true],
      [200, true],
    ]);

    // At the default page size, one request for the namespace.
    suite.api.requests.reset();
    await createKubernetesTargetReader(access()).readMany(reqs);
    expect(suite.api.requests.all().map((r) => [r.verb, r.accept, new URLSearchParams(r.query).get('limit')])).toEqual([['list', meta, '5000']]);
  });

  it('groups by kind and namespace, and reads missing objects, missing annotations and bad values', async () => {
    const a = freshNamespace();
    const b = freshNamespace();
    putWorkload('deployments', a, 'web', { [annotation]: sha(7).toUpperCase() });
    putWorkload('deployments', a, 'fresh', {});
    putWorkload('deployments', a, 'junk', { [annotation]: 'v1.2.3' });
    putWorkload('deployments', a, 'tag', { [annotation]: sha(11).slice(0, 9).toUpperCase() });
    putWorkload('deployments', a, 'flux', { [annotation]: `main@sha1:${sha(12)}` });
    putWorkload('statefulsets', a, 'db', { [annotation]: sha(8) });
    putWorkload('deployments', b, 'web', { [annotation]: sha(9) });
    suite.api.store.put('cronjobs', { metadata: { name: 'nightly', namespace: b, annotations: { [annotation]: sha(10) } }, spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [] } } } } } });
    const reader = createKubernetesTargetReader(access());
    suite.api.requests.reset();
    const got = await reader.readMany([
      { key: 'web-a', spec: spec(a, 'web') },
      { key: 'fresh', spec: spec(a, 'fresh') },
      { key: 'junk', spec: spec(a, 'junk') },
      { key: 'tag', spec: spec(a, 'tag') },
      { key: 'flux', spec: spec(a, 'flux') },
      { key: 'gone', spec: spec(a, 'gone') },
      { key: 'db', spec: spec(a, 'db', 'StatefulSet') },
      { key: 'web-b', spec: spec(b, 'web') },
      { key: 'cron', spec: spec(b, 'nightly', 'CronJob', 'batch/v1') },
      { key: 'svc', spec: spec(b, 'api', 'Service', 'v1') },
    ]);
    expect(got.get('web-a')).toEqual({ kind: 'ok', sha: sha(7) });
    expect(got.get('fresh')).toEqual({ kind: 'ok', sha: null });
    expect(got.get('junk')).toEqual({
      kind: 'unreadable',
      message: `Deployment ${a}/junk: annotation ${annotation} is 6 characters that are not a commit sha (first stray: a letter at 1); expected a commit sha (7 to 64 hex digits) or a Flux revision <ref>@sha1:<40 hex> / <ref>@sha256:<64 hex>`,
    });
    expect(got.get('tag')).toEqual({ kind: 'ok', sha: sha(11).slice(0, 9) });
    expect(got.get('flux')).toEqual({ kind: 'ok', sha: sha(12) });
    expect(got.get('gone')).toEqual({ kind: 'unreadable', message: `Deployment ${a}/gone not found` });
    expect(got.get('db')).toEqual({ kind: 'ok', sha: sha(8) });
    expect(got.get('web-b')).toEqual({ kind: 'ok', sha: sha(9) });
    expect(got.get('cron')).toEqual({ kind: 'ok', sha: sha(10) });
    expect(got.get('svc')).toEqual({ kind: 'unreadable', message: `Service ${b}/api not found` });
    // deployments in a, statefulsets in a, deployments in b, cronjobs in b, services in b (after discovery).
    expect(suite.api.requests.count({ verb: 'list' })).toBe(5);
  });

  it('serves the generic target reader as its k8s option, and a failing LIST makes only its group unreadable', async () => {
    const namespace = freshNamespace();
    putWorkload('deployments', namespace, 'web', { [annotation]: sha(3) });
    const k8s = createKubernetesTargetReader(access());
    const generic = createTargetReader({ cwd: '/', k8s });
    suite.api.faults.add({ match: { verb: 'list', resource: 'statefulsets' }, times: Infinity, respond: { status: 403, reason: 'Forbidden', message: 'statefulsets.apps is forbidden' } });
    const got = await generic.readMany([
      { key: 'web', spec: spec(namespace, 'web') },
      { key: 'db', spec: spec(namespace, 'db', 'StatefulSet') },
    ]);
    expect(got.get('web')).toEqual({ kind: 'ok', sha: sha(3) });
    expect(got.get('db')).toEqual({ kind: 'unreadable', message: `cannot list StatefulSet (apps/v1) in ${namespace}: 403 Forbidden: statefulsets.apps is forbidden` });
  });
});

describe('kubernetes event sink', () => {
  const t = (over: Partial<Transition>): Transition => ({
    at: '2026-01-01T00:00:00.000Z',
    from: 'Observed',
    to: 'PendingTrigger',
    sha: sha(1),
    attempt: 1,
    reason: 'dispatching',
    ...over,
  });

  it('emits one core/v1 Event per transition on the state ConfigMap and lists them back', async () => {
    const namespace = freshNamespace();
    const sink = createKubernetesEventSink({ ...access(), namespace });
    const long = 'x'.repeat(1500);
    const transitions: Transition[] = [
      t({}),
      t({ at: '2026-01-01T00:00:00.000Z', from: 'PendingTrigger', to: 'Triggering', reason: 'dispatched' }),
      t({ at: '2026-01-01T00:05:00.000Z', from: 'Triggering', to: 'Failed', reason: long }),
      t({ at: '2026-01-01T00:06:00.000Z', from: 'Failed', to: 'Skipped', sha: null, attempt: null, reason: 'disarmed' }),
    ];
    suite.api.requests.reset();
    await sink.emit('alpha', transitions);
    expect(suite.api.requests.count({ verb: 'create', resource: 'events', namespace })).toBe(4);
    await sink.emit('beta', [t({ reason: 'another follower' })]);

    const stored = suite.api.store.list('events', namespace).filter((e) => e.metadata?.labels?.[LABEL_FOLLOWER] === 'alpha');
    expect(stored).toHaveLength(4);
    const failed = stored.find((e) => e['reason'] === 'Failed');
    expect(failed).toMatchObject({
      involvedObject: { kind: 'ConfigMap', name: 'branch-follower-state-alpha', namespace },
      type: 'Warning',
      source: { component: 'branch-follower' },
    });
    expect((failed?.['message'] as string).length).toBe(1024);
    expect(failed?.metadata?.name).toMatch(/^branch-follower-state-alpha\.[0-9a-f]+$/);
    expect(stored.find((e) => e['reason'] === 'Triggering')?.['type']).toBe('Normal');

    suite.api.requests.reset();
    const listed = await sink.list('alpha');
    expect(suite.api.requests.count()).toBe(1);
    expect(listed).toEqual(transitions.map((x) => ({ ...x, id: 'alpha', source: 'event' })));
    expect(await sink.list('nobody')).toEqual([]);
  });

  it('an Event written by a try whose answer was lost is not written twice', async () => {
    const namespace = freshNamespace();
    const sink = createKubernetesEventSink({ ...access(), namespace });
    suite.api.faults.add({ match: { verb: 'create', resource: 'events' }, respond: { drop: true, afterCommit: true } });
    await sink.emit('gamma', [t({})]);
    expect(suite.api.store.list('events', namespace)).toHaveLength(1);
    expect(await sink.list('gamma')).toHaveLength(1);
  });
});
