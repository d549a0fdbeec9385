// The Kubernetes driver end to end: the CLI as a subprocess against the API-server double, with
// the test playing the cluster's controllers (Job controller, the deploy, Tekton). Every phase,
// a write race between the two loops, a crash between Job creation and the state write, a
// dry-run that only reads, idle ticks whose cost does not grow with the number of followers, and
// plan/apply.
import { afterEach, describe, expect, it } from 'vitest';
import { runName } from '../../src/core/run-name.ts';
import { FollowerState } from '../../src/core/state.ts';
import { CRONJOB_V1, CRONJOB_V1BETA1, type KubeObject, type RequestRecord } from '../support/apiserver-double.ts';
import {
  ARMING_CM,
  LABEL_ATTEMPT,
  LABEL_FOLLOWER,
  LABEL_SHA,
  NAMESPACE,
  STATE_PREFIX,
  createK8sWorld,
  type K8sFollowerDef,
  type K8sWorld,
} from '../support/k8s-world.ts';

let worlds: K8sWorld[] = [];
afterEach(async () => {
  await Promise.all(worlds.map((w) => w.cleanup()));
  worlds = [];
});
const world = async (followers: readonly K8sFollowerDef[], opts?: Parameters<typeof createK8sWorld>[1]): Promise<K8sWorld> => {
  const w = await createK8sWorld(followers, opts);
  worlds.push(w);
  return w;
};

const A: K8sFollowerDef = { id: 'alpha', repo: 'pikasTech/HWLAB', branch: 'v0.3', checks: ['trigger', 'pipeline', 'target'], budgets: { triggerSeconds: 123 } };
const phaseOf = (r: { followers: { id: string; phase: string | null }[] }, id: string): string | null => r.followers.find((f) => f.id === id)?.phase ?? null;
const name = (o: KubeObject): string => o.metadata?.name ?? '';
const data = (o: KubeObject | undefined): Record<string, string> => (o?.['data'] as Record<string, string> | undefined) ?? {};
type EventLine = { at: string; from: string; to: string; sha: string | null; attempt: number | null; reason: string; source: string };
const eventsOf = async (w: K8sWorld, id: string): Promise<EventLine[]> => {
  const r = await w.cli(['events', '--follower', id, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { events: EventLine[] }).events;
};
const coreEvents = (w: K8sWorld, id: string): KubeObject[] =>
  w.api.store.list('events', NAMESPACE).filter((e) => e.metadata?.labels?.[LABEL_FOLLOWER] === id);
const readsOnly = (records: RequestRecord[]): string[] => records.filter((r) => !['get', 'list', 'discovery'].includes(r.verb)).map((r) => `${r.method} ${r.path}`);

describe('kubernetes driver, end to end through the CLI against the API-server double', () => {
  it('moves through Observed, Noop, Skipped, PendingTrigger, Triggering, ClosingOut and Succeeded, with state, arming, Jobs, events and logs in the cluster', async () => {
    const w = await world([A]);
    const first = await w.git.commit(A.repo, A.branch);

    // Observed: the source is read, the target workload does not exist yet (within its budget).
    const t1 = await w.tick('observer');
    expect(t1.code, t1.stderr).toBe(0);
    expect(phaseOf(t1, A.id)).toBe('Observed');
    const cm = w.stateConfigMap(A.id);
    expect(name(cm ?? {})).toBe(`${STATE_PREFIX}${A.id}`);
    expect(cm?.metadata?.labels).toMatchObject({
      'app.kubernetes.io/name': 'branch-follower',
      'app.kubernetes.io/managed-by': 'branch-follower',
      'app.kubernetes.io/component': 'state',
      [LABEL_FOLLOWER]: A.id,
    });
    const observed = FollowerState.parse(JSON.parse(data(cm)['state.json'] ?? ''));
    expect(observed.phase).toBe('Observed');
    expect(observed.observedSha).toBe(first);
    expect(observed.reason).toContain('not found');

    // Noop: the workload carries the observed sha.
    w.setTarget(A.id, first);
    expect(phaseOf(await w.tick('observer'), A.id)).toBe('Noop');
    expect(w.storedState(A.id)?.targetSha).toBe(first);

    // Skipped: a fresh cluster has no arming ConfigMap, which counts as disarmed.
    const second = await w.git.commit(A.repo, A.branch);
    expect(w.api.store.get('configmaps', NAMESPACE, ARMING_CM)).toBeUndefined();
    const skipped = await w.tick('observer');
    expect(phaseOf(skipped, A.id)).toBe('Skipped');
    expect(skipped.followers[0]?.reason).toContain('disarmed');
    expect(w.jobs()).toEqual([]);

    // Arming edits the ConfigMap: without --confirm nothing; with it, compare-and-swap.
    const unconfirmed = await w.cli(['kill-switch', 'off', '--reason', 'test']);
    expect(unconfirmed.stdout).toContain('nothing changed');
    expect(w.api.store.get('configmaps', NAMESPACE, ARMING_CM)).toBeUndefined();
    expect((await w.cli(['kill-switch', 'off', '--confirm', '--reason', 'release for the test', '--by', 'ops@example'])).code).toBe(0);
    const released = w.api.store.get('configmaps', NAMESPACE, ARMING_CM);
    expect(JSON.parse(data(released)['killSwitch'] ?? '{}')).toMatchObject({ on: false, by: 'ops@example', reason: 'release for the test' });
    // Another operator allowlists someone between `arm`'s read and its write: arm's PUT carries
    // the old resourceVersion, answers 409, and arm re-reads and re-applies on top.
    let raced = false;
    w.api.faults.add({
      match: (req) => {
        if (!raced && req.verb === 'update' && req.name === ARMING_CM) {
          raced = true;
          const live = data(w.api.store.get('configmaps', NAMESPACE, ARMING_CM));
          const other = [{ id: 'other', by: 'someone@else', at: new Date().toISOString(), reason: 'concurrent edit' }];
          w.api.store.patch('configmaps', NAMESPACE, ARMING_CM, { data: { ...live, allowlist: JSON.stringify(other) } });
        }
        return false;
      },
      respond: { status: 500 },
    });
    const armed = await w.cli(['arm', '--follower', A.id, '--confirm', '--reason', 'go', '--by', 'ops@example']);
    expect(armed.code, armed.stderr).toBe(0);
    w.api.faults.clear();
    expect(w.api.requests.all({ verb: 'update', name: ARMING_CM }).map((r) => r.status)).toEqual([409, 200]);
    const allow = JSON.parse(data(w.api.store.get('configmaps', NAMESPACE, ARMING_CM))['allowlist'] ?? '[]') as { id: string; by: string; reason: string }[];
    expect(allow.map((e) => e.id).sort()).toEqual([A.id, 'other']);
    expect(allow.find((e) => e.id === A.id)).toMatchObject({ by: 'ops@example', reason: 'go' });

    // PendingTrigger, as run-once --dry-run shows it, without writing.
    const before = w.api.requests.count();
    const dry = await w.cli(['run-once', '--all', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('PendingTrigger');
    expect(dry.stdout).toContain(`dispatch ${runName(A.id, second, 2, 1)}`);
    expect(readsOnly(w.api.requests.all().slice(before))).toEqual([]);

    // Triggering: one Job, named from (follower, sha, attempt), running the argv.
    const trig = await w.tick('observer');
    expect(phaseOf(trig, A.id)).toBe('Triggering');
    const jobs = w.jobs(A.id);
    expect(jobs.map(name)).toEqual([runName(A.id, second, 2, 1)]);
    const job = jobs[0] as KubeObject;
    expect(job.metadata?.labels).toMatchObject({ [LABEL_FOLLOWER]: A.id, [LABEL_SHA]: second, [LABEL_ATTEMPT]: '1', 'app.kubernetes.io/component': 'dispatch' });
    const spec = job['spec'] as { backoffLimit: number; activeDeadlineSeconds: number; template: { spec: { containers: { command: string[]; env: { name: string; value: string }[] }[] } } };
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(123);
    const container = spec.template.spec.containers[0];
    expect(container?.command).toEqual(['deploy', '--follower', A.id, '--confirm']);
    expect(container?.env).toEqual(expect.arrayContaining([{ name: 'BRANCH_FOLLOWER_SHA', value: second }, { name: 'BRANCH_FOLLOWER_ATTEMPT', value: '1' }]));
    expect(w.storedState(A.id)?.inFlight).toMatchObject({ name: runName(A.id, second, 2, 1), kind: 'Job', sha: second, attempt: 1 });
    const row = await w.row(A.id);
    expect(row).toMatchObject({ phase: 'Triggering', lastTriggeredSha: second, inFlight: { name: runName(A.id, second, 2, 1), kind: 'Job', sha: second, attempt: 1 } });
    expect(row.source).toMatchObject({ repo: A.repo, branch: A.branch, observedSha: second });

    // logs: the pod log of the follower's Job.
    w.startJob(name(job), `rolling out ${second}\nstep 2 of 2 done\n`);
    const logs = await w.cli(['logs', '--follower', A.id]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain(`rolling out ${second}\nstep 2 of 2 done`);
    expect(logs.stdout).toContain(name(job));

    // ClosingOut: the Job completed; the PipelineRun and the target are still behind.
    w.finishJob(name(job), { ok: true });
    const closing = await w.tick('closer');
    expect(phaseOf(closing, A.id)).toBe('ClosingOut');
    expect(closing.followers[0]?.reason).toContain('pipeline');

    // Succeeded: Tekton's run succeeded and the workload carries the sha.
    w.setPipelineRun(A.id, second, 'True');
    w.setTarget(A.id, second);
    const done = await w.tick('closer');
    expect(phaseOf(done, A.id)).toBe('Succeeded');
    const final = w.storedState(A.id);
    expect(final?.lastSucceededSha).toBe(second);
    expect(final?.lastTriggeredSha).toBe(second);
    expect(final?.inFlight).toBeNull();
    expect(w.jobs()).toHaveLength(1);

    // Events: each transition a core/v1 Event on the state ConfigMap, reason = the new phase.
    const core = coreEvents(w, A.id);
    expect(core.map((e) => e['reason'])).toEqual(['Noop', 'Skipped', 'PendingTrigger', 'Triggering', 'ClosingOut', 'Succeeded']);
    for (const e of core) expect(e['involvedObject']).toMatchObject({ kind: 'ConfigMap', name: `${STATE_PREFIX}${A.id}`, namespace: NAMESPACE });
    // `events` merges them with the stored history: an Event lost in the cluster still shows
    // (from the history), and an Event older than the history shows too.
    const lost = core.find((e) => e['reason'] === 'Skipped') as KubeObject;
    w.api.store.delete('events', NAMESPACE, name(lost));
    w.api.store.put('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${STATE_PREFIX}${A.id}.old`,
        namespace: NAMESPACE,
        labels: { 'app.kubernetes.io/name': 'branch-follower', 'app.kubernetes.io/managed-by': 'branch-follower', [LABEL_FOLLOWER]: A.id },
        annotations: { 'branch-follower.dev/from': 'Noop', 'branch-follower.dev/to': 'Blocked', 'branch-follower.dev/at': '2020-01-01T00:00:00.000Z' },
      },
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: `${STATE_PREFIX}${A.id}`, namespace: NAMESPACE },
      reason: 'Blocked',
      message: 'an old run, before the history began',
      type: 'Warning',
    });
    const merged = await eventsOf(w, A.id);
    expect(merged.map((e) => e.to)).toEqual(['Blocked', 'Noop', 'Skipped', 'PendingTrigger', 'Triggering', 'ClosingOut', 'Succeeded']);
    expect(merged[0]?.reason).toBe('an old run, before the history began');
  });

  it('goes Superseded, Failed (and retries), then Blocked, every transition an Event; a new commit clears Blocked', async () => {
    const B: K8sFollowerDef = { id: 'bravo', repo: 'pikasTech/agentrun', branch: 'v0.2' };
    const w = await world([B]);
    w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    w.armDirect();
    const old = await w.git.commit(B.repo, B.branch);
    expect(phaseOf(await w.tick('observer'), B.id)).toBe('Triggering');
    const newest = await w.git.commit(B.repo, B.branch);

    // Superseded: the old Job is waited out, never killed by default.
    const sup = await w.tick('observer');
    expect(phaseOf(sup, B.id)).toBe('Superseded');
    expect(w.jobs().map(name)).toEqual([runName(B.id, old, 1, 1)]);
    w.finishJob(runName(B.id, old, 1, 1), { deploy: true });
    expect((await w.tick('closer')).followers[0]?.reason).toContain('decides nothing');
    // Once the old dispatch finished, the newest sha goes out at once.
    expect(phaseOf(await w.tick('observer'), B.id)).toBe('Triggering');
    expect(w.jobs().map(name)).toEqual([runName(B.id, old, 1, 1), runName(B.id, newest, 2, 1)]);

    // Failed: the Job failed; a retry follows within maxAttempts (2) under the next name.
    w.finishJob(runName(B.id, newest, 2, 1), { ok: false });
    const failed = await w.tick('closer');
    expect(phaseOf(failed, B.id)).toBe('Failed');
    expect(failed.followers[0]?.reason).toContain('BackoffLimitExceeded');
    expect(phaseOf(await w.tick('observer'), B.id)).toBe('Triggering');
    expect(w.jobs().map(name)).toEqual([runName(B.id, old, 1, 1), runName(B.id, newest, 2, 1), runName(B.id, newest, 2, 2)]);

    // Blocked: the second attempt failed too; more ticks never retry it.
    w.finishJob(runName(B.id, newest, 2, 2), { ok: false });
    const blocked = await w.tick('closer');
    expect(phaseOf(blocked, B.id)).toBe('Blocked');
    expect(blocked.followers[0]?.reason).toContain('attempts exhausted');
    expect(blocked.followers[0]?.reason).toContain('unblock:');
    expect(phaseOf(await w.tick('observer'), B.id)).toBe('Blocked');
    expect(w.jobs()).toHaveLength(3);

    const core = coreEvents(w, B.id);
    expect(core.map((e) => e['reason'])).toEqual(['PendingTrigger', 'Triggering', 'Superseded', 'PendingTrigger', 'Triggering', 'Failed', 'PendingTrigger', 'Triggering', 'Blocked']);
    expect(core.filter((e) => e['type'] === 'Warning').map((e) => e['reason'])).toEqual(['Failed', 'Blocked']);

    // A new commit clears Blocked and is dispatched (newest sha only).
    const fixed = await w.git.commit(B.repo, B.branch);
    expect(phaseOf(await w.tick('observer'), B.id)).toBe('Triggering');
    expect(w.jobs().map(name).at(-1)).toBe(runName(B.id, fixed, 3, 1));
    const history = w.storedState(B.id)?.history ?? [];
    expect(history.map((t) => t.to)).toContain('Blocked');
    expect(history.at(-1)).toMatchObject({ to: 'Triggering', sha: fixed });
  });

  for (const held of ['closer', 'observer'] as const) {
    it(`a write race between observer and closer loses no update (the ${held}'s PUT lands second)`, async () => {
      const w = await world([{ id: 'race', repo: 'o/race', branch: 'main' }]);
      const id = 'race';
      w.setTarget(id, await w.git.commit('o/race', 'main'));
      w.armDirect();
      const first = await w.git.commit('o/race', 'main');
      expect(phaseOf(await w.tick('observer'), id)).toBe('Triggering');
      // The run concludes (the closer wants Succeeded) while the source moves on (the observer
      // wants Superseded and the newest dispatched): both write the same ConfigMap.
      w.finishJob(runName(id, first, 1, 1), { deploy: true });
      const newest = await w.git.commit('o/race', 'main');
      const cm = `${STATE_PREFIX}${id}`;
      const rvBefore = Number(w.stateConfigMap(id)?.metadata?.resourceVersion);
      const HOLD_MS = 6_000;
      let arrived: (at: number) => void = () => undefined;
      const arrival = new Promise<number>((r) => (arrived = r));
      // Hold the first tick's PUT of the state in the server while the other tick runs whole.
      w.api.faults.add({
        match: (req) => {
          if (req.verb === 'update' && req.name === cm) {
            arrived(Date.now());
            return true;
          }
          return false;
        },
        respond: { delayMs: HOLD_MS },
      });
      const other = held === 'closer' ? 'observer' : 'closer';
      const slow = w.tick(held);
      const heldAt = await arrival;
      const fast = await w.tick(other);
      // On a very slow machine the other tick may outlast the hold; then the order flips, and
      // only the order-free checks below apply.
      const orderAsPlanned = Date.now() < heldAt + HOLD_MS;
      const late = await slow;
      expect(fast.code, fast.stderr).toBe(0);
      expect(late.code, late.stderr).toBe(0);

      const puts = w.api.requests.all({ verb: 'update', name: cm });
      // Exactly one PUT lost (409): the held one carried the resourceVersion both ticks read.
      const lost = puts.filter((r) => r.status === 409).length;
      if (orderAsPlanned) expect(lost).toBe(1);
      else expect(lost).toBeLessThanOrEqual(1);
      const state = w.storedState(id) as FollowerState;
      // History is one unbroken chain: every write started from the state before it.
      const history = state.history;
      for (let i = 1; i < history.length; i++) expect(history[i]?.from, JSON.stringify(history)).toBe(history[i - 1]?.to);
      // Each transition is an Event too, emitted once, by the write that won it.
      expect(coreEvents(w, id).map((e) => e['reason'])).toEqual(history.map((t) => t.to));
      expect(Number(w.stateConfigMap(id)?.metadata?.resourceVersion)).toBeGreaterThan(rvBefore);
      if (orderAsPlanned && held === 'observer') {
        // The closer won: the old run Succeeded; the observer re-read and dispatched the newest on top.
        expect(history.map((t) => t.to)).toContain('Succeeded');
        expect(history.find((t) => t.to === 'Succeeded')?.sha).toBe(first);
      } else if (orderAsPlanned) {
        // The observer won: the run was superseded; the closer re-read and left the replaced run alone.
        expect(history.map((t) => t.to)).toContain('Superseded');
      }
      // Either way the newest sha is in flight exactly once, and it ends Succeeded.
      expect(state.inFlight?.sha).toBe(newest);
      expect(w.jobs().map(name)).toEqual([runName(id, first, 1, 1), runName(id, newest, 2, 1)]);
      w.settleJobs({ deploy: true });
      expect(phaseOf(await w.tick('closer'), id)).toBe('Succeeded');
      expect(w.storedState(id)?.lastSucceededSha).toBe(newest);
    });
  }

  it('a crash between Job creation and the state write: the next tick adopts the Job, never creates a second', async () => {
    const id = 'crash';
    const w = await world([{ id, repo: 'o/crash', branch: 'main' }]);
    w.setTarget(id, await w.git.commit('o/crash', 'main'));
    w.armDirect();
    expect(phaseOf(await w.tick('observer'), id)).toBe('Noop');
    const sha = await w.git.commit('o/crash', 'main');
    const job = runName(id, sha, 2, 1);
    const cm = `${STATE_PREFIX}${id}`;
    // Once the Job is POSTed, every PUT of the state drops the connection: the retries give up
    // and the tick ends with the Job created and not recorded.
    let jobPosted = false;
    w.api.faults.add({
      match: (req) => {
        if (req.verb === 'create' && req.resource === 'jobs') jobPosted = true;
        return false;
      },
      respond: { status: 500 },
    });
    const drop = w.api.faults.add({ match: (req) => jobPosted && req.verb === 'update' && req.name === cm, times: 1_000, respond: { drop: true } });
    const crashed = await w.tick('observer');
    expect(crashed.code).toBe(1);
    expect(crashed.followers[0]?.error).toBeTruthy();
    expect(drop.hits).toBeGreaterThan(1);
    w.api.faults.clear();
    expect(w.jobs().map(name)).toEqual([job]);
    // What the crash left: the dispatch written ahead (PendingTrigger), the run not recorded.
    const left = w.storedState(id);
    expect(left?.phase).toBe('PendingTrigger');
    expect(left?.pending?.name).toBe(job);
    expect(left?.inFlight).toBeNull();

    const next = await w.tick('observer');
    expect(next.code, next.stderr).toBe(0);
    expect(phaseOf(next, id)).toBe('Triggering');
    expect(w.storedState(id)?.inFlight?.name).toBe(job);
    expect(w.jobs().map(name)).toEqual([job]);
    const posts = w.api.requests.all({ verb: 'create', resource: 'jobs' });
    expect(posts.every((r) => r.name === job)).toBe(true);
    expect(posts.filter((r) => r.status === 201)).toHaveLength(1);

    // And a Job POST that landed but whose answer was lost: the retry answers AlreadyExists, adopted.
    w.finishJob(job, { deploy: true });
    expect(phaseOf(await w.tick('closer'), id)).toBe('Succeeded');
    const sha2 = await w.git.commit('o/crash', 'main');
    const job2 = runName(id, sha2, 3, 1);
    w.api.faults.add({ match: { verb: 'create', resource: 'jobs' }, respond: { drop: true, afterCommit: true } });
    const adopted = await w.tick('observer');
    expect(adopted.followers[0]?.dispatched).toBe(`${job2} (adopted)`);
    expect(w.api.requests.all({ verb: 'create', resource: 'jobs', name: job2 }).map((r) => r.status)).toEqual([0, 409]);
    expect(w.jobs().map(name)).toEqual([job, job2]);
    w.settleJobs({ deploy: true });
    expect(phaseOf(await w.tick('closer'), id)).toBe('Succeeded');
    expect(w.storedState(id)?.lastSucceededSha).toBe(sha2);
  });

  it('a dispatch written ahead by a pod that is gone is taken over on the next tick, not 300 s later; a live pod keeps it', async () => {
    const id = 'orphan';
    const w = await world([{ id, repo: 'o/orphan', branch: 'main' }]);
    w.setTarget(id, await w.git.commit('o/orphan', 'main'));
    w.armDirect();
    expect(phaseOf(await w.tick('observer'), id)).toBe('Noop');
    // The observer pod, as the CronJob's downward API names it to the tick.
    const pod = w.api.store.put('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'branch-follower-observer-29000000-abcde', namespace: NAMESPACE },
      spec: { containers: [{ name: 'observer', image: 'ghcr.io/branch-follower/branch-follower:0.1.0' }] },
      status: { phase: 'Running' },
    });
    const podEnv = { BRANCH_FOLLOWER_POD_NAME: name(pod), BRANCH_FOLLOWER_POD_UID: String(pod.metadata?.uid) };
    const old = await w.git.commit('o/orphan', 'main');
    // It writes the dispatch ahead, and its Job create is refused: the pending stays, never made.
    w.api.faults.add({ match: { verb: 'create', resource: 'jobs' }, respond: { status: 403 } });
    const first = await w.tick('observer', { env: podEnv });
    expect(first.code).toBe(1);
    w.api.faults.clear();
    expect(w.storedState(id)?.pending).toMatchObject({ sha: old, writer: { kind: 'pod', name: name(pod), uid: podEnv.BRANCH_FOLLOWER_POD_UID } });
    expect(w.jobs()).toEqual([]);

    // A newer commit: while the writer pod runs, its dispatch is left to it (the lease).
    const newest = await w.git.commit('o/orphan', 'main');
    const waiting = await w.tick('observer');
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(phaseOf(waiting, id)).toBe('PendingTrigger');
    expect(w.storedState(id)?.pending?.sha).toBe(old);
    expect(w.jobs()).toEqual([]);

    // The pod is gone: the next tick gives the old dispatch up and dispatches the newest at once.
    w.api.store.delete('pods', NAMESPACE, name(pod));
    w.api.requests.reset();
    const taken = await w.tick('observer');
    expect(taken.code, taken.stderr).toBe(0);
    expect(phaseOf(taken, id)).toBe('Triggering');
    expect(w.jobs().map(name)).toEqual([runName(id, newest, 3, 1)]);
    expect(w.api.requests.all({ verb: 'get', resource: 'pods' }).map((r) => r.name)).toEqual([name(pod)]);
  });

  it('run-once --all --dry-run sends only GET and LIST and prints each follower decision', async () => {
    const fs: K8sFollowerDef[] = [
      { id: 'quiet', repo: 'o/one', branch: 'main' },
      { id: 'moved', repo: 'o/one', branch: 'next' },
      { id: 'inflight', repo: 'o/two', branch: 'main' },
    ];
    const w = await world(fs);
    for (const f of fs) w.setTarget(f.id, await w.git.commit(f.repo, f.branch));
    w.armDirect();
    const running = await w.git.commit('o/two', 'main');
    await w.tick('observer');
    w.finishJob(runName('inflight', running, 1, 1), { deploy: true });
    const next = await w.git.commit('o/one', 'next');
    const rvs = () => w.api.store.list('configmaps', NAMESPACE).map((c) => `${name(c)}@${c.metadata?.resourceVersion}`);
    const revision = w.api.store.revision();
    const before = rvs();
    w.api.requests.reset();
    const dry = await w.cli(['run-once', '--all', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(w.api.requests.writes()).toBe(0);
    expect(Object.keys(w.api.requests.byVerb()).sort()).toEqual(expect.arrayContaining(['get', 'list']));
    expect(readsOnly(w.api.requests.all())).toEqual([]);
    expect(w.api.store.revision()).toBe(revision);
    expect(rvs()).toEqual(before);
    const line = (id: string): string => dry.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
    expect(line('quiet')).toMatch(/^quiet\s+Noop\s/);
    expect(line('moved')).toMatch(/^moved\s+PendingTrigger\s+dispatch /);
    expect(line('moved')).toContain(runName('moved', next, 2, 1));
    expect(line('inflight')).toMatch(/^inflight\s+Succeeded\s/);
    expect(w.jobs().map(name)).toEqual([runName('inflight', running, 1, 1)]);
  });

  it('an idle tick costs the same number of requests for 3 and for 300 followers, and writes nothing', async () => {
    const measure = async (n: number): Promise<{ observer: Record<string, number>; closer: Record<string, number>; oTotal: number; cTotal: number; oShape: string[]; cShape: string[] }> => {
      const repos = ['o/shared-a', 'o/shared-b', 'o/shared-c'];
      const fs = Array.from({ length: n }, (_, i) => ({ id: `f-${String(i).padStart(3, '0')}`, repo: repos[i % repos.length] as string, branch: 'main' }));
      const w = await world(fs);
      const tips = new Map<string, string>();
      for (const r of repos) tips.set(r, await w.git.commit(r, 'main'));
      // Two repos' followers are at their target (Noop); the third's are behind but disarmed (Skipped).
      const deployedC = tips.get('o/shared-c') as string;
      tips.set('o/shared-c', await w.git.commit('o/shared-c', 'main'));
      for (const f of fs) w.setTarget(f.id, f.repo === 'o/shared-c' ? deployedC : (tips.get(f.repo) as string));
      const settle = await w.tick('observer');
      expect(settle.code, settle.stderr).toBe(0);
      expect(new Set(settle.followers.map((f) => f.phase))).toEqual(new Set(['Noop', 'Skipped']));
      expect(w.api.store.list('configmaps', NAMESPACE).filter((c) => name(c).startsWith(STATE_PREFIX))).toHaveLength(n);
      const count = async (loop: 'observer' | 'closer') => {
        const revision = w.api.store.revision();
        w.api.requests.reset();
        const r = await w.tick(loop);
        expect(r.code, r.stderr).toBe(0);
        const wrote = r.followers.filter((f) => f.wrote).slice(0, 3).map((f) => `${f.id} ${f.phase} ${f.reason}`);
        expect(w.api.requests.writes(), `${loop} with ${n}: ${wrote.join('; ')}`).toBe(0);
        expect(w.api.store.revision()).toBe(revision);
        const shape = w.api.requests.all().map((r) => `${r.verb} ${r.resource} limit=${new URLSearchParams(r.query).get('limit')} accept=${r.accept ?? ''}`);
        return { byVerb: w.api.requests.byVerb() as Record<string, number>, total: w.api.requests.count(), shape };
      };
      const o = await count('observer');
      const c = await count('closer');
      return { observer: o.byVerb, closer: c.byVerb, oTotal: o.total, cTotal: c.total, oShape: o.shape, cShape: c.shape };
    };
    const few = await measure(3);
    const many = await measure(300);
    // The figures, for the record: requests per idle tick with 3 and with 300 followers.
    console.log(`idle observer tick: ${few.oTotal} requests with 3 followers ${JSON.stringify(few.observer)}, ${many.oTotal} with 300 ${JSON.stringify(many.observer)}`);
    console.log(`idle closer tick: ${few.cTotal} requests with 3 followers ${JSON.stringify(few.closer)}, ${many.cTotal} with 300 ${JSON.stringify(many.closer)}`);
    expect(many.observer).toEqual(few.observer);
    expect(many.closer).toEqual(few.closer);
    expect(many.oTotal).toBe(few.oTotal);
    expect(many.cTotal).toBe(few.cTotal);
    // One LIST of the states (and the mirror holds beside them), one GET of the arming gate, one LIST of the targets' namespace.
    expect(few.observer).toEqual({ list: 2, get: 1 });
    expect(few.closer).toEqual({ list: 1 });
    // The state LIST is paged (one page at this size) and read as plain JSON; the targets' LIST
    // asks for their metadata alone.
    const json = 'application/json';
    const meta = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
    for (const r of [few, many]) {
      expect([...r.oShape].sort()).toEqual([`get configmaps limit=null accept=${json}`, `list configmaps limit=5000 accept=${json}`, `list deployments limit=5000 accept=${meta}`].sort());
      expect(r.cShape).toEqual([`list configmaps limit=5000 accept=${json}`]);
    }
  });

  it('plan diffs the manifests against the cluster; apply --confirm --wait applies them server-side and creates the arming ConfigMap disarmed, once', async () => {
    const w = await world([A]);
    await w.git.commit(A.repo, A.branch);
    w.api.requests.reset();
    const plan = await w.cli(['plan']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`${A.id} `);
    // The default table shows the target as kubectl names it; -o wide the whole configRef summary.
    expect(plan.stdout).toMatch(new RegExp(`^${A.id} +${A.repo}@${A.branch} +deploy/${A.id} `, 'm'));
    expect((await w.cli(['plan', '-o', 'wide'])).stdout).toContain(`${A.repo}@${A.branch} -> Deployment apps/${A.id} annotation example.dev/deployed-sha`);
    for (const obj of ['Namespace branch-follower', 'ServiceAccount branch-follower/branch-follower', 'Role branch-follower/branch-follower', 'RoleBinding branch-follower/branch-follower', 'ConfigMap branch-follower/branch-follower-registry', 'CronJob branch-follower/branch-follower-observer', 'CronJob branch-follower/branch-follower-closer']) {
      expect(plan.stdout).toMatch(new RegExp(`create\\s+${obj}\\n`));
    }
    expect(w.api.requests.writes()).toBe(0);

    // Without --confirm: the plan, and nothing changed.
    const revision = w.api.store.revision();
    const unconfirmed = await w.cli(['apply']);
    expect(unconfirmed.code, unconfirmed.stderr).toBe(0);
    expect(unconfirmed.stdout).toContain('nothing changed');
    expect(w.api.requests.writes()).toBe(0);
    expect(w.api.store.revision()).toBe(revision);

    const applied = await w.cli(['apply', '--confirm', '--wait']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('created disarmed');
    expect(applied.stdout).toContain('are not suspended');
    const ssa = w.api.requests.all({ verb: 'patch' });
    expect(ssa.length).toBe(plan.stdout.match(/^create\s/gm)?.length);
    for (const r of ssa) {
      expect(r.contentType).toBe('application/apply-patch+yaml');
      expect(r.query).toContain('fieldManager=branch-follower');
    }
    expect(w.api.store.list('cronjobs', NAMESPACE).map(name).sort()).toEqual(['branch-follower-closer', 'branch-follower-observer']);
    expect(data(w.api.store.get('configmaps', NAMESPACE, 'branch-follower-registry'))['cicd-branch-followers.yaml']).toContain(A.id);
    const arming = w.api.store.get('configmaps', NAMESPACE, ARMING_CM);
    expect(JSON.parse(data(arming)['killSwitch'] ?? '{}')).toMatchObject({ on: true });
    expect(JSON.parse(data(arming)['allowlist'] ?? '')).toEqual([]);

    // An operator releases the kill switch; a second apply leaves the arming alone.
    expect((await w.cli(['kill-switch', 'off', '--confirm', '--reason', 'go live'])).code).toBe(0);
    const edited = w.api.store.get('configmaps', NAMESPACE, ARMING_CM);
    const again = await w.cli(['apply', '--confirm']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('present, left as it is');
    expect(again.stdout).not.toMatch(/^(create|update) /m);
    expect(w.api.store.get('configmaps', NAMESPACE, ARMING_CM)).toEqual(edited);
    expect(JSON.parse(data(edited)['killSwitch'] ?? '{}')).toMatchObject({ on: false, reason: 'go live' });
  });

  // CronJob is batch/v1 from Kubernetes 1.21 and batch/v1beta1 only before it (and both between
  // 1.21 and 1.24): apply finds the served version by discovery and installs the same objects.
  for (const [server, api, want] of [
    ['serves CronJob only as batch/v1beta1 (1.20)', { resources: [CRONJOB_V1BETA1], without: [CRONJOB_V1] }, 'v1beta1'],
    ['serves CronJob as batch/v1 and batch/v1beta1 (1.21-1.24)', { resources: [CRONJOB_V1BETA1] }, 'v1'],
  ] as const) {
    it(`apply --confirm --wait installs the CronJobs on a server that ${server}`, async () => {
      const w = await world([A], { api });
      const plan = await w.cli(['plan']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(/create\s+CronJob branch-follower\/branch-follower-observer\n/);
      const applied = await w.cli(['apply', '--confirm', '--wait']);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain(`CronJobs (batch/${want})`);
      const cronCalls = w.api.requests.all({ resource: 'cronjobs' });
      expect(cronCalls.map((r) => r.verb)).toContain('patch');
      expect(new Set(cronCalls.map((r) => r.path.split('/').slice(0, 4).join('/')))).toEqual(new Set([`/apis/batch/${want}`]));
      const stored = w.api.store.list('cronjobs.batch', NAMESPACE);
      expect(stored.map(name).sort()).toEqual(['branch-follower-closer', 'branch-follower-observer']);
      // Unchanged on a second look: the diff reads the objects back in the version it wrote.
      const again = await w.cli(['plan']);
      expect(again.stdout).toMatch(/unchanged CronJob branch-follower\/branch-follower-observer\n/);
    });
  }
});
