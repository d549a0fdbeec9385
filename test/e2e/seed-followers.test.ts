// The three seed followers (hwlab-jd01-v03, agentrun-jd01-v02, web-probe-sentinel-master) from
// the shipped registry and owning configs: plan on the shipped config, a dry-run that writes
// nothing, a full run of each on both drivers (each with its own owning config, target reader and
// PipelineRun labels), and broken configRefs that block only the follower they belong to.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runName } from '../../src/core/run-name.ts';
import { CRONJOB_V1, CRONJOB_V1BETA1, type ApiServerDoubleOptions } from '../support/apiserver-double.ts';
import { LABEL_FOLLOWER, LABEL_SHA, NAMESPACE, SHIPPED_CONFIG, SHIPPED_REGISTRY, createSeedWorld, runCli, type SeedWorld, type Wiring } from '../support/k8s-world.ts';

const HWLAB = 'hwlab-jd01-v03';
const AGENTRUN = 'agentrun-jd01-v02';
const SENTINEL = 'web-probe-sentinel-master';
const IDS = [HWLAB, AGENTRUN, SENTINEL] as const;

/** What each seed follows and deploys to, as DESIGN.md and the owning configs state it. */
const SEEDS = {
  [HWLAB]: {
    repo: 'pikasTech/HWLAB',
    branch: 'v0.3',
    argv: ['hwlab', 'nodes', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'v03', '--confirm', '--wait'],
    target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'hwlab-v03', name: 'hwlab-control-plane', annotation: 'hwlab.dev/source-sha' },
    pipeline: { namespace: 'hwlab-ci', labels: { 'hwlab.dev/node': 'JD01', 'hwlab.dev/lane': 'v03' }, shaLabel: 'hwlab.dev/source-sha' },
    summary: 'pikasTech/HWLAB@v0.3 -> Deployment hwlab-v03/hwlab-control-plane annotation hwlab.dev/source-sha (hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime)',
  },
  [AGENTRUN]: {
    repo: 'pikasTech/agentrun',
    branch: 'v0.2',
    argv: ['agentrun', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'jd01-v02', '--confirm', '--wait'],
    target: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'agentrun-jd01', name: 'agentrun', annotation: 'agentrun.dev/source-sha' },
    pipeline: { namespace: 'agentrun-ci', labels: { 'agentrun.dev/node': 'JD01', 'agentrun.dev/lane': 'jd01-v02' }, shaLabel: 'agentrun.dev/source-sha' },
    summary: 'pikasTech/agentrun@v0.2 -> StatefulSet agentrun-jd01/agentrun annotation agentrun.dev/source-sha (agentrun.yaml#lanes.jd01-v02.runtime)',
  },
  [SENTINEL]: {
    repo: 'pikasTech/unidesk',
    branch: 'master',
    argv: ['web-probe', 'sentinel', 'publish-current', '--node', 'JD01', '--lane', 'v03', '--sentinel', 'jd01-web-probe-sentinel', '--confirm', '--wait'],
    target: { apiVersion: 'batch/v1', kind: 'CronJob', namespace: 'hwlab-v03', name: 'jd01-web-probe-sentinel', annotation: 'web-probe.hwlab.dev/published-sha' },
    pipeline: {
      namespace: 'hwlab-ci',
      labels: { 'web-probe.hwlab.dev/sentinel': 'jd01-web-probe-sentinel', 'hwlab.dev/node': 'JD01' },
      shaLabel: 'web-probe.hwlab.dev/source-sha',
    },
    summary:
      'pikasTech/unidesk@master -> CronJob hwlab-v03/jd01-web-probe-sentinel annotation web-probe.hwlab.dev/published-sha (hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.runtime)',
  },
} as const;

let worlds: SeedWorld[] = [];
afterEach(async () => {
  await Promise.all(worlds.map((w) => w.cleanup()));
  worlds = [];
});
const seedWorld = async (driver: 'local' | 'kubernetes', api?: ApiServerDoubleOptions): Promise<SeedWorld> => {
  const w = await createSeedWorld({ driver, ...(api ? { api } : {}) });
  worlds.push(w);
  return w;
};

/** Every file under a directory with its bytes (directories by mtime), to prove nothing changed. */
const snapshot = (dir: string): Map<string, string> => {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${relative(dir, p)}/`, String(statSync(p).mtimeMs));
        walk(p);
      } else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
};

const plural: Record<string, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', CronJob: 'cronjobs' };
const objectAt = (w: SeedWorld, t: Wiring['target']) => w.api.store.get(plural[t.kind] ?? t.kind, t.namespace, t.name);
const pipelineRunsOf = (w: SeedWorld, id: (typeof IDS)[number], sha: string) => {
  const p = SEEDS[id].pipeline;
  return w.api.store
    .list('pipelineruns', p.namespace)
    .filter((r) => Object.entries({ ...p.labels, [p.shaLabel]: sha }).every(([k, v]) => r.metadata?.labels?.[k] === v));
};

/** One commit on each seed's branch; returns the shas. */
const commitAll = async (w: SeedWorld): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const id of IDS) out[id] = await w.git.commit(SEEDS[id].repo, SEEDS[id].branch);
  return out;
};

describe('the seed followers', () => {
  it('plan on the shipped config prints the three followers with their configRef summaries and exits 0, writing nothing', async () => {
    // plan only reads: no state directory appears beside the shipped registry.
    const stateDir = join(SHIPPED_CONFIG, '.branch-follower');
    const hadState = existsSync(stateDir);
    // The full summary is the wide view's; the default table (120 columns) shows it in short.
    const r = await runCli(['plan', '--driver', 'local', '--registry', SHIPPED_REGISTRY, '-o', 'wide'], { cwd: join(SHIPPED_CONFIG, '..'), env: { KUBECONFIG: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('followers: 3');
    for (const id of IDS) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
      expect(line, id).toContain(SEEDS[id].summary);
      expect(line, id).toContain('trigger,pipeline,target');
    }
    // A summary, never the owning config copied: no Secret names, no GitOps details.
    for (const owned of ['hwlab-registry-pull', 'agentrun-model-api', 'secretRef', 'hwlab-gitops', 'registry.jd01.internal']) expect(r.stdout).not.toContain(owned);
    expect(existsSync(stateDir)).toBe(hadState);
  });

  it('run-once --all --dry-run on the local driver shows each follower decision and writes nothing', async () => {
    const w = await seedWorld('local');
    const first = await commitAll(w);
    w.setTarget(HWLAB, first[HWLAB] as string); // at its target: Noop
    w.setTarget(AGENTRUN, null); // nothing deployed yet: would be dispatched (disarmed here: Skipped)
    // The sentinel's CronJob does not exist yet: its target is unreadable (Observed).
    const stateDir = join(w.configDir, '.branch-follower');
    const revision = w.api.store.revision();
    w.api.requests.reset();
    const r = await w.cli(['run-once', '--all', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const line = (id: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
    // The table row, then the follower's reason under the table.
    const reason = (id: string): string => r.stdout.slice(r.stdout.indexOf(`\n${id}: `)).split(/\n(?! )/)[1] ?? '';
    expect(line(HWLAB)).toMatch(/Noop\s+none$/);
    expect(reason(HWLAB)).toContain('target is at ');
    expect(line(AGENTRUN)).toMatch(/Skipped\s+skip$/);
    expect(reason(AGENTRUN)).toContain('disarmed');
    expect(line(SENTINEL)).toMatch(/Observed\s+none$/);
    expect(reason(SENTINEL)).toContain('target unreadable');
    expect(reason(SENTINEL).replace(/\n +/g, ' ')).toContain('CronJob hwlab-v03/jd01-web-probe-sentinel not found');
    expect(w.api.requests.writes()).toBe(0);
    expect(w.api.store.revision()).toBe(revision);
    expect(existsSync(stateDir) ? snapshot(stateDir) : new Map()).toEqual(new Map());
    expect(await w.invocations()).toEqual([]);

    // Armed, the same dry-run would dispatch the agentrun lane; still nothing is written or run.
    await w.armAll([AGENTRUN]);
    const armedState = snapshot(stateDir);
    const armed = await w.cli(['run-once', '--all', '--dry-run']);
    expect(armed.code, armed.stderr).toBe(0);
    expect(armed.stdout.split('\n').find((l) => l.startsWith(`${AGENTRUN} `))).toContain(`dispatch ${runName(AGENTRUN, first[AGENTRUN] as string, 1, 1)}`);
    expect(snapshot(stateDir)).toEqual(armedState);
    expect(w.api.requests.writes()).toBe(0);
    expect(await w.invocations()).toEqual([]);
  });

  it('the harness reads each seed owning config as DESIGN.md describes it', async () => {
    const w = await seedWorld('kubernetes');
    for (const id of IDS) expect(w.wiring.get(id), id).toEqual({ target: SEEDS[id].target, pipeline: SEEDS[id].pipeline });
  });

  it('runs each seed follower through a full run on the local driver: a local process, targets and PipelineRuns read from the cluster', async () => {
    const w = await seedWorld('local');
    const first = await commitAll(w);
    for (const id of IDS) w.setTarget(id, first[id] as string);
    const noop = await w.tick('observer');
    expect(noop.followers.map((f) => f.phase)).toEqual(['Noop', 'Noop', 'Noop']);
    await w.armAll();
    const next = await commitAll(w);
    const trig = await w.tick('observer');
    expect(trig.code, trig.stderr).toBe(0);
    for (const id of IDS) expect(trig.followers.find((f) => f.id === id)?.dispatched, id).toBe(runName(id, next[id] as string, 2, 1));
    // The deploys run as detached processes; the closer folds trigger, pipeline and target.
    const last = new Map<string, string | null>();
    for (let i = 0; i < 30 && !IDS.every((id) => last.get(id) === 'Succeeded'); i++) {
      await new Promise((r) => setTimeout(r, 300));
      for (const f of (await w.tick('closer')).followers) last.set(f.id, f.phase);
    }
    const rows = await w.statusJson();
    for (const id of IDS) {
      const row = rows.find((r) => r.id === id);
      expect(row?.phase, `${id}: ${row?.reason}`).toBe('Succeeded');
      expect(row?.lastSucceededSha).toBe(next[id]);
      // Its own target reader: the annotation on its own kind of workload.
      expect(objectAt(w, SEEDS[id].target)?.metadata?.annotations?.[SEEDS[id].target.annotation]).toBe(next[id]);
      expect(pipelineRunsOf(w, id, next[id] as string)).toHaveLength(1);
    }
    const ran = await w.invocations();
    expect(ran).toHaveLength(3);
    for (const id of IDS) {
      const s = SEEDS[id];
      expect(ran).toContain(`${id} ${next[id]} 1 ${s.repo}@${s.branch} ${s.argv.join(' ')}`);
    }
    // Nothing of the run went to the cluster's state: the local driver keeps it in its state dir.
    expect(w.api.store.list('configmaps', NAMESPACE)).toEqual([]);
    expect(w.jobs()).toEqual([]);
  });

  it('runs each seed follower through a full run on the kubernetes driver: a Job each, its PipelineRun labels, its target reader', async () => {
    const w = await seedWorld('kubernetes');
    const first = await commitAll(w);
    for (const id of IDS) w.setTarget(id, first[id] as string);
    w.armDirect();
    const next = await commitAll(w);
    const trig = await w.tick('observer');
    expect(trig.code, trig.stderr).toBe(0);
    expect(trig.followers.map((f) => f.phase)).toEqual(['Triggering', 'Triggering', 'Triggering']);
    for (const id of IDS) {
      const jobs = w.jobs(id);
      expect(jobs.map((j) => j.metadata?.name)).toEqual([runName(id, next[id] as string, 1, 1)]);
      const spec = jobs[0]?.['spec'] as { template: { spec: { containers: { command: string[] }[] } } };
      expect(spec.template.spec.containers[0]?.command).toEqual([...SEEDS[id].argv]);
      expect(jobs[0]?.metadata?.labels).toMatchObject({ [LABEL_FOLLOWER]: id, [LABEL_SHA]: next[id] });
    }
    // The Jobs finish and the workloads roll out, but Tekton has not reported: each waits on
    // its own PipelineRun selector, taken from its owning config.
    for (const id of IDS) w.finishJob(runName(id, next[id] as string, 1, 1), { deploy: true });
    const waiting = await w.tick('closer');
    for (const id of IDS) {
      const f = waiting.followers.find((x) => x.id === id);
      expect(f?.phase, id).toBe('ClosingOut');
      const p = SEEDS[id].pipeline;
      expect(f?.reason, id).toContain(`no PipelineRun in ${p.namespace}`);
      for (const [k, v] of Object.entries(p.labels)) expect(f?.reason, id).toContain(`${k}=${v}`);
      expect(f?.reason, id).toContain(`${p.shaLabel}=${next[id]}`);
    }
    // A PipelineRun for the wrong sha, or with another lane's labels, does not count.
    w.setPipelineRun(HWLAB, first[HWLAB] as string, 'True');
    w.api.store.put('pipelineruns', {
      apiVersion: 'tekton.dev/v1',
      kind: 'PipelineRun',
      metadata: { name: 'other-lane', namespace: 'agentrun-ci', labels: { 'agentrun.dev/node': 'JD01', 'agentrun.dev/lane': 'jd01-v03', 'agentrun.dev/source-sha': next[AGENTRUN] as string } },
      spec: {},
      status: { conditions: [{ type: 'Succeeded', status: 'True' }] },
    });
    const still = await w.tick('closer');
    expect(still.followers.map((f) => f.phase)).toEqual(['ClosingOut', 'ClosingOut', 'ClosingOut']);
    for (const id of IDS) w.setPipelineRun(id, next[id] as string, 'True');
    const done = await w.tick('closer');
    for (const id of IDS) {
      const f = done.followers.find((x) => x.id === id);
      expect(f?.phase, `${id}: ${f?.reason}`).toBe('Succeeded');
      expect(f?.reason).toContain('trigger, pipeline, target');
      expect(w.storedState(id)?.lastSucceededSha).toBe(next[id]);
    }
  });

  it('reads the web-probe sentinel\'s CronJob target in the version the server serves: batch/v1beta1 on a 1.20 server', async () => {
    const w = await seedWorld('kubernetes', { resources: [CRONJOB_V1BETA1], without: [CRONJOB_V1] });
    const first = await commitAll(w);
    for (const id of IDS) w.setTarget(id, first[id] as string);
    w.api.requests.reset();
    const r = await w.cli(['run-once', '--all', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const line = (id: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
    // At its target, like the other two; before, a LIST of batch/v1 CronJobs answered 404 here.
    for (const id of IDS) expect(line(id), r.stdout).toMatch(/Noop\s+none$/);
    expect(w.api.requests.all({ resource: 'cronjobs' }).map((q) => q.path)).toEqual([expect.stringContaining('/apis/batch/v1beta1/namespaces/hwlab-v03/cronjobs')]);
  });

  it('a configRef to a missing file, a missing key or a wrongly shaped section blocks that follower only, naming file and path', async () => {
    const w = await seedWorld('kubernetes');
    const first = await commitAll(w);
    for (const id of IDS) w.setTarget(id, first[id] as string);
    w.armDirect();

    // Round 1: a missing file (hwlab's target) and a missing key (agentrun's source).
    await w.editRegistry((reg) => {
      const f = (id: string) => reg.followers.find((x) => x['id'] === id) as { source: { configRef: string }; target: { configRef: string } };
      f(HWLAB).target.configRef = 'hwlab-node-lanes-old.yaml#nodes.JD01.lanes.v03.runtime';
      f(AGENTRUN).source.configRef = 'agentrun.yaml#lanes.jd01-v09.source';
    });
    const sentinelSha = await w.git.commit(SEEDS[SENTINEL].repo, SEEDS[SENTINEL].branch);
    const r1 = await w.tick('observer');
    const hw = r1.followers.find((f) => f.id === HWLAB);
    expect(hw?.phase).toBe('Blocked');
    expect(hw?.reason).toContain('target configRef unresolvable: hwlab-node-lanes-old.yaml#nodes.JD01.lanes.v03.runtime: file not found');
    const ar = r1.followers.find((f) => f.id === AGENTRUN);
    expect(ar?.phase).toBe('Blocked');
    expect(ar?.reason).toContain('agentrun.yaml#lanes.jd01-v09');
    expect(ar?.reason).toMatch(/not found/);
    // The sentinel keeps working: its new commit is dispatched.
    expect(r1.followers.find((f) => f.id === SENTINEL)?.phase).toBe('Triggering');
    expect(w.jobs().map((j) => j.metadata?.name)).toEqual([runName(SENTINEL, sentinelSha, 1, 1)]);
    // plan names the same problem and exits non-zero.
    const plan = await w.cli(['plan', '--driver', 'local']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('UNRESOLVED target: ');
    expect(plan.stdout).toContain('agentrun.yaml#lanes.jd01-v09');

    // The sentinel's run ends; then, round 2: refs restored, and the sentinel's section has the
    // wrong shape (its workload is a string, not a mapping).
    w.finishJob(runName(SENTINEL, sentinelSha, 1, 1), { deploy: true, pipeline: 'True' });
    expect((await w.tick('closer')).followers.find((f) => f.id === SENTINEL)?.phase).toBe('Succeeded');
    await w.editRegistry((reg) => {
      const f = (id: string) => reg.followers.find((x) => x['id'] === id) as { source: { configRef: string }; target: { configRef: string } };
      f(HWLAB).target.configRef = 'hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime';
      f(AGENTRUN).source.configRef = 'agentrun.yaml#lanes.jd01-v02.source';
    });
    await w.editConfig('hwlab-web-probe-sentinel/sentinels.yaml', (doc) => {
      const s = (doc['sentinels'] as Record<string, { runtime: Record<string, unknown> }>)['jd01-web-probe-sentinel'];
      if (s) s.runtime['workload'] = 'jd01-web-probe-sentinel';
    });
    const hwSha = await w.git.commit(SEEDS[HWLAB].repo, SEEDS[HWLAB].branch);
    const r2 = await w.tick('observer');
    const sentinel = r2.followers.find((f) => f.id === SENTINEL);
    expect(sentinel?.phase).toBe('Blocked');
    expect(sentinel?.reason).toContain('hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.runtime.workload');
    // The others work again: a new commit clears hwlab's Blocked, agentrun is at its target.
    expect(r2.followers.find((f) => f.id === HWLAB)?.phase).toBe('Triggering');
    expect(r2.followers.find((f) => f.id === AGENTRUN)?.phase).toBe('Noop');
    expect(w.jobs().map((j) => j.metadata?.name)).toEqual([runName(SENTINEL, sentinelSha, 1, 1), runName(HWLAB, hwSha, 2, 1)]);
  });
});
