// Real crashes: the CLI tick (what each CronJob runs) killed with SIGKILL at random moments, on
// the local driver with real git (a file:// mirror) and a real deploy command, interleaved with
// pushes and with ticks left to finish. After every kill every stored object must parse (no torn
// write) and the next tick must get through (no stale lock blocks it); at the end, once ticks
// have run to convergence, no (follower, sha, attempt) ran twice, every follower deployed the
// newest sha of its branch, and every transition any stored state ever showed ended with its
// event and (Succeeded, Failed, Blocked) its webhook notification, delivered from the outbox. CRASH_RUNS raises the number of kills (default 100); CRASH_SEED
// replays a run.
import { spawn, type ChildProcess } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Arming } from '../../src/core/arming.ts';
import { idempotencyKey } from '../../src/core/notifications.ts';
import { eventKey, OUTBOX_GRACE_SECONDS } from '../../src/core/outbox.ts';
import { NOTIFY_PHASES } from '../../src/core/phases.ts';
import { FollowerState, Transition } from '../../src/core/state.ts';
import { webhookReceiver } from '../support/webhook-receiver.ts';
import { START_GRACE_MS } from '../../src/adapters/local/dispatcher.ts';
import { CommandRecord, ExitRecord, RunRecord } from '../../src/adapters/local/run-files.ts';
import { CLI, createWorld, type World } from '../support/cli-world.ts';

const RUNS = Math.max(1, Number(process.env.CRASH_RUNS ?? 100));
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

const FOLLOWERS = [
  { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' },
  { id: 'agentrun-jd01-v02', repo: 'pikasTech/agentrun', branch: 'v0.2' },
  { id: 'web-probe-sentinel-master', repo: 'pikasTech/unidesk', branch: 'master' },
] as const;

/** mulberry32: a small seeded generator, so a failing run can be replayed with CRASH_SEED. */
const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const Envelope = z.object({ version: z.number().int().min(1), state: FollowerState }).strict();
const ArmingFile = z.object({ version: z.number().int().min(1), data: z.object({ killSwitch: z.string(), allowlist: z.string() }).strict() }).strict();

type KillPlan = { kind: 'at'; ms: number } | { kind: 'on-write'; only: 'any' | 'objects'; nth: number; fallbackMs: number };
type Tick = { verb: string[]; killed: boolean; by: 'timer' | 'write' | 'hang' | null; code: number | null; ms: number; out: string; plan: KillPlan | null };

let world: World | null = null;
let hook: Awaited<ReturnType<typeof webhookReceiver>> | null = null;
/** Every transition a scan of the store ever showed, by its event key. */
const observed = new Map<string, { id: string; t: Transition }>();
let cacheDir: string | null = null;
/** CLI ticks still running; a failed assertion can leave some behind, which afterAll stops. */
const live = new Set<ChildProcess>();
afterAll(async () => {
  for (const c of live) c.kill('SIGKILL');
  hook?.server.close();
  await Promise.all([...live].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
  try {
    await world?.cleanup();
  } finally {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

/** Nothing in flight and nothing to do: Succeeded, or Noop when the newest sha was already deployed. */
const settled = (s: FollowerState): boolean => (s.phase === 'Succeeded' || s.phase === 'Noop') && !s.inFlight && !s.pending && !s.outbox?.items.length;

/** A torn file is reported by the schema check that follows, with the file's bytes. */
const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const isTemp = (n: string): boolean => n.startsWith('.') && n.endsWith('.tmp');

type Scan = {
  /** id -> the stored state (every file parsed, or the test has already failed). */
  states: Map<string, FollowerState>;
  runs: Set<string>;
  locks: string[];
  temps: string[];
};

/** Reads every stored object and fails on the first one that does not parse: a torn write. */
const scanStore = async (stateDir: string): Promise<Scan> => {
  const list = async (d: string): Promise<string[]> => readdir(d).catch(() => []);
  const states = new Map<string, FollowerState>();
  const locks: string[] = [];
  const temps: string[] = [];
  for (const n of await list(join(stateDir, 'state'))) {
    const p = join(stateDir, 'state', n);
    if (isTemp(n)) temps.push(p);
    else if (n.endsWith('.lock') || n.endsWith('.break')) locks.push(p);
    else {
      const text = await readFile(p, 'utf8');
      const r = Envelope.safeParse(parseJson(text));
      expect(r.success, `${p} does not parse as a follower state:\n${text}`).toBe(true);
      if (r.success) {
        states.set(r.data.state.id, r.data.state);
        for (const t of r.data.state.history) observed.set(eventKey(r.data.state.id, t), { id: r.data.state.id, t });
      }
    }
  }
  for (const n of await list(stateDir)) {
    if (isTemp(n)) temps.push(join(stateDir, n));
    else if (n.endsWith('.lock') || n.endsWith('.break')) locks.push(join(stateDir, n));
  }
  const armingText = await readFile(join(stateDir, 'arming.json'), 'utf8');
  const arming = ArmingFile.parse(parseJson(armingText));
  Arming.parse({ killSwitch: JSON.parse(arming.data.killSwitch), allowlist: JSON.parse(arming.data.allowlist) });
  for (const n of await list(join(stateDir, 'events'))) {
    if (isTemp(n)) continue;
    // Appends are single O_APPEND writes: even a killed tick leaves whole lines.
    const text = await readFile(join(stateDir, 'events', n), 'utf8');
    for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line), `torn event line in ${n}: ${line}`).not.toThrow();
  }
  const runs = new Set<string>();
  for (const name of await list(join(stateDir, 'runs'))) {
    runs.add(name);
    const dir = join(stateDir, 'runs', name);
    for (const [file, schema] of [['run.json', RunRecord], ['command.json', CommandRecord], ['exit.json', ExitRecord]] as const) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => null);
      if (text !== null) expect(schema.safeParse(parseJson(text)).success, `${dir}/${file} does not parse:\n${text}`).toBe(true);
    }
    for (const n of await list(dir)) if (isTemp(n)) temps.push(join(dir, n));
  }
  return { states, runs, locks, temps };
};

describe('SIGKILL at random moments of real ticks', () => {
  it(`never corrupts the state, never blocks the next tick, never runs a (follower, sha, attempt) twice (seed ${SEED})`, async () => {
    const w = (world = await createWorld([...FOLLOWERS], { budgets: { triggerSeconds: 120, closeoutSeconds: 600, maxAttempts: 5 } }));
    cacheDir = await mkdtemp(join(tmpdir(), 'bf-sigkill-cc-'));
    const registry = join(w.configDir, 'cicd-branch-followers.yaml');
    hook = await webhookReceiver();
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).notify = { webhookUrlEnv: 'BF_SIGKILL_HOOK' };
    });
    // The compile cache only makes each CLI start cheaper, so more kills fit in the run.
    const env = { ...process.env, NO_COLOR: '1', NODE_COMPILE_CACHE: cacheDir, BF_SIGKILL_HOOK: hook.url };
    const random = rng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

    /**
     * Runs one CLI tick. `at` kills it `ms` after spawn, or at the `nth` change the tick's
     * writes make under the state dir (watched with inotify), so kills land inside lock, temp,
     * rename, append and dispatch sequences by construction rather than by luck.
     */
    const tick = (verb: string[], plan: KillPlan | null): Promise<Tick> =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        const child = spawn(process.execPath, [CLI, ...verb, '--registry', registry], { cwd: w.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
        live.add(child);
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (out += b.toString()));
        let by: Tick['by'] = null;
        const kill = (why: NonNullable<Tick['by']>): void => {
          if (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')) by ??= why;
        };
        const timer = plan === null ? null : setTimeout(() => kill('timer'), plan.kind === 'at' ? plan.ms : plan.fallbackMs);
        const watchers: FSWatcher[] = [];
        if (plan?.kind === 'on-write') {
          let seen = 0;
          for (const d of ['', 'state', 'events', 'runs']) {
            try {
              watchers.push(
                watch(join(w.stateDir, d), (_event, name) => {
                  // Either any change at all (locks, temp files, appends, run directories), or
                  // only changes to a stored object itself (a state file or arming.json).
                  if (plan.only === 'objects' && !/^[a-z0-9-]+\.json$/.test(String(name))) return;
                  if (++seen === plan.nth) kill('write');
                }),
              );
            } catch {
              // A directory not created yet: its parent's watcher sees it appear.
            }
          }
        }
        // A hang guard, not a time limit on the tick: a tick stuck behind a stale lock fails here.
        const hang = setTimeout(() => kill('hang'), 120_000);
        child.once('error', reject);
        // 'exit', not 'close': a killed tick's git children may still hold its pipes for a moment.
        child.once('exit', (code, signal) => {
          live.delete(child);
          if (timer) clearTimeout(timer);
          clearTimeout(hang);
          for (const x of watchers) x.close();
          resolve({ verb, killed: signal === 'SIGKILL' && (by === 'timer' || by === 'write'), by, code, ms: performance.now() - t0, out, plan });
        });
      });
    const normal = async (verb: string[]): Promise<Tick> => {
      const t = await tick(verb, null);
      expect(t.code, `${verb.join(' ')} after a kill:\n${t.out}`).toBe(0);
      return t;
    };

    for (const f of FOLLOWERS) await w.setTarget(f.id, await w.git.commit(f.repo, f.branch));
    // Deploys that take a moment: runs stay in flight across kills and pushes, and a second
    // start of the same run would overlap the first one and show in the log.
    for (const f of FOLLOWERS) await w.slowDeploys(f.id, 1);
    await w.armAll();
    // How long an unkilled tick of each kind takes here and now, so kill moments spread over all of it.
    const took: Record<string, number[]> = {};
    const typical = (key: string): number => {
      const xs = [...(took[key] ?? [])].sort((a, b) => a - b);
      return xs[Math.floor(xs.length / 2)] ?? 1500;
    };
    const remember = (t: Tick): void => {
      const xs = (took[t.verb.join(' ')] ??= []);
      xs.push(t.ms);
      if (xs.length > 9) xs.shift();
    };
    for (const v of [['tick', 'observer'], ['tick', 'closer'], ['run-once', '--all', '--confirm']]) remember(await normal(v));

    const figures = { kills: 0, killedAtAWrite: 0, spawned: 0, finishedFirst: 0, roundsKilledBeforeAnyWrite: 0, roundsKilledAfterAWrite: 0, dispatchedNotRecorded: 0, writtenAheadNotDispatched: 0, lockLeftBehind: 0, tempLeftBehind: 0, pushes: 0, pushesOverDeadWriters: 0, normalTicks: 3, racingRounds: 0, adoptedInRaces: 0, transitionsObserved: 0, notificationsOwed: 0, notificationsReceived: 0 };
    const verbs = [['tick', 'observer'], ['tick', 'observer'], ['tick', 'closer'], ['run-once', '--all', '--confirm']];
    const maxSpawns = RUNS * 4;
    /**
     * A push, also over a dispatch written ahead by a killed tick and never made: overtaken by a
     * newer sha, it is taken over at once because its writer (the killed tick's pid, on this
     * boot) is gone, instead of being left to it for the 300 s pending lease.
     */
    const push = async (f: (typeof FOLLOWERS)[number]): Promise<void> => {
      const { states, runs } = await scanStore(w.stateDir);
      const p = states.get(f.id)?.pending;
      if (p && !runs.has(p.name)) figures.pushesOverDeadWriters++;
      await w.git.commit(f.repo, f.branch);
      figures.pushes++;
    };
    const started = performance.now();
    while (figures.kills < RUNS && figures.spawned < maxSpawns) {
      if (random() < 0.7) await push(pick(FOLLOWERS));
      const before = await scanStore(w.stateDir);
      // Two ticks at once, as the observer and closer CronJobs run; each killed at its own moment:
      // a quarter in start-up (before any read or write), a third at a random moment of the
      // rest of a typical tick or a little past its end, the others at the n-th write it makes.
      const pair = [pick(verbs), pick([['tick', 'closer'], ['tick', 'observer']])];
      const ticks = await Promise.all(
        pair.map((verb) => {
          const span = typical(verb.join(' '));
          const r = random();
          const plan: KillPlan =
            r < 0.25
              ? { kind: 'at', ms: random() * span * 0.6 }
              : r < 0.6
                ? { kind: 'at', ms: span * (0.6 + random() * 0.8) }
                : random() < 0.5
                  ? { kind: 'on-write', only: 'any', nth: 1 + Math.floor(random() * 8), fallbackMs: span * (0.6 + random() * 0.8) }
                  : { kind: 'on-write', only: 'objects', nth: 1 + Math.floor(random() * 3), fallbackMs: span * (0.6 + random() * 0.8) };
          return tick(verb, plan);
        }),
      );
      figures.spawned += ticks.length;
      for (const t of ticks) {
        if (t.killed) {
          figures.kills++;
          if (t.by === 'write') figures.killedAtAWrite++;
        } else {
          figures.finishedFirst++;
          remember(t);
          expect(t.code, `${t.verb.join(' ')} finished on its own with:\n${t.out}`).not.toBe(2);
        }
      }
      const after = await scanStore(w.stateDir);
      if (ticks.some((t) => t.killed)) {
        const wrote = [...after.states].some(([id, s]) => JSON.stringify(before.states.get(id)) !== JSON.stringify(s)) || after.runs.size !== before.runs.size;
        if (wrote) figures.roundsKilledAfterAWrite++;
        else figures.roundsKilledBeforeAnyWrite++;
        const recorded = new Set([...after.states.values()].flatMap((s) => (s.inFlight ? [s.inFlight.name] : [])));
        if ([...after.runs].some((r) => !before.runs.has(r) && !recorded.has(r))) figures.dispatchedNotRecorded++;
        if ([...after.states.values()].some((s) => s.pending && !after.runs.has(s.pending.name))) figures.writtenAheadNotDispatched++;
        if (after.locks.length > 0) figures.lockLeftBehind++;
        if (after.temps.length > before.temps.length) figures.tempLeftBehind++;
      }
      // Now and then a tick left to finish: it must get through whatever the kills left behind.
      const r = random();
      if (r < 0.2) {
        remember(await normal(pick(verbs)));
        figures.normalTicks++;
        await scanStore(w.stateDir);
      } else if (r < 0.3) {
        // Or a push and three observers left to race for the same dispatch name, as ticks that
        // overlap (a slow one and the next) would.
        await push(pick(FOLLOWERS));
        const racers = await Promise.all([normal(['tick', 'observer']), normal(['tick', 'observer']), normal(['tick', 'observer'])]);
        figures.normalTicks += racers.length;
        // A racer that found the run already made by another adopts it under the same name.
        figures.adoptedInRaces += racers.filter((t) => t.out.includes('(adopted)')).length;
        figures.racingRounds++;
        await scanStore(w.stateDir);
      }
    }
    expect(figures.kills, JSON.stringify(figures)).toBeGreaterThanOrEqual(RUNS);
    const killPhaseMs = performance.now() - started;

    // Convergence: no more pushes or kills; closer and observer ticks until every follower has
    // deployed the newest sha of its branch and announced everything. Two waits are by design,
    // hence the pauses and the bound: a dispatch killed before its process started is judged
    // "never started" only after the dispatcher's grace, and what a killed tick left in an outbox
    // is delivered by a later tick after the outbox's grace.
    const newest = new Map<string, string>();
    for (const f of FOLLOWERS) newest.set(f.id, (await w.git.tip(f.repo, f.branch)) as string);
    // Not the 300 s pending lease: a dispatch a killed tick wrote ahead is taken over at once (its
    // writer is gone); what remains is the start grace and the outbox's grace for leftovers.
    const bound = Date.now() + (START_GRACE_MS / 1000 + OUTBOX_GRACE_SECONDS + 60) * 1000;
    const convergeStart = performance.now();
    const atStop = await scanStore(w.stateDir);
    const deadWritersPendingAtStop = [...atStop.states.values()].filter((s) => s.pending && s.pending.sha !== newest.get(s.id) && !atStop.runs.has(s.pending.name)).length;
    const converged = async (): Promise<boolean> => {
      const { states } = await scanStore(w.stateDir);
      return FOLLOWERS.every((f) => {
        const s = states.get(f.id);
        return !!s && settled(s) && s.observedSha === newest.get(f.id) && s.targetSha === newest.get(f.id);
      });
    };
    for (let i = 0; !(await converged()) && Date.now() < bound; i++) {
      await normal(['tick', 'closer']);
      await normal(['tick', 'observer']);
      figures.normalTicks += 2;
      if (i > 3) await new Promise((r) => setTimeout(r, 2000));
    }
    const convergeMs = performance.now() - convergeStart;
    const final = await scanStore(w.stateDir);
    for (const f of FOLLOWERS) {
      const s = final.states.get(f.id);
      const view = (x: FollowerState | undefined) => ({ id: f.id, settled: !!x && settled(x), observedSha: x?.observedSha, targetSha: x?.targetSha, phase: x?.phase, reason: x?.reason });
      expect(view(s)).toEqual({ ...view(s), settled: true, observedSha: newest.get(f.id), targetSha: newest.get(f.id) });
      expect((await readFile(join(w.configDir, 'targets', `${f.id}.sha`), 'utf8')).trim()).toBe(newest.get(f.id));
    }

    const ran = await w.invocations();
    const seen = new Map<string, number>();
    for (const line of ran) seen.set(line, (seen.get(line) ?? 0) + 1);
    const twice = [...seen].filter(([, n]) => n > 1).map(([line, n]) => `${line} ran ${n} times`);
    expect(twice, 'a (follower, sha, attempt) ran twice').toEqual([]);
    // The deploys never fail here, so a sha retried under a new attempt would be a crash mistaken for a failure.
    const perSha = new Map<string, number>();
    for (const line of ran) {
      const [id, sha] = line.split(' ');
      perSha.set(`${id} ${sha}`, (perSha.get(`${id} ${sha}`) ?? 0) + 1);
    }
    expect([...perSha].filter(([, n]) => n > 1), 'a sha deployed more than once').toEqual([]);
    for (const f of FOLLOWERS) expect(ran.some((l) => l.startsWith(`${f.id} ${newest.get(f.id)} `)), `${f.id} deployed its newest sha`).toBe(true);

    // Nothing lost: every transition ever seen has its event, every Succeeded, Failed and
    // Blocked its notification (a repeat carries the same key: a receiver drops it).
    const eventKeys = new Set<string>();
    for (const f of FOLLOWERS) {
      const text = await readFile(join(w.stateDir, 'events', `${f.id}.jsonl`), 'utf8').catch(() => '');
      for (const line of text.split('\n').filter(Boolean)) {
        const { id, ...rest } = JSON.parse(line) as { id: string };
        const t = Transition.safeParse(rest);
        if (t.success) eventKeys.add(eventKey(id, t.data));
      }
    }
    const noteKeys = new Set(hook.got.map((g) => g.idempotencyKey));
    const missingEvents = [...observed].filter(([k]) => !eventKeys.has(k)).map(([k]) => k);
    const owedNotes = [...observed.values()].filter((o) => NOTIFY_PHASES.includes(o.t.to)).map((o) => idempotencyKey(o.id, o.t));
    const missingNotes = owedNotes.filter((k) => !noteKeys.has(k));
    expect(missingEvents, 'transitions without their event').toEqual([]);
    expect(missingNotes, 'Succeeded/Failed/Blocked without their notification').toEqual([]);
    figures.transitionsObserved = observed.size;
    figures.notificationsOwed = new Set(owedNotes).size;
    figures.notificationsReceived = hook.got.length;

    console.log(`sigkill figures (seed ${SEED}): ${JSON.stringify({ ...figures, deploys: ran.length, killPhaseSeconds: Math.round(killPhaseMs / 1000), convergenceSeconds: Math.round(convergeMs / 1000), deadWritersPendingAtStop, violations: 0 })}`);
  }, 900_000);
});
