// The controller on a real cluster, driven by its own CronJob pods: installed with
// `apply --confirm --wait` from outside, the pods clone the controller source from a git mirror in
// the cluster, and every tick, dispatch and closeout below is done by real pods (extra ticks are
// Jobs made from the CronJobs' templates). One follower, one story, in order.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusRow } from '../../src/core/status-view.ts';
import {
  type Obj,
  cliOk,
  deleteNamespaces,
  getJson,
  jobFinished,
  jobFromCronJob,
  jobLogs,
  kubectl,
  list,
  requireKubeconfig,
  sleep,
  tickNow,
  waitFor,
  waitForJob,
} from './support/cluster.ts';
import { deployMirror, pushControllerSource, workRepo, type Mirror, type WorkRepo } from './support/git-mirror.ts';
import { CONTROLLER_REPO, DEPLOYED, REFUSE, install, writeRegistry, type AppDef, type Install } from './support/install.ts';

const NS = 'bf-ci';
const APPS = 'bf-ci-apps';
const MIRROR = 'bf-ci-mirror';
const APP: AppDef = { id: 'web', repo: 'ci/web', branch: 'main' };
const DISPATCH = `app.kubernetes.io/component=dispatch,branch-follower.dev/follower=${APP.id}`;

let mirror: Mirror;
let inst: Install;
let app: WorkRepo;
let applied = '';

const row = async (): Promise<StatusRow> => {
  const out = JSON.parse(await cliOk(inst.registry, ['status', '-o', 'json'])) as { followers: StatusRow[] };
  const r = out.followers.find((f) => f.id === APP.id);
  if (!r) throw new Error(`no status row for ${APP.id}`);
  return r;
};

const dispatchJobs = async (sha?: string): Promise<Obj[]> =>
  list(['-n', NS, 'get', 'jobs', '-l', sha ? `${DISPATCH},branch-follower.dev/sha=${sha}` : DISPATCH]);

const targetAnnotations = async (): Promise<Record<string, string>> =>
  (await getJson(['-n', APPS, 'get', 'deployment', APP.id])).metadata.annotations ?? {};

/**
 * Runs observer and closer ticks (real pods) until the follower's status satisfies `done`; the
 * scheduled ticks run meanwhile too, as in production.
 */
const tickUntil = async (what: string, done: (r: StatusRow) => boolean, maxRounds = 8): Promise<StatusRow> => {
  for (let i = 0; i < maxRounds; i++) {
    for (const loop of ['observer', 'closer'] as const) {
      const r = await row();
      if (done(r)) return r;
      const t = await tickNow(NS, loop);
      // A tick exits 0, or 3 when it leaves a follower Blocked (a person must act: the Job ends
      // Failed, which is what Job-failure alerts watch); never an error (1) or bad input (2).
      if (t.exitCode === 3) {
        expect(t.result, t.log).toBe('Failed');
        expect((await row()).phase, t.log).toBe('Blocked');
      } else {
        expect([t.result, t.exitCode], t.log).toEqual(['Complete', 0]);
      }
      // A dispatched Job must finish before the closer can fold it.
      for (const j of await dispatchJobs()) if (!jobFinished(j)) await waitForJob(NS, j.metadata.name);
    }
  }
  const last = await row();
  if (done(last)) return last;
  throw new Error(`${what}: still ${last.phase} (${last.reason}) after ${maxRounds} rounds`);
};

beforeAll(async () => {
  requireKubeconfig();
  await deleteNamespaces([NS, APPS, MIRROR]);
  mirror = await deployMirror(MIRROR);
  await pushControllerSource(mirror, CONTROLLER_REPO);
  app = await workRepo(mirror, APP.repo);
  await app.commit('first');
  await app.push();
  inst = await writeRegistry({ namespace: NS, appsNamespace: APPS, mirror, apps: [APP] });
  applied = await install(inst, [APP]);
});

afterAll(async () => {
  mirror?.stop();
  if (inst) await rm(inst.dir, { recursive: true, force: true });
  await app?.remove();
  if (!process.env['BF_CLUSTER_KEEP']) await deleteNamespaces([NS, APPS, MIRROR]);
});

describe('branch-follower on a real cluster, driven by its own CronJob pods', () => {
  it('apply --confirm --wait installed the CronJobs in the version the server serves', async () => {
    expect(applied).toContain('created disarmed');
    const served = JSON.parse(await kubectl(['get', '--raw', '/apis/batch/v1'])) as { resources: { name: string }[] };
    const want = served.resources.some((r) => r.name === 'cronjobs') ? 'batch/v1' : 'batch/v1beta1';
    expect(applied).toContain(`CronJobs (${want})`);
    const names = (await list(['-n', NS, 'get', 'cronjobs'])).map((c) => c.metadata.name).sort();
    expect(names).toEqual(['branch-follower-closer', 'branch-follower-observer']);
  });

  it('ships disarmed: the scheduled observer pod records Skipped and creates no Job', async () => {
    // Waits for the schedule itself: the first Job the CronJob controller makes.
    const scheduled = await waitFor(
      'a scheduled observer Job',
      async () => (await list(['-n', NS, 'get', 'jobs', '-l', 'app.kubernetes.io/component=observer'])).find((j) => j.metadata.annotations?.['cronjob.kubernetes.io/instantiate'] !== 'manual'),
      150_000,
    );
    expect(scheduled.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'branch-follower-observer' });
    expect(await waitForJob(NS, scheduled.metadata.name)).toBe('Complete');
    const r = await row();
    expect(r.phase).toBe('Skipped');
    expect(r.reason).toMatch(/kill switch/);
    expect(await dispatchJobs()).toEqual([]);
    const log = await jobLogs(NS, scheduled.metadata.name);
    expect(log).toContain(`controller source ${mirror.readUrl}/${CONTROLLER_REPO}.git@main`);
  });

  let first = '';
  it('armed from outside with the CLI, a push is dispatched as a Job whose pod deploys with its own ServiceAccount, and the closer folds it to Succeeded', async () => {
    await cliOk(inst.registry, ['kill-switch', 'off', '--confirm', '--reason', 'cluster suite']);
    await cliOk(inst.registry, ['arm', '--follower', APP.id, '--confirm', '--reason', 'cluster suite']);
    first = await app.commit('second');
    await app.push();
    const r = await tickUntil('first deploy', (s) => s.phase === 'Succeeded' && s.lastSucceededSha === first);
    expect(r.targetSha).toBe(first);
    expect((await targetAnnotations())[DEPLOYED]).toBe(first);
    const [job, ...more] = await dispatchJobs(first);
    expect(more).toEqual([]);
    const pod = (await list(['-n', NS, 'get', 'pods', '-l', `job-name=${job?.metadata.name}`]))[0];
    expect(pod?.spec).toMatchObject({ serviceAccountName: 'bf-deployer', automountServiceAccountToken: true });

    const events = await cliOk(inst.registry, ['events', '--follower', APP.id]);
    // ClosingOut shows only when the closer sees the trigger finished before the target agrees;
    // here the deploy stamps the target itself, so one closer tick folds both checks at once.
    for (const phase of ['Skipped', 'PendingTrigger', 'Triggering', 'Succeeded']) expect(events).toContain(phase);
    const core = await list(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.kind=ConfigMap']);
    expect(core.map((e) => (e as unknown as { reason: string }).reason)).toEqual(expect.arrayContaining(['Triggering', 'Succeeded']));
    const logs = await cliOk(inst.registry, ['logs', '--follower', APP.id]);
    expect(logs).toContain(`deployed ${first}`);
    expect(logs).toContain('note from a Secret');
  });

  it('a failing deploy is retried, then Blocked; a new commit clears it', async () => {
    const bad = await app.commit('refused by the deploy');
    await kubectl(['-n', APPS, 'annotate', '--overwrite', 'deployment', APP.id, `${REFUSE}=${bad}`]);
    await app.push();
    const blocked = await tickUntil('retries exhausted', (s) => s.phase === 'Blocked', 10);
    expect(blocked.reason).toMatch(/attempt/i);
    // A scheduled tick may be the one that decided Blocked, so ask the next observer tick: while a
    // follower is Blocked the tick says so with its exit code, in the real pod, and its Job fails.
    const again = await tickNow(NS, 'observer');
    expect([again.result, again.exitCode], again.log).toEqual(['Failed', 3]);
    expect((await row()).phase).toBe('Blocked');
    const jobs = await dispatchJobs(bad);
    expect(jobs.map((j) => j.metadata.labels?.['branch-follower.dev/attempt']).sort()).toEqual(['1', '2']);
    expect(jobs.map(jobFinished)).toEqual(['Failed', 'Failed']);
    expect((await targetAnnotations())[DEPLOYED]).toBe(first);

    const fixed = await app.commit('fixed');
    await app.push();
    const ok = await tickUntil('a new commit clears Blocked', (s) => s.phase === 'Succeeded' && s.lastSucceededSha === fixed);
    expect(ok.targetSha).toBe(fixed);
    expect(await dispatchJobs(bad)).toHaveLength(2);
  });

  it('the brake stops the next dispatch; released, a manual observer Job racing the scheduled one dispatches once', async () => {
    await cliOk(inst.registry, ['kill-switch', 'on', '--reason', 'cluster suite brake']);
    const held = await app.commit('held by the brake');
    await app.push();
    const t = await tickNow(NS, 'observer');
    expect(t.result).toBe('Complete');
    const r = await row();
    expect(r.phase).toBe('Skipped');
    expect(r.source.observedSha).toBe(held);
    expect(await dispatchJobs(held)).toEqual([]);

    // Race: the moment the CronJob controller makes its next observer Job, release the brake and
    // start a manual observer Job; both pods tick the same armed follower at the same time.
    const known = new Set((await list(['-n', NS, 'get', 'jobs', '-l', 'app.kubernetes.io/component=observer'])).map((j) => j.metadata.name));
    const scheduled = await waitFor(
      'the next scheduled observer Job',
      async () => (await list(['-n', NS, 'get', 'jobs', '-l', 'app.kubernetes.io/component=observer'])).find((j) => !known.has(j.metadata.name)),
      90_000,
      250,
    );
    await cliOk(inst.registry, ['kill-switch', 'off', '--confirm', '--reason', 'cluster suite race']);
    const manual = await jobFromCronJob(NS, 'branch-follower-observer');
    expect(await waitForJob(NS, scheduled.metadata.name)).toBe('Complete');
    expect(await waitForJob(NS, manual)).toBe('Complete');
    const jobs = await dispatchJobs(held);
    expect(jobs).toHaveLength(1);
    const logs = `${await jobLogs(NS, scheduled.metadata.name)}\n${await jobLogs(NS, manual)}`;
    console.log(`race: scheduled ${scheduled.metadata.name} and manual ${manual}:\n${logs.split('\n').filter((l) => l.includes(`observer ${APP.id}:`)).join('\n')}`);
    // Only the tick whose compare-and-swap won recorded the dispatch: one transition, one Event.
    const short = held.slice(0, 7);
    const history = (await cliOk(inst.registry, ['events', '--follower', APP.id])).split('\n');
    expect(history.filter((l) => /PendingTrigger\s+Triggering/.test(l) && l.includes(short))).toHaveLength(1);
    const core = await list(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.kind=ConfigMap,reason=Triggering`]);
    expect(core.filter((e) => JSON.stringify(e).includes(short))).toHaveLength(1);
    await tickUntil('the raced dispatch closes out', (s) => s.phase === 'Succeeded' && s.lastSucceededSha === held);
    expect(await dispatchJobs(held)).toHaveLength(1);
  });

  it('the shipped Role suffices: no log line or Event of the controller says Forbidden', async () => {
    const jobs = await list(['-n', NS, 'get', 'jobs']);
    const logs: string[] = [];
    for (const j of jobs) logs.push(await jobLogs(NS, j.metadata.name));
    expect(logs.join('\n')).not.toMatch(/forbidden/i);
    // Nor did the real server refuse anything else the ticks asked (a tick reports such a follower as ERROR).
    expect(logs.join('\n')).not.toMatch(/ ERROR /);
    const events = await kubectl(['-n', NS, 'get', 'events', '-o', 'json']);
    expect(events).not.toMatch(/forbidden/i);
    // The controller's own pods ran as its ServiceAccount.
    const pods = await list(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component in (observer,closer)']);
    expect(pods.length).toBeGreaterThan(0);
    expect(new Set(pods.map((p) => p.spec?.['serviceAccountName']))).toEqual(new Set(['branch-follower']));
    await sleep(0);
  });
});
