// `branch-follower serve` on a real cluster: installed by `apply --confirm --wait` with
// controller.serve enabled, its Deployment must become Available (a real pod: the clone init
// container, real probes, the restricted securityContext, a read-only root filesystem). The
// CronJobs are scheduled once a year, so nothing but the receiver can explain a quick Succeeded:
// a signed push hook, sent through `kubectl port-forward` as the mirror's post-receive hook would
// send it, wakes the observer (a bf-poke-… Job from the observer CronJob), whose pod dispatches;
// the dispatch Job's end, seen by serve's watch, wakes the closer (a bf-wake-… Job), whose pod
// folds it to Succeeded. The latencies (push → Succeeded against the deploy pod's own run time)
// are printed, not asserted. Then `/metrics` and `/` from the real pod, read with serve's own Role.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusRow } from '../../src/core/status-view.ts';
import { closerWakeJobName, pokeJobName } from '../../src/core/push.ts';
import { PUSH_SECRET, PUSH_SECRET_KEY, SERVE_NAME } from '../../src/adapters/kubernetes/serve-manifests.ts';
import { WOKEN_BY_ANNOTATION } from '../../src/serve/wake-kubernetes.ts';
import { TICK_METRICS_CONFIGMAP } from '../../src/adapters/kubernetes/rbac.ts';
import { decodeSummary, TickTotals } from '../../src/core/tick-metrics.ts';
import { forgePush, sendHook } from '../support/forge-hooks.ts';
import { type Obj, cliOk, deleteNamespaces, getJson, jobFinished, jobLogs, kubectl, list, portForward, requireKubeconfig, waitFor, waitForJob } from './support/cluster.ts';
import { deployMirror, pushControllerSource, workRepo, type Mirror, type WorkRepo } from './support/git-mirror.ts';
import { CONTROLLER_REPO, DEPLOYED, install, writeRegistry, type AppDef, type Install } from './support/install.ts';

const NS = 'bf-ci-serve';
const APPS = 'bf-ci-serve-apps';
const MIRROR = 'bf-ci-serve-mirror';
const APP: AppDef = { id: 'web', repo: 'ci/web', branch: 'main' };
const SECRET_ENV = 'BRANCH_FOLLOWER_PUSH_SECRET';
const SECRET = randomBytes(32).toString('hex');
/** Once a year (1 January): a scheduled tick cannot be what moves the follower in this file. */
const FAR_AWAY = '0 0 1 1 *';

let mirror: Mirror;
let inst: Install;
let app: WorkRepo;
let applied = '';
let serve: { port: number; stop: () => void } | null = null;

const row = async (): Promise<StatusRow> => {
  const out = JSON.parse(await cliOk(inst.registry, ['status', '-o', 'json'])) as { followers: StatusRow[] };
  const r = out.followers.find((f) => f.id === APP.id);
  if (!r) throw new Error(`no status row for ${APP.id}`);
  return r;
};

const jobs = (): Promise<Obj[]> => list(['-n', NS, 'get', 'jobs']);
const serveLog = async (): Promise<string> => kubectl(['-n', NS, 'logs', `deployment/${SERVE_NAME}`, '--all-containers']);
const url = (path: string): string => `http://127.0.0.1:${serve?.port ?? 0}${path}`;

type ContainerStatus = { name: string; restartCount?: number; state?: { terminated?: { startedAt?: string; finishedAt?: string; exitCode?: number; message?: string } } };
type PodTimes = { job: string; created: number; podStart: number; started: number; finished: number };

/** A Job's times as the server recorded them (whole seconds): created, its pod's start, its main container's start and end. */
const jobTimes = async (name: string): Promise<PodTimes> => {
  const job = await getJson(['-n', NS, 'get', 'job', name]);
  const [pod, ...more] = await list(['-n', NS, 'get', 'pods', '-l', `job-name=${name}`]);
  expect(more, `one pod for Job ${name}`).toEqual([]);
  const statuses = (pod?.status?.['containerStatuses'] as ContainerStatus[] | undefined) ?? [];
  const t = statuses[0]?.state?.terminated;
  return {
    job: name,
    created: Date.parse(job.metadata.creationTimestamp ?? ''),
    podStart: Date.parse(String(pod?.status?.['startTime'] ?? '')),
    started: Date.parse(t?.startedAt ?? ''),
    finished: Date.parse(t?.finishedAt ?? ''),
  };
};

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

beforeAll(async () => {
  requireKubeconfig();
  await deleteNamespaces([NS, APPS, MIRROR]);
  mirror = await deployMirror(MIRROR);
  await pushControllerSource(mirror, CONTROLLER_REPO);
  app = await workRepo(mirror, APP.repo);
  await app.commit('first');
  await app.push();
  inst = await writeRegistry({ namespace: NS, appsNamespace: APPS, mirror, apps: [APP], schedules: { observer: FAR_AWAY, closer: FAR_AWAY }, serve: { secretEnv: SECRET_ENV } });
  // The operator creates the push Secret before applying (README, "Push hooks"): serve's pod does not start without it.
  applied = await install(inst, [APP], [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: PUSH_SECRET, namespace: NS }, stringData: { [PUSH_SECRET_KEY]: SECRET } }]);
});

afterAll(async () => {
  serve?.stop();
  mirror?.stop();
  if (inst) await rm(inst.dir, { recursive: true, force: true });
  await app?.remove();
  if (!process.env['BF_CLUSTER_KEEP']) await deleteNamespaces([NS, APPS, MIRROR]);
});

describe('serve on a real cluster: a push hook wakes the observer, the run\'s end wakes the closer', () => {
  it('apply --confirm --wait installs serve; its Deployment becomes Available as a restricted pod with a read-only root filesystem', async () => {
    for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service']) expect(applied).toMatch(new RegExp(`create +${kind} ${NS}/${SERVE_NAME}\\b`));
    await kubectl(['-n', NS, 'rollout', 'status', `deployment/${SERVE_NAME}`, '--timeout=300s']);
    const d = await getJson(['-n', NS, 'get', 'deployment', SERVE_NAME]);
    const conditions = (d.status?.['conditions'] as { type: string; status: string }[] | undefined) ?? [];
    expect(conditions.find((c) => c.type === 'Available')?.status).toBe('True');
    const [pod, ...more] = await list(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=serve']);
    expect(more).toEqual([]);
    const spec = pod?.spec as { serviceAccountName: string; securityContext: Record<string, unknown>; containers: { name: string; securityContext: Record<string, unknown> }[] };
    expect(spec.serviceAccountName).toBe('branch-follower-serve');
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // serve starts as the ticks do: the launcher takes the image's start-up snapshot, which the
    // init container copied beside the clone because the image was built from that source.
    const podName = (pod?.metadata as { name: string }).name;
    expect(await kubectl(['-n', NS, 'logs', podName, '-c', 'clone-source'])).toContain("running the image's bundle");
    const cmdline = (await kubectl(['-n', NS, 'exec', podName, '-c', 'serve', '--', 'cat', '/proc/1/cmdline'])).split('\0');
    expect(cmdline).toEqual(expect.arrayContaining(['--snapshot-blob', '/work/src/dist/snapshot.blob', 'serve']));
    serve = await portForward(NS, SERVE_NAME, 80);
    const health = await fetch(url('/healthz'));
    expect(health.status).toBe(200);
  });

  let sha = '';
  let pushed = 0;
  it('armed, a pushed commit and its signed hook: one woken observer Job dispatches once, the closer woken by the run\'s end makes it Succeeded, no schedule involved', async () => {
    await cliOk(inst.registry, ['kill-switch', 'off', '--confirm', '--reason', 'cluster suite (serve)']);
    await cliOk(inst.registry, ['arm', '--follower', APP.id, '--confirm', '--reason', 'cluster suite (serve)']);
    expect(await jobs()).toEqual([]);
    sha = await app.commit('pushed, then hooked');
    await app.push();
    pushed = Date.now();
    // What the mirror's post-receive hook sends (README, "Push hooks"): the generic form, signed.
    const hook = forgePush('generic', { repo: APP.repo, branch: APP.branch, after: sha, secret: SECRET });
    const first = await sendHook(url(''), hook);
    const answered = Date.now();
    expect(first.status, first.text).toBe(202);
    // The same delivery again (a forge's retry) is remembered; a second delivery of the same push
    // (another sender) finds the Job of (repository, sha) already there. Neither adds a Job.
    expect((await sendHook(url(''), hook)).status).toBe(200);
    expect((await sendHook(url(''), forgePush('github', { repo: APP.repo, branch: APP.branch, after: sha, secret: SECRET }))).status).toBe(202);

    const r = await waitFor(
      `${APP.id} Succeeded at the pushed sha`,
      async () => {
        const s = await row();
        return s.phase === 'Succeeded' && s.lastSucceededSha === sha ? s : undefined;
      },
      300_000,
      1_000,
    );
    expect(r.targetSha).toBe(sha);
    expect((await getJson(['-n', APPS, 'get', 'deployment', APP.id])).metadata.annotations?.[DEPLOYED]).toBe(sha);

    // Exactly three Jobs: the woken observer, the dispatch, the woken closer; none scheduled.
    const all = await jobs();
    const dispatch = all.filter((j) => j.metadata.labels?.['app.kubernetes.io/component'] === 'dispatch');
    expect(dispatch.map((j) => j.metadata.labels?.['branch-follower.dev/sha'])).toEqual([sha]);
    const dispatchName = dispatch[0]?.metadata.name ?? '';
    const poke = pokeJobName(APP.repo, sha);
    const wake = closerWakeJobName(dispatchName);
    expect(poke).toMatch(/^bf-poke-/);
    expect(wake).toMatch(/^bf-wake-/);
    expect(all.map((j) => j.metadata.name).sort()).toEqual([dispatchName, poke, wake].sort());
    const byName = new Map(all.map((j) => [j.metadata.name, j]));
    expect(byName.get(poke)?.metadata.labels?.['app.kubernetes.io/component']).toBe('observer');
    expect(byName.get(poke)?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'branch-follower-observer' });
    expect(byName.get(poke)?.metadata.annotations?.[WOKEN_BY_ANNOTATION]).toBe(`push to ${APP.repo} at ${sha.slice(0, 12)}`);
    expect(byName.get(wake)?.metadata.labels?.['app.kubernetes.io/component']).toBe('closer');
    expect(byName.get(wake)?.metadata.annotations?.[WOKEN_BY_ANNOTATION]).toBe(`end of ${dispatchName}`);
    for (const j of all) {
      // Made by hand (serve, as `kubectl create job --from` does) or by the observer's dispatch: never by a schedule.
      if (j.metadata.name !== dispatchName) expect(j.metadata.annotations?.['cronjob.kubernetes.io/instantiate']).toBe('manual');
      expect(jobFinished(j) ?? (await waitForJob(NS, j.metadata.name))).toBe('Complete');
    }
    // The woken observer's pod dispatched; the woken closer's pod recorded Succeeded.
    expect(await jobLogs(NS, poke)).toContain(dispatchName);
    expect(await jobLogs(NS, wake)).toMatch(/Succeeded/);
    const events = JSON.parse(await cliOk(inst.registry, ['events', '--follower', APP.id, '-o', 'json'])) as { events: { at: string; to: string; sha: string | null }[] };
    // A follower seen first by the woken tick: one dispatch, one Succeeded.
    const [succeeded, ...again] = events.events.filter((e) => e.to === 'Succeeded');
    expect(again).toEqual([]);
    expect(succeeded?.sha ?? sha).toBe(sha);
    const log = await serveLog();
    expect(log).toContain(`observer woken: created Job ${NS}/${poke}`);
    expect(log).toContain(`closer woken: created Job ${NS}/${wake}`);
    expect(log).toContain(`observer already woken: found Job ${NS}/${poke}`);

    // The figures: push → Succeeded against the deploy pod's own run (start → finish).
    const at = Date.parse(succeeded?.at ?? '');
    const [p, d, w] = await Promise.all([jobTimes(poke), jobTimes(dispatchName), jobTimes(wake)]);
    const rel = (t: number): string => secs(t - pushed);
    const total = at - pushed;
    const deploy = d.finished - d.podStart;
    console.log(
      [
        `push → Succeeded through serve on the real cluster (times from the push; server times are whole seconds):`,
        `  hook answered 202                 ${rel(answered)}`,
        `  observer woken: ${p.job} created ${rel(p.created)}, pod start ${rel(p.podStart)}, tick ${rel(p.started)} → ${rel(p.finished)}`,
        `  dispatch: ${d.job} created ${rel(d.created)}, pod start ${rel(d.podStart)}, deploy ${rel(d.started)} → ${rel(d.finished)}`,
        `  closer woken: ${w.job} created ${rel(w.created)}, pod start ${rel(w.podStart)}, tick ${rel(w.started)} → ${rel(w.finished)}`,
        `  Succeeded recorded                ${rel(at)}`,
        `push → Succeeded ${secs(total)}; the deploy's own run (pod start → finish) ${secs(deploy)}; overhead ${secs(total - deploy)} (goal ≤ 15 s)`,
      ].join('\n'),
    );
  });

  it('GET /metrics and / from the real pod: 200, the follower\'s phase as the state store holds it (serve\'s Role reads the ConfigMaps)', async () => {
    const metrics = await fetch(url('/metrics'));
    const text = await metrics.text();
    expect(metrics.status, text.slice(0, 300)).toBe(200);
    expect(text).toContain(`branch_follower_phase{follower="${APP.id}",phase="Succeeded"} 1`);
    expect(text).toContain(`branch_follower_phase{follower="${APP.id}",phase="Blocked"} 0`);
    expect(text).toContain(`branch_follower_armed{follower="${APP.id}"} 1`);
    const page = await fetch(url('/'));
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain(APP.id);
    expect(html).toContain('Succeeded');
    const one = await fetch(url(`/followers/${APP.id}`));
    expect(one.status).toBe(200);
    expect(await one.text()).toContain(sha.slice(0, 7));
  });

  it('the woken ticks left their summaries as termination messages; serve counts them and keeps the totals in its ConfigMap', async () => {
    // The kubelet read each tick's /dev/termination-log (a read-only root filesystem, and still written).
    const pods = await list(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component in (observer,closer)']);
    const messages = pods.flatMap((p) => ((p.status?.['containerStatuses'] as ContainerStatus[] | undefined) ?? []).flatMap((c) => (c.state?.terminated?.message ? [c.state.terminated.message] : [])));
    const summaries = messages.map((m) => decodeSummary(m));
    expect(summaries.length, JSON.stringify(messages)).toBeGreaterThanOrEqual(2);
    expect(summaries.every((s) => s !== null), JSON.stringify(messages)).toBe(true);
    expect(summaries.some((s) => s?.loop === 'observer' && s.reads.some((r) => r[0] === APP.repo && r[1] === 'ok'))).toBe(true);
    // serve folds them in (its tick totals are re-read at most every 15 s).
    const count = (text: string, loop: string): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`branch_follower_ticks_total{loop="${loop}",`))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const text = await waitFor(
      'tick counts at /metrics',
      async () => {
        const t = await (await fetch(url('/metrics'))).text();
        return count(t, 'observer') >= 1 && count(t, 'closer') >= 1 ? t : undefined;
      },
      60_000,
      2_000,
    );
    expect(text).toMatch(new RegExp(`branch_follower_repository_reads_total\\{repository="${APP.repo}",outcome="ok"\\} [1-9]`));
    expect(text).toContain(`branch_follower_repository_last_read_outcome{repository="${APP.repo}",outcome="ok"} 1`);
    // Kept where a restart of serve finds them (serve's Role updates that one ConfigMap, by name).
    const cm = await getJson(['-n', NS, 'get', 'configmap', TICK_METRICS_CONFIGMAP]);
    const kept = TickTotals.parse(JSON.parse((cm as { data?: Record<string, string> }).data?.['totals.json'] ?? 'null'));
    expect(kept.loops.observer.duration.count).toBeGreaterThanOrEqual(1);
    expect(kept.counted.length).toBeGreaterThanOrEqual(2);
  });

  it('serve\'s own Role sufficed and its probes held: no Forbidden in its log, no restart', async () => {
    const log = await serveLog();
    expect(log).not.toMatch(/forbidden/i);
    expect(log).not.toMatch(/serve: cannot (watch|list)/);
    const [pod] = await list(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=serve']);
    const statuses = (pod?.status?.['containerStatuses'] as ContainerStatus[] | undefined) ?? [];
    expect(statuses.map((c) => [c.name, c.restartCount])).toEqual([['serve', 0]]);
    expect(pushed).toBeGreaterThan(0);
  });
});
