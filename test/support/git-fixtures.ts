// Real git for tests: bare mirror repositories in a temp dir, commits pushed to them from a
// scratch clone, and the same directory served over `git daemon` (git://) and over
// `git http-backend` behind a small node:http CGI bridge (http://). Everything binds to
// 127.0.0.1 on a random free port and is stopped by `cleanup()`.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runGitHttpBackend } from './git-http-backend-cgi.ts';

export type GitRun = { stdout: string; stderr: string; code: number };

/** An environment in which no system or user git configuration of this machine applies. */
export const fixtureGitEnv = (home: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_') && v !== undefined) env[k] = v;
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: join(home, '.gitconfig'),
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Fixture',
    GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
    GIT_COMMITTER_NAME: 'Fixture',
    GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
    LANG: 'C',
    LC_ALL: 'C',
  };
};

const GLOBAL_CONFIG = `[user]
\tname = Fixture
\temail = fixture@example.invalid
[init]
\tdefaultBranch = main
[protocol "file"]
\tallow = always
[advice]
\tdetachedHead = false
[gc]
\tauto = 0
`;

/** Runs git with argv (never a shell); rejects on a non-zero exit unless `allowFail`. */
export const runGitCmd = (
  args: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string; allowFail?: boolean },
): Promise<GitRun> =>
  new Promise((resolve, reject) => {
    const child = spawn('git', [...args], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const r = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? 1 };
      if (r.code !== 0 && !opts.allowFail) reject(new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr}`));
      else resolve(r);
    });
    // A git that fails early closes its stdin; its exit status reports that.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });

export type GitServer = {
  /** The read URL to configure: repositories are at `<url>/<owner>/<repo>.git`. */
  url: string;
  port: number;
  stop(): Promise<void>;
};

export type GitDaemon = GitServer & {
  /** upload-pack requests the daemon logged so far (one per `git ls-remote` or fetch). */
  uploadPacks(): number;
};

export type HttpGitServer = GitServer & {
  /** Requests the bridge received, e.g. to count `info/refs` round trips; `bytes`: body bytes answered. */
  requests: { method: string; path: string; bytes: number; protocol: string | null }[];
  /** The largest number of requests being served at once. */
  maxInFlight(): number;
  /** Client connections currently open (a killed client's connection closes). */
  openConnections(): number;
};

export type HttpServeOptions = {
  /** Requests whose path matches never get an answer (the connection stays open). */
  hang?: (path: string) => boolean;
  /** Milliseconds to hold every request before serving it. */
  delayMs?: number;
  /** Answers a matching request with this status (429, 503) and Retry-After, instead of serving it. */
  throttle?: (path: string) => { status: number; retryAfter: string | null } | null;
  /** Drops the Git-Protocol header: a server that speaks only protocol v0. */
  v0Only?: boolean;
};

export type GitFixture = {
  root: string;
  /** `<mirrorRoot>/<owner>/<repo>.git` are the bare repositories. */
  mirrorRoot: string;
  /** `file://` read URL of the mirror directory. */
  fileUrl: string;
  env: NodeJS.ProcessEnv;
  git(args: readonly string[], opts?: { cwd?: string; input?: string; allowFail?: boolean }): Promise<GitRun>;
  /** Creates an empty bare repository on the mirror (SHA-1 unless asked); returns its path. */
  createBareRepo(repo: string, opts?: { objectFormat?: 'sha1' | 'sha256' }): Promise<string>;
  /** Deletes a repository from the mirror and creates it anew, empty, in `objectFormat` (a mirror converted under its followers). */
  replaceBareRepo(repo: string, opts: { objectFormat: 'sha1' | 'sha256' }): Promise<string>;
  /** Creates a commit (on `parent`, default the branch's current tip) without pushing it. */
  makeCommit(repo: string, branch: string, opts?: { parent?: string | null; message?: string }): Promise<string>;
  /**
   * Adds `count` refs under `refs/pull/<n>/head` (and a tag each tenth), all at `sha`, written
   * straight into packed-refs: a forge mirror's many refs, in milliseconds.
   */
  addPullRefs(repo: string, count: number, sha: string): Promise<void>;
  /** Pushes `branch -> sha` for every entry in one push. */
  push(repo: string, refs: Readonly<Record<string, string>>, opts?: { force?: boolean }): Promise<void>;
  /** Makes a new commit on `branch` and pushes it; creates the repository if needed. */
  commit(repo: string, branch: string, opts?: { message?: string }): Promise<string>;
  /** One new commit for each branch, all pushed at once. */
  commitMany(repo: string, branches: readonly string[]): Promise<Record<string, string>>;
  forcePush(repo: string, branch: string, sha: string): Promise<void>;
  deleteBranch(repo: string, branch: string): Promise<void>;
  /** The branch's sha as the bare repository itself holds it, or null. */
  tip(repo: string, branch: string): Promise<string | null>;
  /** A non-bare repository with a commit on `branch` and uncommitted changes; returns its HEAD. */
  createWorkTree(dir: string, opts?: { branch?: string; dirty?: boolean }): Promise<string>;
  serveDaemon(): Promise<GitDaemon>;
  serveHttp(opts?: HttpServeOptions): Promise<HttpGitServer>;
  cleanup(): Promise<void>;
};

const bareName = (repo: string): string => (repo.endsWith('.git') ? repo : `${repo}.git`);

export const createGitFixture = async (): Promise<GitFixture> => {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'bf-gitfix-')));
  const home = join(root, 'home');
  const mirrorRoot = join(root, 'mirror');
  const scratchRoot = join(root, 'scratch');
  await mkdir(home, { recursive: true });
  await mkdir(mirrorRoot, { recursive: true });
  await mkdir(scratchRoot, { recursive: true });
  await writeFile(join(home, '.gitconfig'), GLOBAL_CONFIG);
  const env = fixtureGitEnv(home);
  const stops: (() => Promise<void>)[] = [];
  let counter = 0;

  const git = (args: readonly string[], opts: { cwd?: string; input?: string; allowFail?: boolean } = {}): Promise<GitRun> =>
    runGitCmd(args, { cwd: opts.cwd ?? root, env, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.allowFail ? { allowFail: true } : {}) });

  const barePath = (repo: string): string => join(mirrorRoot, bareName(repo));
  const scratches = new Map<string, string>();

  const createBareRepo = async (repo: string, opts: { objectFormat?: 'sha1' | 'sha256' } = {}): Promise<string> => {
    const p = barePath(repo);
    await mkdir(dirname(p), { recursive: true });
    await git(['init', '--quiet', '--bare', `--object-format=${opts.objectFormat ?? 'sha1'}`, p]);
    return p;
  };

  // One scratch clone per repository; every fixture commit is made there, so it holds every
  // object the mirror has ever been pushed.
  const scratch = async (repo: string): Promise<string> => {
    const known = scratches.get(repo);
    if (known) return known;
    const bare = barePath(repo);
    const exists = await git(['--git-dir', bare, 'rev-parse', '--git-dir'], { allowFail: true });
    if (exists.code !== 0) await createBareRepo(repo);
    const dir = join(scratchRoot, repo.replaceAll('/', '__'));
    // The scratch clone shares the mirror repository's object format (a SHA-256 mirror takes only SHA-256 objects).
    const format = (await git(['--git-dir', bare, 'rev-parse', '--show-object-format'])).stdout.trim();
    await git(['init', '--quiet', `--object-format=${format}`, dir]);
    await git(['remote', 'add', 'origin', bare], { cwd: dir });
    scratches.set(repo, dir);
    return dir;
  };

  const replaceBareRepo = async (repo: string, opts: { objectFormat: 'sha1' | 'sha256' }): Promise<string> => {
    await rm(barePath(repo), { recursive: true, force: true });
    const old = scratches.get(repo);
    if (old !== undefined) await rm(old, { recursive: true, force: true });
    scratches.delete(repo);
    return createBareRepo(repo, opts);
  };

  const tip = async (repo: string, branch: string): Promise<string | null> => {
    const r = await git(['--git-dir', barePath(repo), 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : null;
  };

  const makeCommit = async (repo: string, branch: string, opts: { parent?: string | null; message?: string } = {}): Promise<string> => {
    const dir = await scratch(repo);
    const parent = opts.parent === undefined ? await tip(repo, branch) : opts.parent;
    counter += 1;
    const content = `${repo} ${branch} #${counter} ${opts.message ?? ''}\n`;
    const blob = (await git(['hash-object', '-w', '--stdin'], { cwd: dir, input: content })).stdout.trim();
    const tree = (await git(['mktree'], { cwd: dir, input: `100644 blob ${blob}\tREADME\n` })).stdout.trim();
    const args = ['commit-tree', tree, '-m', opts.message ?? `commit ${counter} on ${branch}`];
    if (parent) args.push('-p', parent);
    return (await git(args, { cwd: dir })).stdout.trim();
  };

  const push = async (repo: string, refs: Readonly<Record<string, string>>, opts: { force?: boolean } = {}): Promise<void> => {
    const dir = await scratch(repo);
    const specs = Object.entries(refs).map(([b, sha]) => `${opts.force ? '+' : ''}${sha}:refs/heads/${b}`);
    if (specs.length > 0) await git(['push', '--quiet', 'origin', ...specs], { cwd: dir });
  };

  const commit = async (repo: string, branch: string, opts: { message?: string } = {}): Promise<string> => {
    const sha = await makeCommit(repo, branch, opts);
    await push(repo, { [branch]: sha });
    return sha;
  };

  // One fast-import for all the commits and one push, so seeding hundreds of branches stays cheap.
  const commitMany = async (repo: string, branches: readonly string[]): Promise<Record<string, string>> => {
    const dir = await scratch(repo);
    const tips = new Map<string, string>();
    const listed = await git(['--git-dir', barePath(repo), 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads/']);
    for (const line of listed.stdout.split('\n').filter(Boolean)) {
      const [sha, ref] = line.split(' ') as [string, string];
      tips.set(ref.slice('refs/heads/'.length), sha);
    }
    const data = (text: string): string => `data ${Buffer.byteLength(text)}\n${text}\n`;
    let stream = '';
    branches.forEach((b, i) => {
      counter += 1;
      const parent = tips.get(b);
      stream += `commit refs/fixture/${i}\nmark :${i + 1}\ncommitter Fixture <fixture@example.invalid> ${1_700_000_000 + counter} +0000\n`;
      stream += data(`commit ${counter} on ${b}`);
      if (parent) stream += `from ${parent}\n`;
      stream += `M 100644 inline README\n${data(`${repo} ${b} #${counter}`)}\n`;
    });
    await git(['fast-import', '--quiet', '--force'], { cwd: dir, input: stream });
    const shas = (await git(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/fixture/'], { cwd: dir })).stdout;
    const byIndex = new Map<string, string>();
    for (const line of shas.split('\n').filter(Boolean)) {
      const [ref, sha] = line.split(' ') as [string, string];
      byIndex.set(ref.slice('refs/fixture/'.length), sha);
    }
    const refs: Record<string, string> = {};
    branches.forEach((b, i) => {
      refs[b] = byIndex.get(String(i))!;
    });
    await push(repo, refs);
    return refs;
  };

  const addPullRefs = async (repo: string, count: number, sha: string): Promise<void> => {
    const bare = barePath(repo);
    // Fold loose refs into packed-refs first, then append (sorted order is kept by the final pack-refs).
    await git(['--git-dir', bare, 'pack-refs', '--all']);
    const packed = join(bare, 'packed-refs');
    const lines: string[] = [];
    for (let n = 1; n <= count; n++) {
      lines.push(`${sha} refs/pull/${n}/head`);
      if (n % 10 === 0) lines.push(`${sha} refs/tags/t${n}`);
    }
    const { readFile: read } = await import('node:fs/promises');
    const existing = (await read(packed, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    // No header: git then sorts the file itself on reading; pack-refs writes it back sorted.
    await writeFile(packed, `${[...existing, ...lines].join('\n')}\n`);
    await git(['--git-dir', bare, 'pack-refs', '--all']);
  };

  const forcePush = (repo: string, branch: string, sha: string): Promise<void> => push(repo, { [branch]: sha }, { force: true });

  const deleteBranch = async (repo: string, branch: string): Promise<void> => {
    const dir = await scratch(repo);
    await git(['push', '--quiet', 'origin', `:refs/heads/${branch}`], { cwd: dir });
  };

  const createWorkTree = async (dir: string, opts: { branch?: string; dirty?: boolean } = {}): Promise<string> => {
    await mkdir(dir, { recursive: true });
    await git(['init', '--quiet', '-b', opts.branch ?? 'main', dir]);
    await writeFile(join(dir, 'file.txt'), `work tree ${++counter}\n`);
    await git(['add', 'file.txt'], { cwd: dir });
    await git(['commit', '--quiet', '-m', 'local work'], { cwd: dir });
    if (opts.dirty ?? true) {
      await writeFile(join(dir, 'file.txt'), 'uncommitted change\n');
      await writeFile(join(dir, 'untracked.txt'), 'untracked\n');
    }
    return (await git(['rev-parse', 'HEAD'], { cwd: dir })).stdout.trim();
  };

  const serveDaemon = async (): Promise<GitDaemon> => {
    const server = await startGitDaemon(mirrorRoot, env);
    stops.push(server.stop);
    return server;
  };

  const serveHttp = async (opts: HttpServeOptions = {}): Promise<HttpGitServer> => {
    const server = await startGitHttpBackend(mirrorRoot, env, opts);
    stops.push(server.stop);
    return server;
  };

  const cleanup = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };

  return {
    root,
    mirrorRoot,
    fileUrl: pathToFileURL(mirrorRoot).href,
    env,
    git,
    createBareRepo,
    replaceBareRepo,
    makeCommit,
    push,
    addPullRefs,
    commit,
    commitMany,
    forcePush,
    deleteBranch,
    tip,
    createWorkTree,
    serveDaemon,
    serveHttp,
    cleanup,
  };
};

/** A port that was free a moment ago and has nothing listening on it. */
export const closedPort = async (): Promise<number> => {
  const server = createTcpServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
};

const listen = (server: Server | ReturnType<typeof createHttpServer>, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new Error('no TCP address'));
      else resolve(a.port);
    });
  });

const closeServer = (server: Server | ReturnType<typeof createHttpServer>, sockets: Set<Socket>): Promise<void> =>
  new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });

const stopProcessGroup = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }, 2_000);
  await exited;
  clearTimeout(timer);
};

/**
 * `git daemon` exporting every repository under `root` at git://127.0.0.1:PORT/<owner>/<repo>.git.
 * `maxConnections`: its `--max-connections` (git's default 32 resets the connections beyond; 0: no limit).
 */
export const startGitDaemon = async (root: string, env: NodeJS.ProcessEnv, opts: { maxConnections?: number } = {}): Promise<GitDaemon> => {
  let lastError = '';
  // git daemon cannot report a port it chose itself: pick a free one and retry on a lost race.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await closedPort();
    const child = spawn(
      'git',
      [
        'daemon',
        '--verbose',
        '--reuseaddr',
        '--export-all',
        '--informative-errors',
        '--listen=127.0.0.1',
        `--port=${port}`,
        `--base-path=${root}`,
        ...(opts.maxConnections === undefined ? [] : [`--max-connections=${opts.maxConnections}`]),
        root,
      ],
      { env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    const ready = await new Promise<boolean>((resolve) => {
      let err = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stderr?.on('data', (b: Buffer) => {
        err += b.toString('utf8');
        if (err.includes('Ready to rumble')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        lastError = err;
        resolve(false);
      });
    });
    // Keep draining stderr so a chatty daemon never blocks on a full pipe, counting the
    // upload-pack requests it logs (--verbose): one per `git ls-remote` or fetch.
    let uploadPacks = 0;
    let tail = '';
    child.stderr?.removeAllListeners('data');
    child.stderr?.on('data', (b: Buffer) => {
      const lines = (tail + b.toString('utf8')).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) if (line.includes('Request upload-pack for ')) uploadPacks++;
    });
    if (ready) {
      // The daemon leads its own process group; a worker that dies before afterAll must not leave it behind.
      const onExit = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      };
      process.once('exit', onExit);
      return {
        url: `git://127.0.0.1:${port}`,
        port,
        uploadPacks: () => uploadPacks,
        stop: async () => {
          process.off('exit', onExit);
          await stopProcessGroup(child);
        },
      };
    }
    await stopProcessGroup(child);
  }
  throw new Error(`git daemon did not start: ${lastError}`);
};

/**
 * `git http-backend` behind node:http: requests to /git/<path> run the CGI with the standard
 * variables and stream its answer back.
 */
export const startGitHttpBackend = async (root: string, env: NodeJS.ProcessEnv, opts: HttpServeOptions = {}): Promise<HttpGitServer> => {
  const requests: { method: string; path: string; bytes: number; protocol: string | null }[] = [];
  const sockets = new Set<Socket>();
  const children = new Set<ChildProcess>();
  let inFlight = 0;
  let maxInFlight = 0;

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!url.pathname.startsWith('/git/')) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const child = runGitHttpBackend(req, res, { root, env, pathInfo: decodeURIComponent(url.pathname.slice('/git'.length)), v0Only: opts.v0Only === true });
    children.add(child);
    child.on('close', () => children.delete(child));
    child.on('error', () => children.delete(child));
  };

  const server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const record = { method: req.method ?? 'GET', path, bytes: 0, protocol: typeof req.headers['git-protocol'] === 'string' ? req.headers['git-protocol'] : null };
    requests.push(record);
    // Count the body bytes answered (what the client downloads), whatever writes them.
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) record.bytes += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    if (opts.hang?.(path)) return;
    const throttled = opts.throttle?.(path);
    if (throttled) {
      res.writeHead(throttled.status, { 'Content-Type': 'text/plain', ...(throttled.retryAfter !== null ? { 'Retry-After': throttled.retryAfter } : {}) }).end('slow down\n');
      return;
    }
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => {
      inFlight -= 1;
    });
    if (opts.delayMs) setTimeout(() => serve(req, res), opts.delayMs);
    else serve(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/git`,
    port,
    requests,
    maxInFlight: () => maxInFlight,
    openConnections: () => sockets.size,
    stop: async () => {
      for (const c of children) c.kill('SIGKILL');
      await closeServer(server, sockets);
    },
  };
};

export type BlackholeServer = {
  port: number;
  /** Connections accepted so far, and how many of them the client has since closed. */
  accepted(): number;
  closed(): number;
  stop(): Promise<void>;
};

/** A TCP server that accepts connections and never answers: a mirror that hangs. */
export const startBlackholeServer = async (): Promise<BlackholeServer> => {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let closed = 0;
  const server = createTcpServer((s) => {
    accepted += 1;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      closed += 1;
      sockets.delete(s);
    });
  });
  const port = await listen(server);
  return { port, accepted: () => accepted, closed: () => closed, stop: () => closeServer(server, sockets) };
};

/** Polls `cond` until it holds or `timeoutMs` passes; for effects that land asynchronously. */
export const eventually = async (cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 25): Promise<boolean> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
};
