import { spawn } from 'node:child_process';

/**
 * Runs a short-lived read command as an argument vector (no shell) with a hard timeout. The
 * command leads its own process group, so a timeout kills whatever it started too; otherwise a
 * grandchild holding stdout open would keep the read waiting long after the kill.
 */

export type ArgvOutcome =
  | { kind: 'exited'; code: number | null; signal: string | null; stdout: string; stderr: string }
  | { kind: 'timeout'; stderr: string }
  | { kind: 'overflow'; limit: number }
  | { kind: 'spawn-error'; code: string | undefined; message: string };

export type RunArgvOptions = { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv; maxStdoutBytes?: number };

const STDERR_KEEP = 4096;

const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      return;
    } catch {
      // Already gone.
    }
  }
};

export const runArgv = (argv: readonly string[], opts: RunArgvOptions): Promise<ArgvOutcome> =>
  new Promise((resolve) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const maxStdout = opts.maxStdoutBytes ?? 1024 * 1024;
    let settled = false;
    const settle = (o: ArgvOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = Buffer.alloc(0);
    const stop = (o: ArgvOutcome): void => {
      killGroup(child.pid);
      child.stdout?.destroy();
      child.stderr?.destroy();
      settle(o);
    };
    const timer = setTimeout(() => stop({ kind: 'timeout', stderr: err.toString('utf8') }), opts.timeoutMs);
    child.stdout?.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > maxStdout) stop({ kind: 'overflow', limit: maxStdout });
      else out.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      err = Buffer.concat([err, b]);
      if (err.length > STDERR_KEEP) err = err.subarray(err.length - STDERR_KEEP);
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) settle({ kind: 'spawn-error', code: e.code, message: e.message });
    });
    child.once('close', (code, signal) =>
      settle({ kind: 'exited', code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err.toString('utf8') }),
    );
  });
