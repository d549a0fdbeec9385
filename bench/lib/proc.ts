// Runs one command as its own process and measures it from the outside: wall time from spawn to
// exit, and peak resident memory. GNU time (`/usr/bin/time`) reads the peak from the kernel's
// rusage of the child when it is installed; otherwise a preloaded module reports the Node
// process's own `process.resourceUsage().maxRSS` (only possible for Node commands).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const GNU_TIME = '/usr/bin/time';
export const RSS_PRELOAD = join(import.meta.dirname, 'rss-preload.mjs');

export type RssMethod = 'gnu-time' | 'preload' | 'none';

export type Measured = {
  wallMs: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident set size in KiB, or null when it could not be measured. */
  maxRssKiB: number | null;
  rssMethod: RssMethod;
};

let gnuTime: boolean | null = null;
/** Whether GNU time is there and reports a peak RSS (busybox's `time` has no -f %M). */
export const hasGnuTime = async (): Promise<boolean> => {
  if (gnuTime !== null) return gnuTime;
  // BF_BENCH_RSS=preload forces the fallback (to check it against GNU time).
  if (!existsSync(GNU_TIME) || process.env.BF_BENCH_RSS === 'preload') return (gnuTime = false);
  const probe = await runRaw(GNU_TIME, ['-f', '%M', 'true'], { env: process.env });
  gnuTime = probe.code === 0 && /^\d+\s*$/m.test(probe.stderr);
  return gnuTime;
};

const runRaw = (
  cmd: string,
  args: readonly string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string },
): Promise<{ code: number; stdout: string; stderr: string; wallMs: number }> =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, [...args], { env: o.env, cwd: o.cwd, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (o.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input);
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : null;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - started;
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs,
      });
    });
  });

let seq = 0;

/**
 * Runs `cmd args` and measures it. `node: true` marks a Node command, so the preload fallback can
 * measure it where GNU time is missing.
 */
export const measure = async (
  cmd: string,
  args: readonly string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; node?: boolean; rss?: boolean },
): Promise<Measured> => {
  const rssFile = join(tmpdir(), `bf-bench-rss-${process.pid}-${++seq}`);
  const wantRss = o.rss ?? true;
  try {
    if (wantRss && (await hasGnuTime())) {
      const r = await runRaw(GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], o);
      // GNU time writes "Command exited with non-zero status N" before the format when it fails.
      const text = await readFile(rssFile, 'utf8').catch(() => '');
      const last = text.trim().split('\n').at(-1) ?? '';
      const kib = /^\d+$/.test(last) ? Number(last) : null;
      return { ...r, maxRssKiB: kib, rssMethod: kib === null ? 'none' : 'gnu-time' };
    }
    if (wantRss && o.node) {
      const env = { ...o.env, BF_BENCH_RSS_FILE: rssFile, NODE_OPTIONS: `${o.env.NODE_OPTIONS ?? ''} --import ${RSS_PRELOAD}`.trim() };
      const r = await runRaw(cmd, args, { ...o, env });
      const text = await readFile(rssFile, 'utf8').catch(() => '');
      const kib = /^\d+\s*$/.test(text) ? Number(text.trim()) : null;
      return { ...r, maxRssKiB: kib, rssMethod: kib === null ? 'none' : 'preload' };
    }
    return { ...(await runRaw(cmd, args, o)), maxRssKiB: null, rssMethod: 'none' };
  } finally {
    await rm(rssFile, { force: true });
  }
};

/** Runs a command for its output only (set-up steps, version probes). */
export const run = (cmd: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}) =>
  runRaw(cmd, args, { env: o.env ?? process.env, ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.input !== undefined ? { input: o.input } : {}) });
