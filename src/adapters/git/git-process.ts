import { spawn } from 'node:child_process';

/**
 * Runs git as an argument vector in an environment built from scratch, so nothing of the
 * caller's shell (GIT_DIR, GIT_WORK_TREE, GIT_CONFIG_*, a global `url.*.insteadOf`, a
 * credential helper, a repository discovered from the working directory) can change which
 * repository is read or what it answers.
 */

export type GitResult =
  | { kind: 'exit'; code: number; stdout: string; stderr: string }
  | { kind: 'timeout'; stderr: string }
  | { kind: 'too-large'; limit: number }
  | { kind: 'spawn-error'; message: string };

export type GitRunOptions = {
  gitBinary: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  maxOutputBytes: number;
};

// Passed through from the process environment: what reaching a mirror over the network may
// legitimately need (a proxy, a private CA), and nothing that selects a repository or config.
const PASS_THROUGH = [
  'PATH',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'all_proxy',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'TZ',
] as const;

// Caller-supplied variables git may honour without pointing it at local state.
const ALLOWED_GIT_VARS = new Set([
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'GIT_HTTP_USER_AGENT',
  'GIT_TRACE',
  'GIT_TRACE_PACKET',
  'GIT_TRACE_CURL',
  'GIT_TRACE2',
  'GIT_CURL_VERBOSE',
]);

/**
 * The environment every git child gets. `extra` adds or (with undefined) removes variables;
 * GIT_* variables outside a small allowlist are dropped whoever supplies them.
 */
export const cleanGitEnv = (
  home: string,
  ceiling: string,
  extra: Readonly<Record<string, string | undefined>> = {},
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const key of PASS_THROUGH) {
    const v = from[key];
    if (v !== undefined) env[key] = v;
  }
  if (env.PATH === undefined) env.PATH = '/usr/local/bin:/usr/bin:/bin';
  for (const [key, value] of Object.entries(extra)) {
    if (key.startsWith('GIT_') && !ALLOWED_GIT_VARS.has(key)) continue;
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: home,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GCM_INTERACTIVE: 'never',
    GIT_PROTOCOL_FROM_USER: '0',
    // No repository is discovered above the private working directory, whatever sits there.
    GIT_CEILING_DIRECTORIES: ceiling,
  };
};

// Reads still running when the process exits (a tick cut short) are killed with it rather than
// left behind in their own process groups.
const running = new Set<number>();
let exitHookInstalled = false;
const killRunningOnExit = (): void => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
};

/**
 * Runs `git argv`. The child leads its own process group so a timeout kills it together with
 * the helpers it started (git-remote-http, upload-pack), which would otherwise hold the
 * connection, and our pipes, open.
 */
export const runGit = (argv: readonly string[], opts: GitRunOptions): Promise<GitResult> =>
  new Promise((resolve) => {
    let settled = false;
    const finish = (r: GitResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
      resolve(r);
    };
    const child = spawn(opts.gitBinary, [...argv], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
      windowsHide: true,
    });
    if (child.pid !== undefined) {
      running.add(child.pid);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on('exit', killRunningOnExit);
      }
    }
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout?.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > opts.maxOutputBytes) {
        killGroup();
        finish({ kind: 'too-large', limit: opts.maxOutputBytes });
        return;
      }
      out.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      // stderr only feeds messages: keep the first 64 KiB.
      if (errBytes < 65_536) err.push(b);
      errBytes += b.length;
    });
    const timer = setTimeout(() => {
      killGroup();
      finish({ kind: 'timeout', stderr: Buffer.concat(err).toString('utf8') });
    }, opts.timeoutMs);
    child.on('error', (e) => {
      killGroup();
      finish({ kind: 'spawn-error', message: e.message });
    });
    child.on('close', (code, signal) => {
      finish({
        kind: 'exit',
        code: code ?? (signal !== null ? 128 + (signalNumber(signal) ?? 0) : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });

const signalNumber = (signal: NodeJS.Signals): number | undefined =>
  ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[signal];
