import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StageReading } from '../../src/core/fold.ts';
import { createLocalDispatcher, readRunLog } from '../../src/adapters/local/dispatcher.ts';
import { isRunning } from '../../src/adapters/local/processes.ts';
import { HEAD_BYTES, TAIL_BYTES, omittedMarker } from '../../src/adapters/local/capped-log.ts';
import { createLocalHousekeeper } from '../../src/adapters/local/housekeeping.ts';
import type { Dispatcher, DispatchRequest } from '../../src/adapters/ports.ts';

const SHA = 'c0ffee'.padEnd(40, '0');

let root: string;
let stateDir: string;
let cwd: string;
let d: Dispatcher;

beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'bf-dispatch-')));
  stateDir = path.join(root, 'state');
  cwd = path.join(root, 'work');
  await mkdir(cwd);
  d = createLocalDispatcher({ stateDir, cwd });
});

afterEach(async () => {
  // Whatever a test left running is killed: the supervisors and the commands' process groups.
  const runs = path.join(stateDir, 'runs');
  for (const name of await readdir(runs).catch(() => [] as string[])) {
    for (const file of ['run.json', 'command.json']) {
      const rec = await readJson<{ pid?: number | null }>(path.join(runs, name, file));
      const pid = rec?.pid;
      if (typeof pid === 'number') await killOurs(pid);
    }
  }
  await rm(root, { recursive: true, force: true });
});

/**
 * Kills a process group this test started, and nothing else: a pid that is alive must still be
 * running something under the test's temp dir. A dead leader's pid is never handed out again while
 * its group lives, so the group alone is safe to signal then.
 */
const killOurs = async (pid: number): Promise<void> => {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline !== null && !cmdline.includes(root)) return;
  for (const target of cmdline === null ? [-pid] : [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};

const readJson = async <T>(file: string): Promise<T | null> => {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
};

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

const script = async (name: string, body: string): Promise<string> => {
  const file = path.join(cwd, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
};

const req = (name: string, argv: string[], over: Partial<DispatchRequest> = {}): DispatchRequest => ({
  followerId: 'alpha',
  sha: SHA,
  episode: 1,
  attempt: 1,
  name,
  argv,
  repo: 'acme/app',
  branch: 'release/1.x',
  budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 },
  ...over,
});

const waitFor = async <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const statusOf = async (name: string, disp: Dispatcher = d): Promise<StageReading> => {
  const r = (await disp.statuses([name])).get(name);
  if (!r) throw new Error(`no reading for ${name}`);
  return r;
};

const concluded = (name: string, disp: Dispatcher = d): Promise<StageReading> =>
  waitFor(`${name} to conclude`, async () => {
    const r = await statusOf(name, disp);
    return r.result === 'SUCCESS' || r.result === 'FAILURE' ? r : null;
  });

const runFile = (name: string, file: string): string => path.join(stateDir, 'runs', name, file);

/**
 * Concluded, and its supervisor gone: it writes exit.json first and folds the log after, so what
 * is on disk only stops changing once it has exited (a loaded machine shows the gap).
 */
const settled = async (name: string, disp: Dispatcher = d): Promise<StageReading> => {
  const r = await concluded(name, disp);
  const { supervisorPid } = (await readJson<{ supervisorPid: number }>(runFile(name, 'command.json'))) ?? { supervisorPid: 0 };
  if (supervisorPid) await waitFor(`${name} supervisor to exit`, async () => !(await isRunning(supervisorPid)));
  return r;
};

/** The command's pid once the supervisor has recorded it. */
const commandPid = (name: string): Promise<number> =>
  waitFor(`${name} command pid`, async () => (await readJson<{ pid: number }>(runFile(name, 'command.json')))?.pid);

const gone = async (pid: number): Promise<boolean> => !(await isRunning(pid));

// A command that records its start, then waits until the test lets it go.
const WAIT_FOR_GO = `echo "$$" >> started.txt\nwhile [ ! -f go ]; do sleep 0.05; done\necho finished >> finished.txt`;

describe('local dispatcher', () => {
  it('runs the command detached and records a successful exit', async () => {
    const cmd = await script('ok.sh', 'echo to-stdout; echo to-stderr >&2; exit 0');
    const r = await d.dispatch(req('bf-alpha-ok', [cmd]));
    expect(r).toMatchObject({ name: 'bf-alpha-ok', kind: 'Process', adopted: false });
    expect(Number.isNaN(Date.parse(r.startedAt))).toBe(false);
    expect(await concluded('bf-alpha-ok')).toEqual({ result: 'SUCCESS', detail: 'exit code 0' });
    const run = await readJson<Record<string, unknown>>(runFile('bf-alpha-ok', 'run.json'));
    expect(run).toMatchObject({ name: 'bf-alpha-ok', followerId: 'alpha', sha: SHA, attempt: 1, argv: [cmd], startedAt: r.startedAt });
    expect(typeof run?.pid).toBe('number');
    expect(await readJson(runFile('bf-alpha-ok', 'exit.json'))).toMatchObject({ code: 0, signal: null, timedOut: false, cancelled: false });
    const log = await readRunLog(stateDir, 'bf-alpha-ok');
    expect(log).toContain('to-stdout');
    expect(log).toContain('to-stderr');
  });

  it('reports a non-zero exit code', async () => {
    const cmd = await script('fail.sh', 'exit 3');
    await d.dispatch(req('bf-alpha-fail', [cmd]));
    expect(await concluded('bf-alpha-fail')).toEqual({ result: 'FAILURE', detail: 'exit code 3' });
  });

  it('starts one process however often and from however many dispatchers the same name is dispatched', async () => {
    const cmd = await script('once.sh', WAIT_FOR_GO);
    const dispatchers = [d, ...Array.from({ length: 4 }, () => createLocalDispatcher({ stateDir, cwd }))];
    const results = await Promise.all(dispatchers.map((x) => x.dispatch(req('bf-alpha-once', [cmd]))));
    expect(results.filter((r) => !r.adopted)).toHaveLength(1);
    const first = results.find((r) => !r.adopted)!;
    for (const r of results) expect(r.startedAt).toBe(first.startedAt);
    await waitFor('the command to start', async () => (await readFile(path.join(cwd, 'started.txt'), 'utf8').catch(() => '')).trim() !== '');
    expect(await statusOf('bf-alpha-once')).toMatchObject({ result: 'PENDING' });
    await writeFile(path.join(cwd, 'go'), '');
    expect(await concluded('bf-alpha-once')).toMatchObject({ result: 'SUCCESS' });
    // Dispatching again after it finished adopts the finished run; it does not run again.
    expect(await d.dispatch(req('bf-alpha-once', [cmd]))).toEqual({ ...first, adopted: true });
    expect((await readFile(path.join(cwd, 'started.txt'), 'utf8')).trim().split('\n')).toHaveLength(1);
    expect((await readFile(path.join(cwd, 'finished.txt'), 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('pins the run in the environment and runs in the given directory', async () => {
    const cmd = await script('env.sh', 'env > env.txt; pwd > pwd.txt');
    const disp = createLocalDispatcher({
      stateDir,
      cwd,
      env: { PATH: process.env.PATH, EXTRA_SETTING: 'kept', DROPPED: undefined, BRANCH_FOLLOWER_SHA: 'spoofed' },
    });
    await disp.dispatch(req('bf-alpha-env', [cmd], { attempt: 2 }));
    expect(await concluded('bf-alpha-env', disp)).toMatchObject({ result: 'SUCCESS' });
    const env = Object.fromEntries(
      (await readFile(path.join(cwd, 'env.txt'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env).toMatchObject({
      BRANCH_FOLLOWER_ID: 'alpha',
      BRANCH_FOLLOWER_SHA: SHA,
      BRANCH_FOLLOWER_ATTEMPT: '2',
      BRANCH_FOLLOWER_REPO: 'acme/app',
      BRANCH_FOLLOWER_BRANCH: 'release/1.x',
      EXTRA_SETTING: 'kept',
    });
    expect(env).not.toHaveProperty('DROPPED');
    // The given environment replaces this process's: nothing else of it leaks in.
    expect(env).not.toHaveProperty('VITEST');
    expect((await readFile(path.join(cwd, 'pwd.txt'), 'utf8')).trim()).toBe(cwd);
  });

  it('passes shell metacharacters literally: argv never goes through a shell', async () => {
    await mkdir(path.join(cwd, 'victim'));
    const cmd = await script('args.sh', 'for a in "$@"; do printf "%s\\n" "$a"; done > args.txt');
    const args = ['$(touch pwned1)', '; rm -rf victim', '`touch pwned2`', '| touch pwned3', '&& touch pwned4', "'quoted' \"double\"", '*', '$HOME'];
    await d.dispatch(req('bf-alpha-meta', [cmd, ...args]));
    expect(await concluded('bf-alpha-meta')).toMatchObject({ result: 'SUCCESS' });
    expect((await readFile(path.join(cwd, 'args.txt'), 'utf8')).split('\n').slice(0, -1)).toEqual(args);
    expect((await readdir(cwd)).filter((f) => f.startsWith('pwned'))).toEqual([]);
    expect(await exists(path.join(cwd, 'victim'))).toBe(true);

    // A command name with spaces is a file name, not a command line.
    await d.dispatch(req('bf-alpha-meta0', ['touch pwned0']));
    expect(await concluded('bf-alpha-meta0')).toMatchObject({ result: 'FAILURE', detail: expect.stringContaining('not found') });
    expect(await exists(path.join(cwd, 'pwned0'))).toBe(false);
  });

  it('keeps running after the process that dispatched it has exited', async () => {
    const cmd = await script('survive.sh', `${WAIT_FOR_GO}\necho done > marker`);
    const entry = path.join(root, 'dispatch-once.ts');
    const modUrl = new URL('../../src/adapters/local/dispatcher.ts', import.meta.url).href;
    await writeFile(
      entry,
      `import { createLocalDispatcher } from ${JSON.stringify(modUrl)};
const [stateDir, cwd, reqJson] = process.argv.slice(2);
const r = await createLocalDispatcher({ stateDir, cwd }).dispatch(JSON.parse(reqJson));
process.stdout.write(JSON.stringify(r));
`,
    );
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const c = spawn(process.execPath, [entry, stateDir, cwd, JSON.stringify(req('bf-alpha-survive', [cmd]))], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      c.once('error', reject);
      c.once('close', (code) => resolve({ code, stdout }));
    });
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ name: 'bf-alpha-survive', adopted: false });
    // The dispatching process is gone; the run is not.
    const pid = await commandPid('bf-alpha-survive');
    expect(await isRunning(pid)).toBe(true);
    expect(await statusOf('bf-alpha-survive')).toMatchObject({ result: 'PENDING' });
    await writeFile(path.join(cwd, 'go'), '');
    expect(await concluded('bf-alpha-survive')).toEqual({ result: 'SUCCESS', detail: 'exit code 0' });
    expect((await readFile(path.join(cwd, 'marker'), 'utf8')).trim()).toBe('done');
  });

  it('kills a command that outlives its trigger budget, with everything it started', async () => {
    const cmd = await script('slow.sh', 'sleep 300 &\necho $! > bg.pid\nwait');
    await d.dispatch(req('bf-alpha-slow', [cmd], { budgets: { triggerSeconds: 1, closeoutSeconds: 60, maxAttempts: 1 } }));
    const bg = Number(await waitFor('bg.pid', async () => (await readFile(path.join(cwd, 'bg.pid'), 'utf8').catch(() => '')).trim()));
    expect(await concluded('bf-alpha-slow')).toEqual({ result: 'FAILURE', detail: 'killed by SIGTERM after 1s trigger budget' });
    await waitFor('the background sleep to be killed', () => gone(bg));
    expect(await readJson(runFile('bf-alpha-slow', 'exit.json'))).toMatchObject({ timedOut: true, killSignal: 'SIGTERM', budgetSeconds: 1 });
    expect(await readRunLog(stateDir, 'bf-alpha-slow')).toContain('trigger budget ran out');
  });

  it('follows SIGTERM with SIGKILL when the command ignores it', async () => {
    const cmd = await script('stubborn.sh', "trap '' TERM\nwhile :; do sleep 0.1; done");
    await d.dispatch(req('bf-alpha-stubborn', [cmd], { budgets: { triggerSeconds: 1, closeoutSeconds: 60, maxAttempts: 1 } }));
    const pid = await commandPid('bf-alpha-stubborn');
    expect(await concluded('bf-alpha-stubborn')).toEqual({ result: 'FAILURE', detail: 'killed by SIGKILL after 1s trigger budget' });
    await waitFor('the command to die', () => gone(pid));
  });

  it('cancels a running command and records it; a missing or finished run is fine', async () => {
    const cmd = await script('long.sh', WAIT_FOR_GO);
    await d.dispatch(req('bf-alpha-cancel', [cmd]));
    const pid = await commandPid('bf-alpha-cancel');
    await d.cancel('bf-alpha-cancel');
    expect(await statusOf('bf-alpha-cancel')).toEqual({ result: 'FAILURE', detail: 'cancelled' });
    await waitFor('the cancelled command to die', () => gone(pid));
    expect(await readJson(runFile('bf-alpha-cancel', 'exit.json'))).toMatchObject({ cancelled: true });
    expect(await exists(path.join(cwd, 'finished.txt'))).toBe(false);
    await d.cancel('bf-alpha-cancel');
    await d.cancel('bf-alpha-never-dispatched');
    // Cancelling does not clear the name: it is never run again.
    expect(await d.dispatch(req('bf-alpha-cancel', [cmd]))).toMatchObject({ adopted: true });

    const ok = await script('quick.sh', 'exit 0');
    await d.dispatch(req('bf-alpha-done', [ok]));
    await concluded('bf-alpha-done');
    await d.cancel('bf-alpha-done');
    expect(await statusOf('bf-alpha-done')).toEqual({ result: 'SUCCESS', detail: 'exit code 0' });
  });

  it('cancels the command itself when its supervisor is already dead', async () => {
    const cmd = await script('orphan.sh', WAIT_FOR_GO);
    await d.dispatch(req('bf-alpha-orphan', [cmd]));
    const pid = await commandPid('bf-alpha-orphan');
    const sup = (await readJson<{ pid: number }>(runFile('bf-alpha-orphan', 'run.json')))!.pid;
    process.kill(sup, 'SIGKILL');
    await waitFor('the supervisor to die', () => gone(sup));
    expect(await statusOf('bf-alpha-orphan')).toMatchObject({ result: 'PENDING', detail: expect.stringContaining('supervisor died; command still running') });
    await d.cancel('bf-alpha-orphan');
    expect(await statusOf('bf-alpha-orphan')).toEqual({ result: 'FAILURE', detail: 'cancelled' });
    await waitFor('the orphaned command to die', () => gone(pid));
  });

  it('reports a supervisor that died without recording an exit', async () => {
    const cmd = await script('victim.sh', WAIT_FOR_GO);
    await d.dispatch(req('bf-alpha-died', [cmd]));
    const pid = await commandPid('bf-alpha-died');
    const sup = (await readJson<{ pid: number }>(runFile('bf-alpha-died', 'run.json')))!.pid;
    process.kill(sup, 'SIGKILL');
    process.kill(-pid, 'SIGKILL');
    await waitFor('both to die', async () => (await gone(sup)) && (await gone(pid)));
    expect(await statusOf('bf-alpha-died')).toEqual({ result: 'FAILURE', detail: `supervisor died (pid ${sup}) without recording an exit status` });
  });

  it('ends a command that cannot be started as a FAILURE that says why, without throwing', async () => {
    await expect(d.dispatch(req('bf-alpha-enoent', ['definitely-not-a-command-bf']))).resolves.toMatchObject({ adopted: false });
    const r = await concluded('bf-alpha-enoent');
    expect(r.result).toBe('FAILURE');
    expect(r.detail).toMatch(/cannot start "definitely-not-a-command-bf": not found/);
    expect(await readRunLog(stateDir, 'bf-alpha-enoent')).toContain('cannot start "definitely-not-a-command-bf"');

    const plain = path.join(cwd, 'not-executable.sh');
    await writeFile(plain, '#!/bin/sh\nexit 0\n');
    await d.dispatch(req('bf-alpha-eacces', [plain]));
    expect(await concluded('bf-alpha-eacces')).toMatchObject({ result: 'FAILURE', detail: expect.stringContaining('permission denied') });

    const lost = createLocalDispatcher({ stateDir, cwd: path.join(root, 'no-such-dir') });
    await lost.dispatch(req('bf-alpha-nocwd', ['true']));
    expect(await concluded('bf-alpha-nocwd', lost)).toMatchObject({ result: 'FAILURE', detail: expect.stringContaining('working directory') });
  });

  it('reads the trigger stage of many runs at once', async () => {
    const cmd = await script('code.sh', 'exit "$1"');
    const names = Array.from({ length: 12 }, (_, i) => `bf-alpha-many-${i}`);
    await Promise.all(names.map((n, i) => d.dispatch(req(n, [cmd, String(i % 3)]))));
    const unknown = Array.from({ length: 5 }, (_, i) => `bf-alpha-unknown-${i}`);
    const all = [...names, ...unknown, '../../etc', 'Not_A_Name'];
    const readings = await waitFor('all runs to conclude', async () => {
      const m = await d.statuses(all);
      return names.every((n) => m.get(n)?.result !== 'PENDING') ? m : null;
    });
    expect(readings.size).toBe(all.length);
    names.forEach((n, i) => {
      expect(readings.get(n)).toEqual(i % 3 === 0 ? { result: 'SUCCESS', detail: 'exit code 0' } : { result: 'FAILURE', detail: `exit code ${i % 3}` });
    });
    for (const n of [...unknown, '../../etc', 'Not_A_Name']) expect(readings.get(n)).toMatchObject({ result: 'NONE' });
  });

  it('judges a run directory that never got started', async () => {
    const runs = path.join(stateDir, 'runs');
    await mkdir(path.join(runs, 'bf-alpha-fresh'), { recursive: true });
    expect(await statusOf('bf-alpha-fresh')).toEqual({ result: 'PENDING', detail: 'starting' });
    await mkdir(path.join(runs, 'bf-alpha-stale'));
    const past = new Date(Date.now() - 60_000);
    await utimes(path.join(runs, 'bf-alpha-stale'), past, past);
    expect(await statusOf('bf-alpha-stale')).toMatchObject({ result: 'FAILURE', detail: expect.stringContaining('never started') });

    // A run.json written before the spawn, with no supervisor recorded after the grace period.
    await mkdir(path.join(runs, 'bf-alpha-unborn'));
    await writeFile(
      path.join(runs, 'bf-alpha-unborn', 'run.json'),
      JSON.stringify({ name: 'bf-alpha-unborn', followerId: 'alpha', sha: SHA, attempt: 1, argv: ['x'], cwd, startedAt: past.toISOString(), budgetSeconds: 600, pid: null }),
    );
    expect(await statusOf('bf-alpha-unborn')).toMatchObject({ result: 'FAILURE', detail: expect.stringContaining('never started') });
    // A recorded pid that now belongs to some other process (pid reuse) is not our supervisor.
    const stranger = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      await mkdir(path.join(runs, 'bf-alpha-reused'));
      await writeFile(
        path.join(runs, 'bf-alpha-reused', 'run.json'),
        JSON.stringify({ name: 'bf-alpha-reused', followerId: 'alpha', sha: SHA, attempt: 1, argv: ['x'], cwd, startedAt: new Date().toISOString(), budgetSeconds: 600, pid: stranger.pid }),
      );
      expect(await isRunning(stranger.pid!)).toBe(true);
      expect(await statusOf('bf-alpha-reused')).toEqual({ result: 'FAILURE', detail: `supervisor died (pid ${stranger.pid}) without recording an exit status` });
    } finally {
      stranger.kill('SIGKILL');
    }
    // Adopting such a directory never starts anything either.
    expect(await d.dispatch(req('bf-alpha-unborn', ['true']))).toEqual({ name: 'bf-alpha-unborn', kind: 'Process', startedAt: past.toISOString(), adopted: true });
  });

  it('refuses run names that are not DNS-1123 labels', async () => {
    await expect(d.dispatch(req('../escape', ['true']))).rejects.toThrow(/invalid run name/);
    await expect(d.dispatch(req('x'.repeat(64), ['true']))).rejects.toThrow(/invalid run name/);
    await expect(readRunLog(stateDir, '../escape')).rejects.toThrow(/invalid run name/);
    await expect(readRunLog(stateDir, 'bf-alpha-nothing')).rejects.toThrow(/no run bf-alpha-nothing/);
  });
});

/** Every byte a run takes on disk, whatever its files are called. */
const runBytes = async (name: string): Promise<number> => {
  const dir = path.join(stateDir, 'runs', name);
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(path.join(dir, f))).size;
  return total;
};

/** The output of `seq 1 n`, as the command prints it. */
const seqOutput = (n: number): string => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');

describe('bounded run logs', () => {
  // seq 1 400000 prints 2.7 MB: the size of the stderr the deploy printed on every failure.
  const N = 400_000;

  it('keeps a noisy run\'s first and last 256 KiB with a marker naming what was left out, byte for byte', async () => {
    const cmd = await script('noisy.sh', `seq 1 ${N} >&2; exit 3`);
    await d.dispatch(req('bf-alpha-noisy', [cmd]));
    expect(await settled('bf-alpha-noisy')).toEqual({ result: 'FAILURE', detail: 'exit code 3' });
    // exit.json comes first (the verdict matters more); the log is folded just after it.
    await waitFor('the log folded', async () => !(await readdir(path.join(stateDir, 'runs', 'bf-alpha-noisy'))).some((f) => f.startsWith('log.tail')));
    const log = await readFile(runFile('bf-alpha-noisy', 'log'), 'utf8');
    // The supervisor's own first and last lines frame the command's output in the stream.
    const first = log.slice(0, log.indexOf('\n') + 1);
    const last = log.slice(log.lastIndexOf('\n', log.length - 2) + 1);
    expect(first).toMatch(/^\[branch-follower .*\] run bf-alpha-noisy: starting/);
    expect(last).toMatch(/command ended: exit code 3\n$/);
    const stream = Buffer.from(first + seqOutput(N) + last);
    expect(stream.length).toBeGreaterThan(2_600_000);
    const omitted = stream.length - HEAD_BYTES - TAIL_BYTES;
    const expected = Buffer.concat([stream.subarray(0, HEAD_BYTES), Buffer.from(omittedMarker(omitted)), stream.subarray(stream.length - TAIL_BYTES)]);
    expect(Buffer.from(log).equals(expected)).toBe(true);
    // On disk: the capped log and the run's small records, nothing else.
    expect((await readdir(path.join(stateDir, 'runs', 'bf-alpha-noisy'))).sort()).toEqual(['exit.json', 'log', 'command.json', 'run.json'].sort());
    expect(await runBytes('bf-alpha-noisy')).toBeLessThan(HEAD_BYTES + TAIL_BYTES + 4096);
    expect(await readRunLog(stateDir, 'bf-alpha-noisy')).toBe(log);
  });

  it('bounds a noisy run while it is still running, and shows its head and newest output', async () => {
    const cmd = await script('noisy-wait.sh', `seq 1 ${N}\nwhile [ ! -f go ]; do sleep 0.05; done\necho done-now`);
    await d.dispatch(req('bf-alpha-noisy-run', [cmd]));
    const live = await waitFor('all output relayed', async () => {
      const text = await readRunLog(stateDir, 'bf-alpha-noisy-run');
      return text.endsWith(`\n${N}\n`) ? text : null;
    });
    expect(await statusOf('bf-alpha-noisy-run')).toMatchObject({ result: 'PENDING' });
    expect(await runBytes('bf-alpha-noisy-run')).toBeLessThanOrEqual(HEAD_BYTES + 2 * TAIL_BYTES + 4096);
    expect(live).toContain(omittedMarker(null));
    expect(live.startsWith('[branch-follower ')).toBe(true);
    expect(live).toContain('\n1\n2\n3\n');
    expect(Buffer.byteLength(live)).toBeLessThanOrEqual(HEAD_BYTES + TAIL_BYTES + omittedMarker(null).length);
    await writeFile(path.join(cwd, 'go'), '');
    expect(await concluded('bf-alpha-noisy-run')).toMatchObject({ result: 'SUCCESS' });
    await waitFor('the log folded', async () => !(await readdir(path.join(stateDir, 'runs', 'bf-alpha-noisy-run'))).some((f) => f.startsWith('log.tail')));
    const folded = await readRunLog(stateDir, 'bf-alpha-noisy-run');
    expect(folded).toMatch(/\ndone-now\n.*command ended: exit code 0\n$/);
    expect(folded).toMatch(/\[branch-follower: \d+ bytes omitted;/);
    expect((await readdir(path.join(stateDir, 'runs', 'bf-alpha-noisy-run'))).filter((f) => f.includes('tail'))).toEqual([]);
  });

  it('keeps a quiet run\'s log whole, and its last lines even when the command exits at once', async () => {
    const cmd = await script('quiet.sh', 'echo one; echo two >&2; echo three');
    await d.dispatch(req('bf-alpha-quiet', [cmd]));
    await concluded('bf-alpha-quiet');
    const log = await readRunLog(stateDir, 'bf-alpha-quiet');
    for (const l of ['one', 'two', 'three']) expect(log).toContain(`${l}\n`);
    expect(log).not.toContain('omitted');
  });
});

/** A pid that is certainly dead: a process this test started and reaped. */
const deadPid = async (): Promise<number> => {
  const p = spawn('true', [], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
};

describe('local housekeeping', () => {
  const DAY = 24 * 3600 * 1000;

  it('reduces finished runs past the retention to tombstones that keep their names, and leaves the rest whole', async () => {
    const hk = createLocalHousekeeper({ stateDir, retentionDays: 7 });
    const cmd = await script('count.sh', `echo "$BRANCH_FOLLOWER_ATTEMPT" >> ran.txt; seq 1 ${200_000}; exit 0`);
    const waiting = await script('wait.sh', WAIT_FOR_GO);
    await d.dispatch(req('bf-alpha-old', [cmd]));
    await d.dispatch(req('bf-alpha-old-failed', [await script('fails.sh', 'seq 1 1000 >&2; exit 4')]));
    await d.dispatch(req('bf-alpha-running', [waiting]));
    const okReading = await settled('bf-alpha-old');
    const failReading = await settled('bf-alpha-old-failed');
    await waitFor('the waiting command to start', async () => (await readFile(path.join(cwd, 'started.txt'), 'utf8').catch(() => '')).trim() !== '');
    const before = await runBytes('bf-alpha-old');
    expect(before).toBeGreaterThan(HEAD_BYTES);

    // Within the retention: nothing goes.
    expect(await hk.sweep(Date.now() + 6 * DAY)).toEqual({ pruned: [], tempsRemoved: 0 });
    expect(await runBytes('bf-alpha-old')).toBe(before);

    const r = await hk.sweep(Date.now() + 8 * DAY);
    expect(r.pruned.sort()).toEqual(['bf-alpha-old', 'bf-alpha-old-failed']);
    for (const name of r.pruned) {
      expect((await readdir(path.join(stateDir, 'runs', name))).sort()).toEqual(['exit.json', 'pruned.json', 'run.json']);
      expect(await runBytes(name)).toBeLessThan(2048);
      expect(await readRunLog(stateDir, name)).toContain('pruned after the run retention');
    }
    // The verdicts survive, and the names stay claimed: dispatching one again adopts the tombstone.
    expect(await statusOf('bf-alpha-old')).toEqual(okReading);
    expect(await statusOf('bf-alpha-old-failed')).toEqual(failReading);
    expect(await d.dispatch(req('bf-alpha-old', [cmd]))).toMatchObject({ adopted: true });
    expect((await readFile(path.join(cwd, 'ran.txt'), 'utf8')).trim().split('\n')).toHaveLength(1);
    // A run still going is never pruned, however old.
    expect((await hk.sweep(Date.now() + 800 * DAY)).pruned).toEqual([]);
    expect(await exists(runFile('bf-alpha-running', 'log'))).toBe(true);
    await writeFile(path.join(cwd, 'go'), '');
    await concluded('bf-alpha-running');
  });

  it('finishes a prune that a kill interrupted', async () => {
    const hk = createLocalHousekeeper({ stateDir, retentionDays: 1 });
    await d.dispatch(req('bf-alpha-half', ['true']));
    await settled('bf-alpha-half');
    // As a sweep killed right after its marker leaves it.
    await writeFile(runFile('bf-alpha-half', 'pruned.json'), JSON.stringify({ prunedAt: new Date().toISOString(), retentionDays: 1, logBytes: 0 }));
    expect((await hk.sweep(Date.now())).pruned).toEqual([]);
    expect((await readdir(path.join(stateDir, 'runs', 'bf-alpha-half'))).sort()).toEqual(['exit.json', 'pruned.json', 'run.json']);
  });

  it('removes temp files of dead writers, and never a live or fresh one', async () => {
    const hk = createLocalHousekeeper({ stateDir, retentionDays: 7 });
    const dirs = [stateDir, path.join(stateDir, 'state'), path.join(stateDir, 'events'), path.join(stateDir, 'runs', 'bf-alpha-x')];
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    const dead = await deadPid();
    const live = spawn('sleep', ['300'], { stdio: 'ignore' });
    try {
      const old = new Date(Date.now() - 5 * 60_000);
      const ancient = new Date(Date.now() - 2 * 3600_000);
      const make = async (file: string, mtime: Date | null): Promise<string> => {
        await writeFile(file, 'partial');
        if (mtime) await utimes(file, mtime, mtime);
        return file;
      };
      const doomed: string[] = [];
      for (const dir of dirs) doomed.push(await make(path.join(dir, `.a.json.${dead}.0123abcd.tmp`), old));
      doomed.push(await make(path.join(stateDir, 'state', `.b.json.${live.pid}.0123abcd.tmp`), ancient));
      const kept = [
        await make(path.join(stateDir, 'state', `.c.json.${live.pid}.0123abcd.tmp`), old),
        await make(path.join(stateDir, 'state', `.d.json.${dead}.0123abcd.tmp`), null),
        // Not a temp file by name: never touched.
        await make(path.join(stateDir, 'state', `e.json.${dead}.0123abcd.tmp`), ancient),
      ];
      expect((await hk.sweep(Date.now())).tempsRemoved).toBe(doomed.length);
      for (const f of doomed) expect(await exists(f)).toBe(false);
      for (const f of kept) expect(await exists(f)).toBe(true);
    } finally {
      live.kill('SIGKILL');
    }
  });
});
