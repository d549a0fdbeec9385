import { spawn } from 'node:child_process';
import { mkdir, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshotDistDir } from '../../startup-snapshot.ts';
import type { StageReading } from '../../core/fold.ts';
import type { Dispatcher, DispatchRequest, DispatchResult } from '../ports.ts';
import { createFileExclusive, errCode, readFileOrNull, replaceFile, statOrNull } from './atomic-file.ts';
import { readCappedLog } from './capped-log.ts';
import { mapLimit } from './map-limit.ts';
import { isRunning, processMatches, signalGroup, sleep } from './processes.ts';
import {
  CommandRecord,
  ExitRecord,
  RunRecord,
  checkRunName,
  okOrNull,
  readJsonFile,
  runFiles,
  type RunFiles,
  type SupervisorSpec,
} from './run-files.ts';

/**
 * Dispatch as a detached local process. Each run is a directory `<stateDir>/runs/<name>/`
 * created with mkdir, which is atomic and exclusive: a second dispatch of the same name finds
 * it and adopts the run instead of starting another. See run-files.ts for what the directory holds.
 */

export type LocalDispatcherOptions = {
  stateDir: string;
  /** The trigger command's working directory: the registry's directory. */
  cwd: string;
  /** The command's environment (default: this process's); a key set to undefined is left out. */
  env?: NodeJS.ProcessEnv;
};

/**
 * The supervisor's own entry: supervisor.ts beside this module when the sources run; the bundle's
 * supervisor.js (an entry of scripts/build.ts) beside the chunk holding this code when the bundle
 * runs, or beside the start-up snapshot it was started from. Resolved when a run starts: in a
 * snapshot, this module was loaded where the bundle was built.
 */
const SUPERVISOR_FILES = ['supervisor.ts', 'supervisor.js'];
const supervisorEntry = (): string => {
  const dist = snapshotDistDir();
  if (dist !== null) return path.join(dist, 'supervisor.js');
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './supervisor.ts' : './supervisor.js', import.meta.url));
};
/** How long a run directory may lack its records before it counts as never started. */
export const START_GRACE_MS = 30_000;
/** Between SIGTERM and SIGKILL when a command is stopped. */
export const KILL_GRACE_MS = 5_000;
/** How long cancel waits for the supervisor to stop the command and record it. */
const CANCEL_WAIT_MS = KILL_GRACE_MS + 5_000;
const DETAIL_MAX = 500;

const clip = (s: string): string => (s.length <= DETAIL_MAX ? s : `${s.slice(0, DETAIL_MAX - 1)}…`);

/** The command's environment: the given one (undefined values left out), with the run pinned on top. */
export const commandEnv = (base: NodeJS.ProcessEnv, req: DispatchRequest): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  // An IPC channel of the parent (e.g. a forked test worker) must not leak into the supervisor.
  delete env.NODE_CHANNEL_FD;
  delete env.NODE_CHANNEL_SERIALIZATION_MODE;
  env.BRANCH_FOLLOWER_ID = req.followerId;
  env.BRANCH_FOLLOWER_SHA = req.sha;
  env.BRANCH_FOLLOWER_ATTEMPT = String(req.attempt);
  env.BRANCH_FOLLOWER_EPISODE = String(req.episode);
  env.BRANCH_FOLLOWER_REPO = req.repo;
  env.BRANCH_FOLLOWER_BRANCH = req.branch;
  return env;
};

/**
 * Recognises the supervisor of run `name` by its arguments: the supervisor script (of the
 * sources or of the bundle, whichever started it) and a run directory of that name. Compared by name, not by full path, so a state directory reached
 * through another path (a symlink, a relative path) still matches.
 */
const supervises =
  (name: string) =>
  (args: string[]): boolean =>
    args.some((a) => SUPERVISOR_FILES.includes(path.basename(a))) && args.some((a) => path.basename(a) === name && path.basename(path.dirname(a)) === 'runs');

const readRun = (f: RunFiles) => readJsonFile(f.run, RunRecord);
const readExit = (f: RunFiles) => readJsonFile(f.exit, ExitRecord);
const readCommand = (f: RunFiles) => readJsonFile(f.command, CommandRecord);

const signalGroupOnly = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    // Only the group: a pid is never handed out again while its group lives, so this reaches
    // the command's leftovers and nothing else even when the leader itself is gone.
    process.kill(-pgid, signal);
  } catch {
    // No such group: nothing left to stop.
  }
};

/** SIGTERM to a command's process group, SIGKILL for whatever is still there after the grace. */
const stopGroup = async (pgid: number): Promise<'SIGTERM' | 'SIGKILL'> => {
  signalGroupOnly(pgid, 'SIGTERM');
  const end = Date.now() + KILL_GRACE_MS;
  while (Date.now() < end && (await isRunning(pgid))) await sleep(50);
  const stubborn = await isRunning(pgid);
  signalGroupOnly(pgid, 'SIGKILL');
  return stubborn ? 'SIGKILL' : 'SIGTERM';
};

export const exitReading = (e: ExitRecord): StageReading => {
  if (e.error) return { result: 'FAILURE', detail: clip(e.error) };
  if (e.cancelled) return { result: 'FAILURE', detail: 'cancelled' };
  if (e.timedOut) return { result: 'FAILURE', detail: `killed by ${e.killSignal ?? 'SIGTERM'} after ${e.budgetSeconds ?? '?'}s trigger budget` };
  if (e.code === 0) return { result: 'SUCCESS', detail: 'exit code 0' };
  if (e.code !== null) return { result: 'FAILURE', detail: `exit code ${e.code}` };
  return { result: 'FAILURE', detail: `killed by ${e.signal ?? 'an unknown signal'}` };
};

/** The trigger stage of one run, from its directory alone (no memory of this process needed). */
export const runStatus = async (runsDir: string, name: string, now: () => number): Promise<StageReading> => {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) return { result: 'NONE', detail: `no run ${name}` };
  const f = runFiles(path.join(runsDir, name));
  const dirStat = await statOrNull(f.dir);
  if (!dirStat) return { result: 'NONE', detail: `no run ${name}` };
  const exit = await readExit(f);
  if (exit.kind === 'ok') return exitReading(exit.value);
  if (exit.kind === 'bad') return { result: 'FAILURE', detail: clip(`exit status unreadable: ${exit.message}`) };
  const run = await readRun(f);
  if (run.kind === 'bad') return { result: 'FAILURE', detail: clip(`run record unreadable: ${run.message}`) };
  if (run.kind === 'absent') {
    return now() - dirStat.mtimeMs > START_GRACE_MS
      ? { result: 'FAILURE', detail: `never started: ${f.dir} has no run.json after ${START_GRACE_MS / 1000}s` }
      : { result: 'PENDING', detail: 'starting' };
  }
  const cmd = okOrNull(await readCommand(f));
  const supervisorPid = run.value.pid ?? cmd?.supervisorPid ?? null;
  if (supervisorPid === null) {
    return now() - Date.parse(run.value.startedAt) > START_GRACE_MS
      ? { result: 'FAILURE', detail: `never started: no supervisor recorded ${START_GRACE_MS / 1000}s after dispatch` }
      : { result: 'PENDING', detail: 'starting' };
  }
  if (await processMatches(supervisorPid, supervises(name))) {
    return { result: 'PENDING', detail: `running (pid ${cmd?.pid ?? supervisorPid}) since ${run.value.startedAt}` };
  }
  // The supervisor writes exit.json before it exits: read again, it may have ended just now.
  const late = await readExit(f);
  if (late.kind === 'ok') return exitReading(late.value);
  // The command has its own process group and can outlive a killed supervisor: never call a
  // deploy finished while it still runs.
  if (cmd && (await isRunning(cmd.pid))) return { result: 'PENDING', detail: `supervisor died; command still running (pid ${cmd.pid}), its exit status will not be known` };
  return { result: 'FAILURE', detail: `supervisor died (pid ${supervisorPid}) without recording an exit status` };
};

export const createLocalDispatcher = (opts: LocalDispatcherOptions): Dispatcher => {
  // Absolute: the supervisor is recognised by this path among its arguments, whoever asks.
  const runsDir = path.resolve(opts.stateDir, 'runs');
  const now = (): number => Date.now();

  const adopt = async (f: RunFiles, name: string): Promise<DispatchResult> => {
    // Another dispatcher may be between its mkdir and its run.json: give it a moment.
    for (let i = 0; i < 40; i++) {
      const run = okOrNull(await readRun(f));
      if (run) return { name, kind: 'Process', startedAt: run.startedAt, adopted: true };
      await sleep(50);
    }
    const st = await statOrNull(f.dir);
    return { name, kind: 'Process', startedAt: new Date(st?.mtimeMs ?? now()).toISOString(), adopted: true };
  };

  /** Starts the supervisor; answers its pid, or null after recording why it could not start. */
  const startSupervisor = async (f: RunFiles, req: DispatchRequest): Promise<number | null> => {
    const spec: SupervisorSpec = { cwd: path.resolve(opts.cwd), argv: [...req.argv], budgetSeconds: req.budgets.triggerSeconds, killGraceMs: KILL_GRACE_MS };
    const log = await open(f.log, 'a', 0o644);
    try {
      const child = spawn(process.execPath, [supervisorEntry(), f.dir, JSON.stringify(spec)], {
        cwd: f.dir,
        env: commandEnv(opts.env ?? process.env, req),
        stdio: ['ignore', log.fd, log.fd],
        detached: true,
        shell: false,
      });
      const started = await new Promise<Error | null>((resolve) => {
        child.once('spawn', () => resolve(null));
        child.once('error', resolve);
      });
      if (started) {
        const error = `cannot start the supervisor (${process.execPath}): ${started.message}`;
        await log.write(`[branch-follower ${new Date().toISOString()}] ${error}\n`);
        const record: ExitRecord = { code: null, signal: null, endedAt: new Date().toISOString(), timedOut: false, cancelled: false, killSignal: null, budgetSeconds: spec.budgetSeconds, error };
        await createFileExclusive(f.exit, `${JSON.stringify(record, null, 2)}\n`);
        return null;
      }
      // The CLI may exit at once; the supervisor carries on alone.
      child.unref();
      return child.pid ?? null;
    } finally {
      await log.close();
    }
  };

  return {
    kind: 'Process',

    async dispatch(req) {
      const name = checkRunName(req.name);
      const f = runFiles(path.join(runsDir, name));
      const startedAt = new Date(now()).toISOString();
      // Checked before the directory exists: a request that cannot be recorded must not claim the name.
      const record = RunRecord.parse({
        name,
        followerId: req.followerId,
        sha: req.sha,
        attempt: req.attempt,
        argv: [...req.argv],
        cwd: path.resolve(opts.cwd),
        startedAt,
        budgetSeconds: req.budgets.triggerSeconds,
        pid: null,
      });
      await mkdir(runsDir, { recursive: true });
      try {
        await mkdir(f.dir);
      } catch (e) {
        if (errCode(e) === 'EEXIST') return adopt(f, name);
        throw e;
      }
      // Written before the spawn too, so a crash in between leaves a record to judge by.
      await replaceFile(f.run, `${JSON.stringify(record, null, 2)}\n`);
      const pid = await startSupervisor(f, req);
      await replaceFile(f.run, `${JSON.stringify({ ...record, pid }, null, 2)}\n`);
      return { name, kind: 'Process', startedAt, adopted: false };
    },

    async cancel(name) {
      const f = runFiles(path.join(runsDir, checkRunName(name)));
      if (!(await statOrNull(f.dir))) return;
      if ((await readFileOrNull(f.exit)) !== null) return;
      await createFileExclusive(f.cancel, `${JSON.stringify({ at: new Date(now()).toISOString() })}\n`);
      const deadline = now() + CANCEL_WAIT_MS;
      let signalled = false;
      for (;;) {
        if ((await readFileOrNull(f.exit)) !== null) return;
        const run = okOrNull(await readRun(f));
        const cmd = okOrNull(await readCommand(f));
        const supervisorPid = run?.pid ?? cmd?.supervisorPid ?? null;
        const alive = supervisorPid !== null && (await processMatches(supervisorPid, supervises(name)));
        if (alive && !signalled) {
          // The supervisor turns SIGTERM into a cancel: it stops the command's process group and records it.
          signalled = true;
          try {
            process.kill(supervisorPid, 'SIGTERM');
          } catch {
            // Gone meanwhile: the next round sees it dead.
          }
        }
        const unborn = supervisorPid === null && now() - Date.parse(run?.startedAt ?? new Date(0).toISOString()) > START_GRACE_MS;
        if ((supervisorPid !== null && !alive) || unborn || now() > deadline) break;
        await sleep(50);
      }
      // The supervisor is gone or stuck: stop whatever is left ourselves and record the cancel.
      const run = okOrNull(await readRun(f));
      if (run?.pid && (await processMatches(run.pid, supervises(name)))) signalGroup(run.pid, 'SIGKILL');
      const cmd = okOrNull(await readCommand(f));
      const killSignal = cmd ? await stopGroup(cmd.pid) : null;
      const record: ExitRecord = {
        code: null,
        signal: null,
        endedAt: new Date(now()).toISOString(),
        timedOut: false,
        cancelled: true,
        killSignal,
        budgetSeconds: run?.budgetSeconds ?? null,
        error: null,
      };
      await createFileExclusive(f.exit, `${JSON.stringify(record, null, 2)}\n`);
    },

    async statuses(names) {
      const unique = [...new Set(names)];
      const readings = await mapLimit(unique, 16, async (name) => [name, await runStatus(runsDir, name, now)] as const);
      return new Map(readings);
    },
  };
};

/** The newest part of a log worth printing; a runaway command must not flood the terminal. */
const LOG_TAIL_BYTES = 1024 * 1024;

/** The log of a local run (its last MiB), or an Error naming where it was looked for. */
export const readRunLog = async (stateDir: string, name: string): Promise<string> => {
  const f = runFiles(path.join(stateDir, 'runs', checkRunName(name)));
  if (!(await statOrNull(f.dir))) throw new Error(`no run ${name} in ${path.dirname(f.dir)}`);
  const buf = await readCappedLog(f.log);
  if (buf === null) {
    const pruned = await readFileOrNull(path.join(f.dir, 'pruned.json'));
    return pruned === null ? '' : `[the log of run ${name} was pruned after the run retention; ${f.dir} keeps its records]\n`;
  }
  // Logs of runs from before logs were capped may be larger.
  const start = Math.max(0, buf.length - LOG_TAIL_BYTES);
  const text = buf.subarray(start).toString('utf8');
  return start === 0 ? text : `[… ${start} earlier bytes of ${f.log} omitted]\n${text}`;
};

/** Every run recorded for a follower, newest first (run.json names the follower; names may be cut). */
export const listRuns = async (stateDir: string, followerId: string): Promise<RunRecord[]> => {
  const runsDir = path.join(stateDir, 'runs');
  let names: string[];
  try {
    names = await readdir(runsDir);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw e;
  }
  const runs = await mapLimit(names, 16, async (n) => okOrNull(await readRun(runFiles(path.join(runsDir, n)))));
  return runs
    .filter((r): r is RunRecord => r !== null && r.followerId === followerId)
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.attempt < b.attempt ? 1 : -1));
};
