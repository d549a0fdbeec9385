// Push → dispatch latency with the receiver (`branch-follower serve`, POST /hooks/push) on both
// drivers, against the polling path in the same run. `node bench/push.ts [--pushes 20] [--driver local|kubernetes]` runs this
// point alone and prints JSON; `npm run bench` runs it as section 6.
//
// Local: a real git mirror (file://), serve as a subprocess, a real deploy script; latency = from
// sending the signed hook to the deploy command's first line (the dispatch has started).
// Ticks and serve run the bundle (dist/cli.js) with the pods' NODE_OPTIONS, as the image does.
// Kubernetes: the API-server double; the bench plays the Job controller: once serve has created
// the woken Job (from the observer CronJob's template) it runs the tick that Job's pod runs (a CLI
// process); latency = from the hook to the dispatch Job's creation. A real pod adds its own start
// (image present, the clone init container) on top: the real-cluster suite measures that.
// Polling: what the same push costs without the receiver, a scheduled tick every 60 s: the wait
// for the next schedule (pushes land evenly over the minute) plus a scheduled tick's own time to
// the dispatch, measured here per push with `tick observer`.
import { BUNDLE_CLI } from './lib/use-bundle.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { closerWakeJobName, pokeJobName } from '../src/core/push.ts';
import { createWorld } from '../test/support/cli-world.ts';
import { forgePush, sendHook } from '../test/support/forge-hooks.ts';
import { createK8sWorld, NAMESPACE } from '../test/support/k8s-world.ts';
import { startServe } from '../test/support/serve-process.ts';
import { round, summarize, type Summary } from './lib/stats.ts';
import { HEAP_NODE_OPTIONS, TICK_NODE_OPTIONS } from '../src/adapters/kubernetes/manifests.ts';
import { build } from '../scripts/build.ts';

/**
 * What the pods run with (manifests.ts): ticks with the tick heap limits, serve with the JIT. The
 * test worlds run dist/cli.js with `node`, so the ticks' V8 tiers (TICK_NODE_FLAGS, passed by
 * bin/branch-follower in a pod) are not applied here; they change a tick of a few followers by
 * nothing measurable (docs/performance.md, change 21).
 */
const TICK_ENV = { NODE_OPTIONS: TICK_NODE_OPTIONS };
const SERVE_ENV = { NODE_OPTIONS: HEAP_NODE_OPTIONS };

export type PushPoint = {
  driver: 'local' | 'kubernetes';
  pushes: number;
  /** Hook sent → dispatch started (ms). */
  receiver: Summary;
  /** Kubernetes: hook sent → the woken Job exists (the receiver's own part; the rest is the tick its pod runs). */
  woken?: Summary;
  /** A scheduled tick's own time from start to the dispatch (ms), measured. */
  scheduledTick: Summary;
  /** Without the receiver: schedule wait (evenly over the period) + the measured tick (ms). */
  polling: Summary;
};

export type PushResult = { schedulePeriodMs: number; points: PushPoint[] };

const SECRET = 'bench-push-secret';
const F = { id: 'bench-main', repo: 'bench/app', branch: 'main' };
const PERIOD_MS = 60_000;
const POLL_MS = 5;

const until = async <T>(get: () => Promise<T | null | undefined | false> | T | null | undefined | false, limitMs = 120_000): Promise<T> => {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await get();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('bench/push: condition not reached');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
};

const roundSummary = (s: Summary): Summary => ({ n: s.n, median: round(s.median, 0), min: round(s.min, 0), max: round(s.max, 0), p90: round(s.p90, 0) });

/** Pushes land evenly over the schedule's period: push i waits (1 - (i + 0.5) / n) of it for the next tick. */
const pollingOf = (ticks: readonly number[]): Summary => roundSummary(summarize(ticks.map((t, i) => (1 - (i + 0.5) / ticks.length) * PERIOD_MS + t)));

const enableServe = async (registryPath: string): Promise<void> => {
  const reg = parse(await readFile(registryPath, 'utf8')) as { controller: Record<string, unknown> };
  reg.controller.serve = { enabled: true, push: { secretEnv: 'BF_PUSH_SECRET' } };
  await writeFile(registryPath, stringify(reg));
};

const benchLocal = async (pushes: number, log: (l: string) => void): Promise<PushPoint> => {
  const w = await createWorld([F]);
  try {
    await enableServe(join(w.configDir, 'cicd-branch-followers.yaml'));
    await w.setTarget(F.id, await w.git.commit(F.repo, F.branch));
    await w.armAll();
    await w.cli(['tick', 'observer'], { env: TICK_ENV });
    const ran = async (sha: string): Promise<boolean> => (await w.invocations()).some((l) => l.split(' ')[1] === sha);
    const settled = async (sha: string): Promise<boolean> => (await w.row(F.id)).lastSucceededSha === sha;
    const receiver: number[] = [];
    const serve = await startServe(['--registry', join(w.configDir, 'cicd-branch-followers.yaml')], { cwd: w.dir, env: { BF_PUSH_SECRET: SECRET, ...SERVE_ENV } });
    try {
      for (let i = 0; i < pushes; i++) {
        const sha = await w.git.commit(F.repo, F.branch);
        const hook = forgePush('github', { ...F, after: sha, secret: SECRET });
        const t0 = performance.now();
        const r = await sendHook(serve.url, hook);
        if (r.status !== 202) throw new Error(`bench/push: hook answered ${r.status} ${r.text}`);
        await until(() => ran(sha));
        receiver.push(performance.now() - t0);
        // The run's exit wakes the closer; the next push starts from a settled follower.
        await until(() => settled(sha));
      }
    } finally {
      await serve.stop();
    }
    log(`push local: receiver median ${round(summarize(receiver).median, 0)} ms over ${pushes} pushes`);
    const ticks: number[] = [];
    for (let i = 0; i < pushes; i++) {
      const sha = await w.git.commit(F.repo, F.branch);
      const t0 = performance.now();
      const tick = w.cli(['tick', 'observer'], { env: TICK_ENV });
      await until(() => ran(sha));
      ticks.push(performance.now() - t0);
      await tick;
      await until(async () => {
        await w.cli(['tick', 'closer'], { env: TICK_ENV });
        return settled(sha);
      });
    }
    return { driver: 'local', pushes, receiver: roundSummary(summarize(receiver)), scheduledTick: roundSummary(summarize(ticks)), polling: pollingOf(ticks) };
  } finally {
    await w.cleanup();
  }
};

const benchKubernetes = async (pushes: number, log: (l: string) => void): Promise<PushPoint> => {
  const w = await createK8sWorld([F]);
  try {
    await enableServe(w.registryPath);
    const applied = await w.cli(['apply', '--confirm']);
    if (applied.code !== 0) throw new Error(`bench/push: apply failed: ${applied.stderr}`);
    w.setTarget(F.id, await w.git.commit(F.repo, F.branch));
    w.armDirect();
    await w.tick('observer', { env: TICK_ENV });
    const dispatchOf = (sha: string): string | null => w.jobs(F.id).find((j) => j.metadata?.annotations?.['branch-follower.dev/sha'] === sha)?.metadata?.name ?? null;
    /** Plays the Job controller and the deploy until the follower has settled on `sha`. */
    const settle = async (sha: string, run: string): Promise<void> => {
      w.finishJob(run, { deploy: true });
      await w.tick('closer', { env: TICK_ENV });
      await until(() => w.storedState(F.id)?.lastSucceededSha === sha);
    };
    const receiver: number[] = [];
    const woken: number[] = [];
    const serve = await startServe(['--registry', w.registryPath, '--kubeconfig', w.api.kubeconfigPath, '--driver', 'kubernetes'], { cwd: w.configDir, env: { BF_PUSH_SECRET: SECRET, ...SERVE_ENV } });
    try {
      for (let i = 0; i < pushes; i++) {
        const sha = await w.git.commit(F.repo, F.branch);
        const hook = forgePush('github', { ...F, after: sha, secret: SECRET });
        const t0 = performance.now();
        const r = await sendHook(serve.url, hook);
        if (r.status !== 202) throw new Error(`bench/push: hook answered ${r.status} ${r.text}`);
        const poke = pokeJobName(F.repo, sha);
        await until(() => w.api.store.get('jobs', NAMESPACE, poke));
        woken.push(performance.now() - t0);
        // The woken Job's pod: one observer tick.
        await w.tick('observer', { env: TICK_ENV });
        const run = await until(() => dispatchOf(sha));
        receiver.push(performance.now() - t0);
        w.finishJob(poke);
        await settle(sha, run);
        // The closer wake (a Job from the closer CronJob) follows the dispatch's end; its pod's
        // tick has nothing left to do (settle ran it), so the Job controller just ends it.
        const wake = closerWakeJobName(run);
        await until(() => w.api.store.get('jobs', NAMESPACE, wake));
        w.finishJob(wake);
      }
    } finally {
      await serve.stop();
    }
    log(`push kubernetes: receiver median ${round(summarize(receiver).median, 0)} ms over ${pushes} pushes`);
    const ticks: number[] = [];
    for (let i = 0; i < pushes; i++) {
      const sha = await w.git.commit(F.repo, F.branch);
      const t0 = performance.now();
      await w.tick('observer', { env: TICK_ENV });
      const run = await until(() => dispatchOf(sha));
      ticks.push(performance.now() - t0);
      await settle(sha, run);
    }
    return { driver: 'kubernetes', pushes, receiver: roundSummary(summarize(receiver)), woken: roundSummary(summarize(woken)), scheduledTick: roundSummary(summarize(ticks)), polling: pollingOf(ticks) };
  } finally {
    await w.cleanup();
  }
};

export const benchPush = async (o: { pushes: number; log: (l: string) => void; drivers?: readonly ('local' | 'kubernetes')[] }): Promise<PushResult> => {
  const drivers = o.drivers ?? ['local', 'kubernetes'];
  const points: PushPoint[] = [];
  if (drivers.includes('local')) points.push(await benchLocal(o.pushes, o.log));
  if (drivers.includes('kubernetes')) points.push(await benchKubernetes(o.pushes, o.log));
  return { schedulePeriodMs: PERIOD_MS, points };
};

if (import.meta.main) {
  const { values } = parseArgs({ options: { pushes: { type: 'string' }, driver: { type: 'string' } } });
  const pushes = Number(values.pushes ?? 20);
  if (!Number.isInteger(pushes) || pushes < 1) throw new Error(`--pushes takes a positive count, not ${values.pushes}`);
  const driver = values.driver;
  if (driver !== undefined && driver !== 'local' && driver !== 'kubernetes') throw new Error(`--driver takes local or kubernetes, not ${driver}`);
  // The worlds run the bundle (use-bundle.ts): build it from the sources in the tree first.
  if (process.env['BF_TEST_CLI'] === BUNDLE_CLI) await build();
  const r = await benchPush({ pushes, log: (l) => process.stderr.write(`[bench] ${l}\n`), ...(driver ? { drivers: [driver] } : {}) });
  console.log(JSON.stringify(r, null, 2));
}
