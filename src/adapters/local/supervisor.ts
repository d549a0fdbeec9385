import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { CappedLogWriter } from './capped-log.ts';
import path from 'node:path';
import { createFileExclusive, readFileOrNull, replaceFile } from './atomic-file.ts';
import { signalGroup } from './processes.ts';
import { ExitRecord, SupervisorSpec, runFiles } from './run-files.ts';
import { showArgv } from './show-argv.ts';

/**
 * The supervisor of one local run: `node supervisor.ts <runDir> <spec-json>`, started detached by
 * the dispatcher with stdout and stderr on the run's log. It outlives the CLI that dispatched it,
 * runs the trigger argv (never through a shell) in a process group of its own, enforces the
 * trigger budget, turns SIGTERM into a cancel, and records how the command ended in exit.json.
 * A separate process (rather than the CLI waiting) is what lets a CronJob-style tick exit while
 * the deploy goes on.
 */

const [runDir, specJson] = process.argv.slice(2);
if (runDir === undefined || specJson === undefined) {
  process.stderr.write('usage: supervisor.ts <runDir> <spec-json>\n');
  process.exit(2);
}
const spec = SupervisorSpec.parse(JSON.parse(specJson));
const files = runFiles(runDir);
const name = path.basename(runDir);

// The command's output is relayed through here rather than written to the log directly, so
// the log stays bounded (capped-log.ts). The dispatcher may have written a line already.
const log = new CappedLogWriter(files.log, await stat(files.log).then((s) => s.size, () => 0));

const say = (msg: string): void => {
  log.write(`[branch-follower ${new Date().toISOString()}] ${msg}\n`);
};

let child: ChildProcess | null = null;
/** The command's output is relayed into the log until it has ended and its pipes drained. */
let relaying = true;
let stopping: 'timeout' | 'cancel' | null = null;
let killSignal: NodeJS.Signals | null = null;
let finished = false;
let recording: Promise<void> = Promise.resolve();
const timers: NodeJS.Timeout[] = [];

const finish = async (end: { code: number | null; signal: string | null; error: string | null }): Promise<never> => {
  if (!finished) {
    finished = true;
    for (const t of timers) clearTimeout(t);
    await recording;
    const record: ExitRecord = {
      ...end,
      endedAt: new Date().toISOString(),
      timedOut: stopping === 'timeout',
      cancelled: stopping === 'cancel',
      killSignal: stopping ? killSignal : null,
      budgetSeconds: spec.budgetSeconds,
    };
    // Exclusive: if a cancel already wrote its account (this supervisor looked dead to it), that one stands.
    await createFileExclusive(files.exit, `${JSON.stringify(ExitRecord.parse(record), null, 2)}\n`);
    // After exit.json: the verdict matters more than the log, and a kill here leaves tail files
    // that readers fold themselves.
    await log.close().catch((e: unknown) => process.stderr.write(`[branch-follower] could not fold the log: ${(e as Error).message}\n`));
  }
  process.exit(0);
};

const stop = (why: 'timeout' | 'cancel'): void => {
  if (stopping || finished) return;
  stopping = why;
  const pid = child?.pid;
  if (pid === undefined) {
    // Nothing started yet: there is nothing to kill, only an outcome to record.
    say(`${why === 'cancel' ? 'cancelled' : 'trigger budget ran out'} before the command started`);
    void finish({ code: null, signal: null, error: null });
    return;
  }
  say(
    why === 'cancel'
      ? `cancel requested; sending SIGTERM to the command (pid ${pid})`
      : `the ${spec.budgetSeconds}s trigger budget ran out; sending SIGTERM to the command (pid ${pid})`,
  );
  killSignal = 'SIGTERM';
  signalGroup(pid, 'SIGTERM');
  const t = setTimeout(() => {
    say(`the command did not stop within ${spec.killGraceMs / 1000}s of SIGTERM; sending SIGKILL`);
    killSignal = 'SIGKILL';
    signalGroup(pid, 'SIGKILL');
  }, spec.killGraceMs);
  timers.push(t);
};

// Installed before anything else, so a cancel that arrives while starting is never lost.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop('cancel'));

const cannotStart = (e: NodeJS.ErrnoException): string => {
  const cmd = spec.argv[0] ?? '';
  const why =
    e.code === 'ENOENT'
      ? `not found (no such file${cmd.includes('/') ? '' : ' on PATH'})`
      : e.code === 'EACCES'
        ? 'permission denied (is it executable?)'
        : e.message;
  return `cannot start ${JSON.stringify(cmd)}: ${why}${e.code ? ` [${e.code}]` : ''}`;
};

const main = async (): Promise<void> => {
  if ((await readFileOrNull(files.cancel)) !== null || (await readFileOrNull(files.exit)) !== null) {
    stop('cancel');
    return;
  }
  const cwdOk = await stat(spec.cwd).then((s) => s.isDirectory(), () => false);
  if (!cwdOk) {
    const error = `cannot start ${JSON.stringify(spec.argv[0])}: working directory ${spec.cwd} does not exist`;
    say(error);
    await finish({ code: null, signal: null, error });
    return;
  }
  say(`run ${name}: starting ${showArgv(spec.argv, 2000)} in ${spec.cwd} (trigger budget ${spec.budgetSeconds}s)`);
  const [cmd, ...args] = spec.argv as [string, ...string[]];
  // detached: the command leads a process group of its own, so a timeout or cancel reaches
  // everything it started, and the supervisor can still record the outcome afterwards.
  const c = spawn(cmd, args, { cwd: spec.cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
  child = c;
  c.stdout.on('data', (b: Buffer) => relaying && log.write(b));
  c.stderr.on('data', (b: Buffer) => relaying && log.write(b));
  c.once('error', (e: NodeJS.ErrnoException) => {
    if (c.pid !== undefined) {
      say(`error from the command (pid ${c.pid}): ${e.message}`);
      return;
    }
    const error = cannotStart(e);
    say(error);
    void finish({ code: null, signal: null, error });
  });
  c.once('spawn', () => {
    const pid = c.pid as number;
    recording = replaceFile(files.command, `${JSON.stringify({ supervisorPid: process.pid, pid, startedAt: new Date().toISOString() })}\n`).catch((e: unknown) =>
      say(`could not record the command pid: ${(e as Error).message}`),
    );
    timers.push(setTimeout(() => stop('timeout'), spec.budgetSeconds * 1000));
  });
  c.once('exit', (code, signal) => void drained(c).then(() => {
    // Output that still arrives (a child the command left holding its pipes) would land after
    // the last line and into a log being folded: it is dropped from here on.
    relaying = false;
    say(
      stopping
        ? `command ended (${code !== null ? `exit code ${code}` : `signal ${signal}`}) after ${stopping === 'cancel' ? 'the cancel' : 'the trigger budget ran out'}`
        : `command ended: ${code !== null ? `exit code ${code}` : `killed by ${signal}`}`,
    );
    void finish({ code, signal, error: null });
  }));
};

/** How long output may still arrive after the command exited (a child it left may hold the pipes). */
const DRAIN_MS = 10_000;

/** Waits for the command's pipes to close, so its last lines are logged before the fold. */
const drained = (c: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    let open = [c.stdout, c.stderr].filter((s) => s !== null && !s.closed).length;
    if (open === 0) return resolve();
    const t = setTimeout(resolve, DRAIN_MS);
    for (const s of [c.stdout, c.stderr]) {
      s?.once('close', () => {
        if (--open === 0) {
          clearTimeout(t);
          resolve();
        }
      });
    }
  });

main().catch(async (e: unknown) => {
  const error = `supervisor failed: ${(e as Error).message}`;
  say(error);
  await finish({ code: null, signal: null, error });
});
