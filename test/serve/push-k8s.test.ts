// The push receiver on the Kubernetes driver, against the API-server double: `serve` as a
// subprocess creates a Job from the observer CronJob's template (as `kubectl create job --from`
// does), named from (repository, sha), so duplicated and redelivered hooks answer AlreadyExists
// and add nothing; a dispatch Job's end, seen by its watch, creates a Job from the closer
// CronJob. The test plays the Job controller (it runs the tick a woken Job's pod would run).
// Every request serve makes stays within its own Role, and the Role grants nothing unused.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { dispatchJob } from '../../src/adapters/kubernetes/job-spec.ts';
import { componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { allows, SERVE_ROLE_RULES, TICK_METRICS_CONFIGMAP } from '../../src/adapters/kubernetes/rbac.ts';
import { encodeSummary, summarizeTick } from '../../src/core/tick-metrics.ts';
import { closerWakeJobName, pokeJobName } from '../../src/core/push.ts';
import { runName } from '../../src/core/run-name.ts';
import { CRONJOB_V1, CRONJOB_V1BETA1, type ApiServerDoubleOptions, type KubeObject } from '../support/apiserver-double.ts';
import { forgePush, sendHook } from '../support/forge-hooks.ts';
import { createK8sWorld, NAMESPACE, type K8sWorld } from '../support/k8s-world.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';

const SECRET = 'k8s-push-secret';
const A = { id: 'web-main', repo: 'acme/web', branch: 'main' };

const eventually = async <T>(get: () => T | undefined | null, polls = 600): Promise<T> => {
  for (let i = 0; i < polls; i++) {
    const v = get();
    if (v !== undefined && v !== null && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
};

const world = async (api?: ApiServerDoubleOptions): Promise<K8sWorld> => {
  const w = await createK8sWorld([A], api ? { api } : {});
  const reg = parse(await readFile(w.registryPath, 'utf8')) as { controller: Record<string, unknown> };
  reg.controller.serve = { enabled: true, push: { secretEnv: 'BF_PUSH_SECRET' } };
  await writeFile(w.registryPath, stringify(reg));
  const applied = await w.cli(['apply', '--confirm']);
  expect(applied.code, applied.stderr).toBe(0);
  w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
  w.armDirect();
  expect((await w.tick('observer')).code).toBe(0);
  return w;
};

const serveOn = (w: K8sWorld): Promise<ServeProcess> =>
  startServe(['--registry', w.registryPath, '--kubeconfig', w.api.kubeconfigPath, '--driver', 'kubernetes'], { cwd: w.configDir, env: { BF_PUSH_SECRET: SECRET } });

const job = (w: K8sWorld, name: string): KubeObject | undefined => w.api.store.get('jobs', NAMESPACE, name);
const spec = (o: KubeObject | undefined): unknown => (o?.['spec'] as { template?: unknown } | undefined)?.template;
const jobTemplate = (cj: KubeObject | undefined): { metadata?: { labels?: Record<string, string> }; spec?: { template?: unknown } } =>
  (cj?.['spec'] as { jobTemplate: { metadata?: { labels?: Record<string, string> }; spec?: { template?: unknown } } }).jobTemplate;

describe('POST /hooks/push on the Kubernetes driver', () => {
  let w: K8sWorld;
  let serve: ServeProcess | null = null;
  beforeAll(async () => {
    w = await world();
  });
  afterEach(async () => {
    await serve?.stop();
    serve = null;
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('a push creates a Job from the observer CronJob; its tick dispatches once; the dispatch\'s end wakes the closer the same way', async () => {
    serve = await serveOn(w);
    const sha = await w.git.commit(A.repo, A.branch);
    const r = await sendHook(serve.url, forgePush('github', { ...A, after: sha, secret: SECRET }));
    expect(r.status).toBe(202);
    const poke = await eventually(() => job(w, pokeJobName(A.repo, sha)));
    const observer = w.api.store.get('cronjobs', NAMESPACE, 'branch-follower-observer');
    // What `kubectl create job --from=cronjob/branch-follower-observer` makes.
    const template = jobTemplate(observer).spec?.template as { metadata: { labels: Record<string, string> }; spec: unknown };
    const made = spec(poke) as typeof template;
    expect(made.spec).toEqual(template.spec);
    // The server adds the job-name and controller-uid labels to the pod template, as a real one does.
    expect(made.metadata.labels).toMatchObject(template.metadata.labels);
    expect(poke.metadata?.labels).toEqual(jobTemplate(observer).metadata?.labels);
    expect(poke.metadata?.annotations?.['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(poke.metadata?.['ownerReferences']).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'branch-follower-observer', uid: observer?.metadata?.uid, controller: true }]);
    // The push never dispatched by itself.
    expect(w.jobs(A.id)).toEqual([]);
    // The Job controller runs the woken Job's pod: one observer tick.
    expect((await w.tick('observer')).code).toBe(0);
    w.finishJob(poke.metadata!.name!);
    const dispatched = w.jobs(A.id);
    expect(dispatched).toHaveLength(1);
    const run = dispatched[0]!.metadata!.name!;
    w.finishJob(run, { deploy: true });
    const wake = await eventually(() => job(w, closerWakeJobName(run)));
    const closer = w.api.store.get('cronjobs', NAMESPACE, 'branch-follower-closer');
    expect((spec(wake) as { spec: unknown }).spec).toEqual((jobTemplate(closer).spec?.template as { spec: unknown }).spec);
    expect((await w.tick('closer')).code).toBe(0);
    expect(w.storedState(A.id)?.lastSucceededSha).toBe(sha);
    expect(serve.stderr()).toContain(`observer woken: created Job ${NAMESPACE}/${pokeJobName(A.repo, sha)}`);
  });

  it('20 deliveries of one push under fresh ids, and a redelivery to a restarted receiver, make one Job: AlreadyExists is coalesced', async () => {
    serve = await serveOn(w);
    const sha = await w.git.commit(A.repo, A.branch);
    const name = pokeJobName(A.repo, sha);
    w.api.requests.reset();
    const replies = await Promise.all(Array.from({ length: 20 }, () => sendHook(serve!.url, forgePush('gitlab', { ...A, after: sha, secret: SECRET }))));
    expect(replies.every((x) => x.status === 202)).toBe(true);
    await eventually(() => job(w, name));
    // The first Job runs; the 19 others wait as one. Once it ends, the waiting poke finds it there.
    w.finishJob(name);
    await eventually(() => serve!.stderr().includes(`observer already woken: found Job ${NAMESPACE}/${name}`));
    const creates = w.api.requests.all({ verb: 'create', resource: 'jobs' });
    expect(creates.length).toBeLessThanOrEqual(2);
    expect(creates.filter((c) => c.status === 201)).toHaveLength(1);
    expect(creates.filter((c) => c.status === 409)).toHaveLength(creates.length - 1);
    // A restarted receiver remembers no delivery: the Job's name still coalesces the redelivery.
    await serve.stop();
    serve = await serveOn(w);
    const again = forgePush('github', { ...A, after: sha, secret: SECRET, delivery: 'redelivered' });
    expect((await sendHook(serve.url, again)).status).toBe(202);
    await eventually(() => serve!.stderr().includes(`observer already woken: found Job ${NAMESPACE}/${name}`));
    expect(w.api.store.list('jobs', NAMESPACE).filter((j) => j.metadata?.name === name)).toHaveLength(1);
  });

  it('a push to an unfollowed branch creates nothing', async () => {
    serve = await serveOn(w);
    const before = w.api.store.list('jobs', NAMESPACE).length;
    const sha = await w.git.commit(A.repo, 'other');
    expect((await sendHook(serve.url, forgePush('gitea', { repo: A.repo, branch: 'other', after: sha, secret: SECRET }))).status).toBe(200);
    expect(w.api.requests.all({ verb: 'create', resource: 'jobs' }).filter((r) => r.name === pokeJobName(A.repo, sha))).toEqual([]);
    expect(w.api.store.list('jobs', NAMESPACE)).toHaveLength(before);
  });
});

describe('serve on a server that serves CronJob only as batch/v1beta1 (1.20)', () => {
  let w: K8sWorld;
  afterAll(async () => {
    await w?.cleanup();
  });

  it('reads the CronJob in the version discovery finds and creates the same Job', async () => {
    w = await world({ resources: [CRONJOB_V1BETA1], without: [CRONJOB_V1] });
    const serve = await serveOn(w);
    try {
      const sha = await w.git.commit(A.repo, A.branch);
      expect((await sendHook(serve.url, forgePush('forgejo', { ...A, after: sha, secret: SECRET }))).status).toBe(202);
      const poke = await eventually(() => job(w, pokeJobName(A.repo, sha)));
      expect(w.api.requests.all({ resource: 'cronjobs', verb: 'get' }).map((r) => r.path.split('/').slice(0, 4).join('/'))).toContain('/apis/batch/v1beta1');
      expect((poke.metadata?.['ownerReferences'] as { apiVersion: string }[])[0]?.apiVersion).toBe('batch/v1beta1');
    } finally {
      await serve.stop();
    }
  });
});

describe("serve's Role", () => {
  let w: K8sWorld;
  afterAll(async () => {
    await w?.cleanup();
  });

  it('covers every request serve makes (push, closer wake, watch, status page, metrics) and grants nothing it does not call', async () => {
    w = await world();
    w.api.requests.reset();
    const serve = await serveOn(w);
    try {
      const sha = await w.git.commit(A.repo, A.branch);
      expect((await sendHook(serve.url, forgePush('generic', { ...A, after: sha, secret: SECRET }))).status).toBe(202);
      await eventually(() => job(w, pokeJobName(A.repo, sha)));
      // A dispatch Job, as a tick creates it, ends: the watch wakes the closer.
      const name = runName(A.id, sha, 2, 1);
      w.api.store.put('jobs', JSON.parse(JSON.stringify(dispatchJob({ followerId: A.id, sha, episode: 2, attempt: 1, name, argv: ['deploy'], repo: A.repo, branch: A.branch, budgets: { triggerSeconds: 60, closeoutSeconds: 600, maxAttempts: 2 } }, { namespace: NAMESPACE, image: 'img:1' }))) as KubeObject);
      w.finishJob(name);
      await eventually(() => job(w, closerWakeJobName(name)));
      // A tick pod that ended, its summary in its termination message, as the kubelet reports it.
      const summary = summarizeTick({ loop: 'observer', at: Date.now(), seconds: 0.4, threw: false, corrupt: false, followerError: false, stoppedAtDeadline: false, mirrorUnreadable: false, blocked: false, reads: [[A.repo, 'ok', 0.05]] });
      w.api.store.put('pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'branch-follower-observer-1-abcde', namespace: NAMESPACE, uid: 'a6c1f0e2-1b7d-4d0a-9a51-3f2f3c9d7e11', labels: componentLabels('observer') },
        spec: { containers: [{ name: 'tick', image: 'img:1' }] },
        status: { phase: 'Succeeded', containerStatuses: [{ name: 'tick', state: { terminated: { exitCode: 0, reason: 'Completed', containerID: 'containerd://0f3e', message: encodeSummary(summary) } } }] },
      });
      // The read-only routes: the status page, one follower's page and the metrics.
      for (const path of ['/', `/followers/${A.id}`, '/metrics']) expect((await fetch(`${serve.url}${path}`)).status, path).toBe(200);
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metrics).toContain('branch_follower_ticks_total{loop="observer",outcome="ok"} 1');
      expect(metrics).toContain(`branch_follower_repository_reads_total{repository="${A.repo}",outcome="ok"} 1`);
      const kept = w.api.store.get('configmaps', NAMESPACE, TICK_METRICS_CONFIGMAP) as { data?: Record<string, string> } | undefined;
      expect(JSON.parse(kept?.data?.['totals.json'] ?? '{}')).toMatchObject({ loops: { observer: { ticks: { ok: 1 } } } });
    } finally {
      await serve.stop();
    }
    const used = new Set<string>();
    const denied: string[] = [];
    for (const r of w.api.requests.all().filter((x) => x.verb !== 'discovery')) {
      const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
      used.add(`${r.group}/${resource}:${r.verb}`);
      if (r.namespace !== NAMESPACE || !allows(SERVE_ROLE_RULES, r.group, resource, r.verb, r.name)) denied.push(`${r.verb} ${r.group}/${resource} in ${r.namespace ?? '(cluster)'}`);
    }
    expect([...new Set(denied)], 'requests the serve Role does not allow').toEqual([]);
    const granted = SERVE_ROLE_RULES.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((x) => r.verbs.map((v) => `${g}/${x}:${v}`))));
    expect(granted.filter((g) => !used.has(g)), 'granted but never called').toEqual([]);
  });
});
