// Dispatch as a batch/v1 Job, its statuses and its logs, against the API-server double. There is
// no Job controller in the double: tests move a Job's status and create its pods the way the
// Job controller and kubelet would.
import { describe, expect, it } from 'vitest';
import { runName } from '../../src/core/run-name.ts';
import type { Run } from '../../src/core/state.ts';
import { createKubernetesDispatcher } from '../../src/adapters/kubernetes/dispatcher.ts';
import { DISPATCH_SELECTOR, LABEL_ATTEMPT, LABEL_SHA, followerLabels } from '../../src/adapters/kubernetes/labels.ts';
import { createKubernetesLogReader } from '../../src/adapters/kubernetes/logs.ts';
import type { DispatchRequest } from '../../src/adapters/ports.ts';
import type { KubeObject } from '../support/apiserver-double.ts';
import { useK8sSuite } from '../support/k8s-suite.ts';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9001122334';
const SHA2 = 'ffffeeeeddddccccbbbbaaaa9999888877776666';
const suite = useK8sSuite('bf-dispatch');
const { freshNamespace, access } = suite;

const request = (over: Partial<DispatchRequest> = {}): DispatchRequest => {
  const followerId = over.followerId ?? 'hwlab-jd01-v03';
  const sha = over.sha ?? SHA;
  const attempt = over.attempt ?? 1;
  const episode = over.episode ?? 1;
  return {
    followerId,
    sha,
    episode,
    attempt,
    name: runName(followerId, sha, episode, attempt),
    argv: ['hwlab', 'nodes', 'trigger', '--note', 'a b; $(rm -rf /)', '--confirm'],
    repo: 'pikasTech/HWLAB',
    branch: 'v0.3',
    budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 },
    ...over,
  };
};

/** What a Job's pod looks like once the Job controller made it. */
const putPod = (namespace: string, job: KubeObject, name: string, created: string): void => {
  suite.api.store.put('pods', {
    metadata: {
      name,
      namespace,
      creationTimestamp: created,
      labels: { ...(job.metadata?.labels ?? {}), 'job-name': job.metadata?.name ?? '' },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata?.name, uid: job.metadata?.uid, controller: true }],
    },
    spec: { containers: [{ name: 'trigger', image: 'x' }] },
    status: { phase: 'Running' },
  });
};

describe('kubernetes dispatcher', () => {
  it('creates a Job with the exact spec: argv as command, labels, one try, deadline, ttl, restricted security', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'registry.local/bf-trigger:1.2', serviceAccountName: 'deployer' });
    expect(d.kind).toBe('Job');
    const req = request();
    const res = await d.dispatch(req);
    expect(res).toMatchObject({ name: req.name, kind: 'Job', adopted: false });
    const job = suite.api.store.get('jobs', namespace, req.name);
    expect(Date.parse(res.startedAt)).toBe(Date.parse(job?.metadata?.creationTimestamp ?? ''));
    const labels = { ...followerLabels('dispatch', req.followerId), [LABEL_SHA]: SHA, [LABEL_ATTEMPT]: '1' };
    expect(job?.metadata?.labels).toEqual(labels);
    const spec = job?.['spec'] as Record<string, unknown>;
    expect(spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 600, ttlSecondsAfterFinished: 86400 });
    const pod = (spec['template'] as { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> });
    expect(pod.metadata.labels).toMatchObject(labels);
    expect(pod.spec).toMatchObject({
      restartPolicy: 'Never',
      serviceAccountName: 'deployer',
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      volumes: [{ name: 'tmp', emptyDir: {} }],
    });
    const [container] = pod.spec['containers'] as Record<string, unknown>[];
    expect(container?.['command']).toEqual(req.argv);
    expect(container?.['args']).toBeUndefined();
    expect(container?.['image']).toBe('registry.local/bf-trigger:1.2');
    expect(container?.['env']).toEqual(
      expect.arrayContaining([
        { name: 'BRANCH_FOLLOWER_ID', value: req.followerId },
        { name: 'BRANCH_FOLLOWER_SHA', value: SHA },
        { name: 'BRANCH_FOLLOWER_ATTEMPT', value: '1' },
        { name: 'BRANCH_FOLLOWER_REPO', value: 'pikasTech/HWLAB' },
        { name: 'BRANCH_FOLLOWER_BRANCH', value: 'v0.3' },
      ]),
    );
    expect(container?.['securityContext']).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container?.['volumeMounts']).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(container?.['resources']).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) }, limits: { memory: expect.any(String) } });
  });

  it('runs in the follower\'s runner: its image, its ServiceAccount with a token, env from Secrets by reference', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'registry.local/bf:1' });
    const runner = {
      image: 'registry.local/hwlab-cli:3',
      serviceAccountName: 'hwlab-deployer',
      env: { HWLAB_TOKEN: { secretRef: { name: 'hwlab-api', key: 'token' } }, HWLAB_NODE: { value: 'JD01' } },
    };
    const req = request({ runner });
    await d.dispatch(req);
    const pod = (suite.api.store.get('jobs', namespace, req.name)?.['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod).toMatchObject({ serviceAccountName: 'hwlab-deployer', automountServiceAccountToken: true });
    const [container] = pod['containers'] as Record<string, unknown>[];
    expect(container?.['image']).toBe('registry.local/hwlab-cli:3');
    const env = container?.['env'] as { name: string }[];
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'HWLAB_TOKEN', valueFrom: { secretKeyRef: { name: 'hwlab-api', key: 'token' } } },
        { name: 'HWLAB_NODE', value: 'JD01' },
        { name: 'BRANCH_FOLLOWER_SHA', value: SHA },
      ]),
    );
    // Without a runner: the controller's image and no token at all.
    const plain = request({ sha: SHA2 });
    await d.dispatch(plain);
    const bare = (suite.api.store.get('jobs', namespace, plain.name)?.['spec'] as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(bare['automountServiceAccountToken']).toBe(false);
    expect(bare['serviceAccountName']).toBeUndefined();
    expect((bare['containers'] as Record<string, unknown>[])[0]?.['image']).toBe('registry.local/bf:1');
    expect(((bare['containers'] as Record<string, unknown>[])[0]?.['env'] as { name: string }[]).map((e) => e.name)).not.toContain('HWLAB_TOKEN');
  });

  it('adopts a Job that already exists: exactly one Job, and a second POST answered AlreadyExists', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const req = request();
    const first = await d.dispatch(req);
    suite.api.requests.reset();
    const second = await d.dispatch(req);
    expect(second).toEqual({ ...first, adopted: true });
    expect(suite.api.store.list('jobs', namespace)).toHaveLength(1);
    expect(suite.api.requests.count({ verb: 'create', resource: 'jobs' })).toBe(1);
    expect(suite.api.requests.last({ verb: 'create' })?.status).toBe(409);
  });

  it('adopts its own Job when the create landed but its answer was lost', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    suite.api.faults.add({ match: { verb: 'create', resource: 'jobs' }, respond: { drop: true, afterCommit: true } });
    const res = await d.dispatch(request());
    expect(res.adopted).toBe(true);
    expect(suite.api.store.list('jobs', namespace)).toHaveLength(1);
  });

  it('refuses to adopt a Job of that name that is not this dispatch, and never renames', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const req = request();
    suite.api.store.put('jobs', {
      metadata: { name: req.name, namespace, labels: { app: 'someone-else' } },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'x' }] } } },
    });
    await expect(d.dispatch(req)).rejects.toThrow(/exists but is not the dispatch/);
    expect(suite.api.store.list('jobs', namespace)).toHaveLength(1);
  });

  it('dispatches a SHA-256 sha: a 63-character label that selects, the full sha in an annotation; adopts only its own sha', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const sha256 = `${'ab'.repeat(31)}c0`;
    const req = request({ sha: sha256, name: runName('hwlab-jd01-v03', sha256, 1, 1) });
    expect(req.name.length).toBeLessThanOrEqual(63);
    await d.dispatch(req);
    const job = suite.api.store.get('jobs', namespace, req.name);
    expect(job?.metadata?.labels?.[LABEL_SHA]).toBe(sha256.slice(0, 63));
    expect(job?.metadata?.annotations?.[LABEL_SHA]).toBe(sha256);
    const pod = (job?.['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata;
    expect(pod.annotations[LABEL_SHA]).toBe(sha256);
    expect((await d.dispatch(req)).adopted).toBe(true);
    // A sha differing only in the digit the label cuts off selects the same label value: the annotation tells them apart.
    const twin = `${sha256.slice(0, 63)}1`;
    await expect(d.dispatch({ ...req, sha: twin })).rejects.toThrow(/exists but is not the dispatch/);
    expect(suite.api.store.list('jobs', namespace)).toHaveLength(1);
  });

  it('reads statuses from Job conditions with one labelled LIST', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const ok = request({ followerId: 'ok' });
    const bad = request({ followerId: 'bad' });
    const slow = request({ followerId: 'slow' });
    for (const r of [ok, bad, slow]) await d.dispatch(r);
    suite.api.store.patchStatus('jobs', namespace, ok.name, { startTime: '2026-01-01T00:00:00Z', succeeded: 1, conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }] });
    suite.api.store.patchStatus('jobs', namespace, bad.name, {
      failed: 1,
      conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }],
    });
    suite.api.store.patchStatus('jobs', namespace, slow.name, { startTime: '2026-01-01T00:00:00Z', active: 1, ready: 1 });
    suite.api.requests.reset();
    const got = await d.statuses([ok.name, bad.name, slow.name, 'bf-missing-000000000000-a1']);
    expect(suite.api.requests.count()).toBe(1);
    expect(new URLSearchParams(suite.api.requests.last()?.query).get('labelSelector')).toBe(DISPATCH_SELECTOR);
    expect(got.get(ok.name)?.result).toBe('SUCCESS');
    expect(got.get(bad.name)).toEqual({ result: 'FAILURE', detail: `Job ${namespace}/${bad.name} failed: DeadlineExceeded: Job was active longer than specified deadline` });
    expect(got.get(slow.name)).toEqual({ result: 'PENDING', detail: `Job ${namespace}/${slow.name} running (active 1, ready 1, failed 0)` });
    expect(got.get('bf-missing-000000000000-a1')?.result).toBe('NONE');
    suite.api.requests.reset();
    expect((await d.statuses([])).size).toBe(0);
    expect(suite.api.requests.count()).toBe(0);
  });

  it('cancels with Background propagation, which removes the pods; a missing Job is fine', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const req = request();
    await d.dispatch(req);
    const job = suite.api.store.get('jobs', namespace, req.name) as KubeObject;
    putPod(namespace, job, `${req.name}-abcde`, '2026-01-01T00:00:00Z');
    await d.cancel(req.name);
    expect(new URLSearchParams(suite.api.requests.last({ verb: 'delete' })?.query).get('propagationPolicy')).toBe('Background');
    expect(suite.api.store.get('jobs', namespace, req.name)).toBeUndefined();
    expect(suite.api.store.list('pods', namespace)).toEqual([]);
    await d.cancel(req.name);
    expect(suite.api.requests.last({ verb: 'delete' })?.status).toBe(404);
    expect((await d.statuses([req.name])).get(req.name)?.result).toBe('NONE');
  });

  it('never retries a create the server refuses as invalid', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    suite.api.requests.reset();
    await expect(d.dispatch(request({ name: 'Not_A_Valid_Name' }))).rejects.toThrow(/422 Invalid/);
    expect(suite.api.requests.count({ verb: 'create' })).toBe(1);
  });
});

describe('kubernetes log reader', () => {
  it('reads the given run\'s pod log, else the newest Job\'s, and says clearly when there is none', async () => {
    const namespace = freshNamespace();
    const d = createKubernetesDispatcher({ ...access(), namespace, image: 'img:1' });
    const logs = createKubernetesLogReader({ ...access(), namespace });
    const id = 'hwlab-jd01-v03';
    expect(await logs.logs(id, null)).toBe(`no dispatch Jobs of ${id} in namespace ${namespace} (finished Jobs are removed after their ttlSecondsAfterFinished)\n`);

    // The older Job sorts last by name, so only creationTimestamp can make the other one "newest".
    const old = request({ followerId: id, sha: SHA2, attempt: 1 });
    const newer = request({ followerId: id, sha: SHA, attempt: 1 });
    await d.dispatch(newer);
    await d.dispatch(old);
    suite.api.store.patch('jobs', namespace, old.name, { metadata: { creationTimestamp: '2020-01-01T00:00:00Z' } });
    expect(await logs.logs(id, null)).toMatch(new RegExp(`^# newest Job ${namespace}/${newer.name} \\(a1b2c3d4e5f6 attempt 1, created .*\\)\\nno pods for Job`));

    putPod(namespace, suite.api.store.get('jobs', namespace, old.name) as KubeObject, `${old.name}-p1`, '2026-01-01T00:00:00Z');
    putPod(namespace, suite.api.store.get('jobs', namespace, newer.name) as KubeObject, `${newer.name}-p1`, '2026-01-01T00:00:00Z');
    suite.api.setPodLog(namespace, `${old.name}-p1`, 'old deploy\n');
    suite.api.setPodLog(namespace, `${newer.name}-p1`, 'deploying a1b2c3d4\ndone\n');

    const newest = await logs.logs(id, null);
    expect(newest).toContain(`# pod ${newer.name}-p1 (Running)\n`);
    expect(newest.endsWith('deploying a1b2c3d4\ndone\n')).toBe(true);

    const run: Run = { sha: SHA2, episode: 1, attempt: 1, name: old.name, kind: 'Job', startedAt: '2026-01-01T00:00:00.000Z', superseded: false };
    const given = await logs.logs(id, run);
    expect(given).toBe(`# Job ${namespace}/${old.name} (ffffeeeedddd attempt 1)\n# pod ${old.name}-p1 (Running)\nold deploy\n`);
    expect(suite.api.requests.last({ subresource: 'log' })).toMatchObject({ verb: 'get', name: `${old.name}-p1` });
  });
});
