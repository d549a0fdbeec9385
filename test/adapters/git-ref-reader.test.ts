import { spawn } from 'node:child_process';
import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SourceObservation } from '../../src/core/observe.ts';
import { branchSha, lsRemoteArgv, parseLsRemote, PATTERN_LIMIT } from '../../src/adapters/git/ls-remote.ts';
import { MirrorUrlError, checkMirrorUrl, repoUrl } from '../../src/adapters/git/mirror-url.ts';
import { encodePkt, FLUSH_PKT, MAX_PKT_PAYLOAD, parsePktLines } from '../../src/adapters/git/pkt-line.ts';
import { parseAdvertisement } from '../../src/adapters/git/ref-advertisement.ts';
import { createGitRefReader, DEFAULT_CONCURRENCY, type GitRefReader, type GitRefReaderOptions } from '../../src/adapters/git/ref-reader.ts';
import { ADVERTISEMENT_TYPE, needsGitTransport, noProxyCovers, readAdvertisedRefs, USER_AGENT } from '../../src/adapters/git/smart-http.ts';
import {
  closedPort,
  createGitFixture,
  eventually,
  runGitCmd,
  startBlackholeServer,
  type GitFixture,
  type GitDaemon,
  type HttpGitServer,
} from '../support/git-fixtures.ts';

const SHA = /^[0-9a-f]{40}$/;
const createReader = createGitRefReader;

let fx: GitFixture;
let daemon: GitDaemon;
let http: HttpGitServer;
let app: Record<string, string>;
let sha256: Record<string, string>;
let odd: Record<string, string>;
// Valid for git, each odd for one reader: unicode, a unicode space, `@`, `+`, `#`, a long name.
const ODD_BRANCHES = ['release/ünï', 'feat@x_y.z', 'a+b#c', 'no\u00a0break', '@', `long/${'n'.repeat(150)}`];

const APP_BRANCHES = ['main', 'v0.3', 'feature/v0.3', 'v0.30', 'v0.3.1', 'release/1.x', 'release/1.x.y', 'old/release/1.x'];

beforeAll(async () => {
  fx = await createGitFixture();
  app = await fx.commitMany('acme/app', APP_BRANCHES);
  await fx.commitMany('acme/lib', ['main']);
  await fx.createBareRepo('acme/empty');
  await fx.createBareRepo('acme/sha256', { objectFormat: 'sha256' });
  sha256 = await fx.commitMany('acme/sha256', ['main', 'release/1.x']);
  odd = await fx.commitMany('acme/odd', ODD_BRANCHES);
  await fx.createBareRepo('acme/empty256', { objectFormat: 'sha256' });
  daemon = await fx.serveDaemon();
  http = await fx.serveHttp();
});

afterAll(async () => {
  await fx?.cleanup();
});

const get = (res: Map<string, Map<string, SourceObservation>>, repo: string, branch: string): SourceObservation | undefined =>
  res.get(repo)?.get(branch);

const infoRefsFor = (server: HttpGitServer, repo: string): number =>
  server.requests.filter((r) => r.method === 'GET' && r.path === `/git/${repo}.git/info/refs`).length;

type ReaderOpts = Omit<GitRefReaderOptions, 'readUrl'>;

// http-backend is read over smart HTTP from the process by default; the same server read by
// `git ls-remote` (what a proxy or CA bundle in the environment falls back to) must agree.
const transports: [string, () => string, ReaderOpts][] = [
  ['file://', () => fx.fileUrl, {}],
  ['git daemon', () => daemon.url, {}],
  ['git daemon via git ls-remote', () => daemon.url, { daemonTransport: 'git' }],
  ['http-backend', () => http.url, {}],
  ['http-backend via git ls-remote', () => http.url, { httpTransport: 'git' }],
];

describe.each(transports)('reading a %s mirror', (name, urlOf, readerOpts) => {
  const slug = name.replace(/[^a-z]/g, '');
  // Every reader of this block reads over the transport the block is named for.
  const createGitRefReader = (o: GitRefReaderOptions): GitRefReader => createReader({ ...readerOpts, ...o });

  it('reads a SHA-256 repository (git init --object-format=sha256): its 64-hex ids, an empty one as missing', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const res = await reader.readMany([{ repo: 'acme/sha256', branches: ['main', 'release/1.x', 'gone'] }, { repo: 'acme/empty256', branches: ['main'] }]);
    expect(sha256.main).toMatch(/^[0-9a-f]{64}$/);
    expect(get(res, 'acme/sha256', 'main')).toEqual({ kind: 'ok', sha: sha256.main });
    expect(get(res, 'acme/sha256', 'release/1.x')).toEqual({ kind: 'ok', sha: sha256['release/1.x'] });
    expect(get(res, 'acme/sha256', 'gone')).toEqual({ kind: 'missing', repo: 'acme/sha256', branch: 'gone' });
    expect(get(res, 'acme/empty256', 'main')).toEqual({ kind: 'missing', repo: 'acme/empty256', branch: 'main' });
  });

  it('reads every branch name git accepts: unicode, unicode spaces, @, +, #, long names', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const res = await reader.readMany([{ repo: 'acme/odd', branches: [...ODD_BRANCHES, 'release/ün'] }]);
    for (const b of ODD_BRANCHES) expect(get(res, 'acme/odd', b), b).toEqual({ kind: 'ok', sha: odd[b] });
    expect(get(res, 'acme/odd', 'release/ün')?.kind).toBe('missing');
    expect(reader.readsIssued()).toBe(1);
  });

  it('answers each branch with its exact sha, one read for three followers sharing a repository', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const before = http.requests.length;
    const daemonBefore = daemon.uploadPacks();
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['v0.3'] },
      { repo: 'acme/app', branches: ['release/1.x'] },
      { repo: 'acme/app', branches: ['v0.3', 'main'] },
    ]);
    expect(reader.readsIssued()).toBe(1);
    expect(get(res, 'acme/app', 'v0.3')).toEqual({ kind: 'ok', sha: app['v0.3'] });
    expect(get(res, 'acme/app', 'release/1.x')).toEqual({ kind: 'ok', sha: app['release/1.x'] });
    expect(get(res, 'acme/app', 'main')).toEqual({ kind: 'ok', sha: app.main });
    // Lookalike refs that end with or extend the name have other shas and must not leak in.
    expect(new Set(Object.values(app)).size).toBe(APP_BRANCHES.length);
    expect([...res.get('acme/app')!.keys()]).toEqual(['v0.3', 'release/1.x', 'main']);
    if (name.startsWith('http-backend')) {
      const asked = http.requests.slice(before).filter((r) => r.path.endsWith('/info/refs'));
      expect(asked).toHaveLength(1);
      // Both speak protocol v2: the capabilities by GET, then one ls-refs by POST.
      const posts = http.requests.slice(before).filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(1);
    }
    if (name === 'git daemon') {
      // What the daemon itself served: one upload-pack connection (its log reaches us a moment later).
      expect(await eventually(() => daemon.uploadPacks() > daemonBefore)).toBe(true);
      expect(daemon.uploadPacks() - daemonBefore).toBe(1);
    }
  });

  it('reports a missing branch as missing, distinct from the branches that exist', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['v0.3', 'v0.4', 'feature'] },
      { repo: 'acme/empty', branches: ['main'] },
    ]);
    expect(get(res, 'acme/app', 'v0.3')).toEqual({ kind: 'ok', sha: app['v0.3'] });
    expect(get(res, 'acme/app', 'v0.4')).toEqual({ kind: 'missing', repo: 'acme/app', branch: 'v0.4' });
    // `feature` only exists as a prefix of feature/v0.3.
    expect(get(res, 'acme/app', 'feature')).toEqual({ kind: 'missing', repo: 'acme/app', branch: 'feature' });
    expect(get(res, 'acme/empty', 'main')).toEqual({ kind: 'missing', repo: 'acme/empty', branch: 'main' });
    expect(reader.readsIssued()).toBe(2);
  });

  it('follows a push, a deleted branch and a force-push back to an older sha', async () => {
    const repo = `acme/moving-${slug}`;
    const reader = createGitRefReader({ readUrl: urlOf() });
    const read = async (): Promise<SourceObservation | undefined> => get(await reader.readMany([{ repo, branches: ['release/1.x'] }]), repo, 'release/1.x');

    const first = await fx.commit(repo, 'release/1.x');
    expect(await read()).toEqual({ kind: 'ok', sha: first });
    const second = await fx.commit(repo, 'release/1.x');
    expect(second).not.toBe(first);
    expect(await read()).toEqual({ kind: 'ok', sha: second });
    await fx.deleteBranch(repo, 'release/1.x');
    expect(await read()).toEqual({ kind: 'missing', repo, branch: 'release/1.x' });
    await fx.forcePush(repo, 'release/1.x', second);
    await fx.forcePush(repo, 'release/1.x', first);
    expect(await fx.tip(repo, 'release/1.x')).toBe(first);
    expect(await read()).toEqual({ kind: 'ok', sha: first });
    expect(reader.readsIssued()).toBe(4);
  });

  it('reads a missing repository as unreachable for that repository only', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const res = await reader.readMany([
      { repo: 'acme/nope', branches: ['main', 'v0.3'] },
      { repo: 'acme/lib', branches: ['main'] },
    ]);
    for (const b of ['main', 'v0.3']) {
      const obs = get(res, 'acme/nope', b);
      expect(obs?.kind).toBe('unreachable');
      expect(obs?.kind === 'unreachable' && obs.message).toContain('acme/nope.git');
    }
    expect(get(res, 'acme/lib', 'main')).toEqual({ kind: 'ok', sha: await fx.tip('acme/lib', 'main') });
  });
});

describe('one read per repository', () => {
  it('reads 100 branches over 10 repositories with 10 reads', async () => {
    const expected = new Map<string, Record<string, string>>();
    for (let r = 0; r < 10; r++) {
      const branches = Array.from({ length: 10 }, (_, b) => (b % 3 === 0 ? `release/${r}.${b}.x` : `lane-${b}`));
      expected.set(`fleet/repo-${r}`, await fx.commitMany(`fleet/repo-${r}`, branches));
    }
    const reader = createGitRefReader({ readUrl: http.url });
    const before = http.requests.length;
    // Two followers per branch: 200 requests, 100 distinct branches, 10 repositories.
    const requests = [...expected].flatMap(([repo, refs]) =>
      Object.keys(refs).flatMap((b) => [
        { repo, branches: [b] },
        { repo, branches: [b] },
      ]),
    );
    const res = await reader.readMany(requests);
    expect(reader.readsIssued()).toBe(10);
    const served = http.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/info/refs'));
    expect(served).toHaveLength(10);
    // Twenty HTTP requests in all: per repository the v2 capabilities and one ls-refs, nothing more.
    expect(http.requests.slice(before)).toHaveLength(20);
    let checked = 0;
    for (const [repo, refs] of expected) {
      for (const [b, sha] of Object.entries(refs)) {
        expect(get(res, repo, b)).toEqual({ kind: 'ok', sha });
        checked++;
      }
    }
    expect(checked).toBe(100);
  });

  it(`lists heads once when a repository has more than ${PATTERN_LIMIT} wanted branches`, async () => {
    const branches = Array.from({ length: PATTERN_LIMIT + 6 }, (_, i) => `many/b${i}`);
    const refs = await fx.commitMany('acme/many', branches);
    expect(lsRemoteArgv('file:///x/acme/many.git', 'file', branches)).toContain('--heads');
    const reader = createGitRefReader({ readUrl: daemon.url });
    const res = await reader.readMany([{ repo: 'acme/many', branches: [...branches, 'many/absent'] }]);
    expect(reader.readsIssued()).toBe(1);
    for (const b of branches) expect(get(res, 'acme/many', b)).toEqual({ kind: 'ok', sha: refs[b] });
    expect(get(res, 'acme/many', 'many/absent')).toEqual({ kind: 'missing', repo: 'acme/many', branch: 'many/absent' });
  });

  it('counts owner/name and owner/name.git as one repository, answering each key', async () => {
    const reader = createGitRefReader({ readUrl: fx.fileUrl });
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['main'] },
      { repo: 'acme/app.git', branches: ['v0.3'] },
    ]);
    expect(reader.readsIssued()).toBe(1);
    expect(get(res, 'acme/app', 'main')).toEqual({ kind: 'ok', sha: app.main });
    expect(get(res, 'acme/app', 'v0.3')).toBeUndefined();
    expect(get(res, 'acme/app.git', 'v0.3')).toEqual({ kind: 'ok', sha: app['v0.3'] });
  });

  it('reads repositories in parallel, never more than the concurrency bound at once', async () => {
    const slow = await fx.serveHttp({ delayMs: 250 });
    const reader = createGitRefReader({ readUrl: slow.url, concurrency: 2 });
    const repos = ['acme/app', 'acme/lib', 'acme/empty', 'fleet/repo-0', 'fleet/repo-1', 'fleet/repo-2'];
    const res = await reader.readMany(repos.map((repo) => ({ repo, branches: ['main'] })));
    expect(reader.readsIssued()).toBe(6);
    expect(get(res, 'acme/lib', 'main')?.kind).toBe('ok');
    expect(slow.maxInFlight()).toBeLessThanOrEqual(2);
    expect(slow.maxInFlight()).toBe(2);
    for (const repo of repos) expect(infoRefsFor(slow, repo)).toBe(1);
  });
});

describe('failures stay with their repository', () => {
  it('reads a closed port as unreachable', async () => {
    const port = await closedPort();
    const cases: [string, ReaderOpts, RegExp][] = [
      [`git://127.0.0.1:${port}`, {}, /failed: connect ECONNREFUSED/],
      [`git://127.0.0.1:${port}`, { daemonTransport: 'git' }, /failed \(exit \d+\)/],
      [`http://127.0.0.1:${port}/git`, {}, /GET info\/refs failed: connect ECONNREFUSED/],
      [`http://127.0.0.1:${port}/git`, { httpTransport: 'git' }, /failed \(exit \d+\)/],
    ];
    for (const [readUrl, readerOpts, why] of cases) {
      const reader = createGitRefReader({ readUrl, timeoutMs: 10_000, ...readerOpts });
      const res = await reader.readMany([
        { repo: 'acme/app', branches: ['main'] },
        { repo: 'acme/lib', branches: ['main'] },
      ]);
      for (const repo of ['acme/app', 'acme/lib']) {
        const obs = get(res, repo, 'main');
        expect(obs?.kind).toBe('unreachable');
        expect(obs?.kind === 'unreachable' && obs.message).toMatch(why);
      }
      expect(reader.readsIssued()).toBe(2);
    }
  });

  it.each([
    ['in process', {}, /timed out after 1500 ms and the connection was closed/],
    ['by git ls-remote', { daemonTransport: 'git' }, /timed out after 1500 ms and was killed/],
  ] as [string, ReaderOpts, RegExp][])('ends a git:// read %s that the server never answers and reports it unreachable', async (_, readerOpts, why) => {
    const hole = await startBlackholeServer();
    try {
      const reader = createGitRefReader({ readUrl: `git://127.0.0.1:${hole.port}`, timeoutMs: 1_500, ...readerOpts });
      const res = await reader.readMany([{ repo: 'acme/app', branches: ['main', 'v0.3'] }]);
      for (const b of ['main', 'v0.3']) {
        const obs = get(res, 'acme/app', b);
        expect(obs?.kind).toBe('unreachable');
        expect(obs?.kind === 'unreachable' && obs.message).toMatch(why);
      }
      expect(hole.accepted()).toBe(1);
      // The connection is closed at the deadline (by the reader, or when the killed git is gone).
      expect(await eventually(() => hole.closed() === hole.accepted())).toBe(true);
    } finally {
      await hole.stop();
    }
  });

  it('times out a hanging repository over http without holding up the others', async () => {
    const hanging = await fx.serveHttp({ hang: (path) => path.startsWith('/git/acme/app.git/') });
    const reader = createGitRefReader({ readUrl: hanging.url, timeoutMs: 1_500 });
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['main'] },
      { repo: 'acme/lib', branches: ['main'] },
    ]);
    const stuck = get(res, 'acme/app', 'main');
    expect(stuck?.kind).toBe('unreachable');
    expect(stuck?.kind === 'unreachable' && stuck.message).toMatch(/timed out after 1500 ms/);
    expect(get(res, 'acme/lib', 'main')).toEqual({ kind: 'ok', sha: await fx.tip('acme/lib', 'main') });
    expect(reader.readsIssued()).toBe(2);
    expect(hanging.requests.some((r) => r.path === '/git/acme/app.git/info/refs')).toBe(true);
    // git-remote-http held the hung connection: killing the read's process group closes it.
    expect(await eventually(() => hanging.openConnections() === 0)).toBe(true);
  });

  it('answers an invalid branch or repository name as invalid without reading it', async () => {
    const reader = createGitRefReader({ readUrl: fx.fileUrl });
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['v0.3', '-upload-pack=touch', 'a..b', 'x y'] },
      { repo: '../etc', branches: ['main'] },
      { repo: 'acme/.git', branches: ['main'] },
    ]);
    expect(get(res, 'acme/app', 'v0.3')).toEqual({ kind: 'ok', sha: app['v0.3'] });
    for (const b of ['-upload-pack=touch', 'a..b', 'x y']) expect(get(res, 'acme/app', b)?.kind).toBe('invalid');
    expect(get(res, '../etc', 'main')?.kind).toBe('invalid');
    expect(get(res, 'acme/.git', 'main')?.kind).toBe('invalid');
    expect(reader.readsIssued()).toBe(1);
  });

  it('reports a git binary that cannot run as unreachable', async () => {
    const reader = createGitRefReader({ readUrl: daemon.url, gitBinary: join(fx.root, 'no-such-git'), daemonTransport: 'git' });
    const res = await reader.readMany([{ repo: 'acme/app', branches: ['main'] }]);
    const obs = get(res, 'acme/app', 'main');
    expect(obs?.kind).toBe('unreachable');
    expect(obs?.kind === 'unreachable' && obs.message).toMatch(/could not run/);
  });
});

describe('source authority', () => {
  it.each([
    ['https://github.com/pikasTech', /forge github\.com/],
    ['git://github.com/pikasTech', /forge github\.com/],
    ['https://www.GitHub.com/pikasTech', /forge github\.com/],
    ['https://api.github.com/repos', /forge github\.com/],
    ['https://gitlab.com/group', /forge gitlab\.com/],
    ['http://bitbucket.org/team', /forge bitbucket\.org/],
    ['ssh://git@mirror.local/git', /ssh/],
    ['git@github.com:pikasTech', /scp-style/],
    ['../mirror', /no scheme/],
    ['/srv/mirror', /no scheme/],
    ['mirror/git', /no scheme/],
    ['file://srv/mirror', /absolute path/],
    ['file:///home/dev/project/.worktree/mirror', /\.worktree\//],
    ['file:///home/dev/.worktree/x/repos', /\.worktree\//],
    ['file:///home/dev/project/.git', /\.git\//],
    ['http://mirror.local/git/../.worktree/x', /"\.\."/],
    ['file:///srv/%2e%2e/mirror', /"\.\."/],
    ['http://user:secret@mirror.local/git', /credentials/],
    ['http://mirror.local/git?x=1', /query/],
    ['ext::sh -c touch% /tmp/pwned', /whitespace|scheme/],
    ['ftp://mirror.local/git', /unsupported scheme/],
    ['', /empty/],
  ])('refuses %s', (readUrl, reason) => {
    const check = checkMirrorUrl(readUrl);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.reason).toMatch(reason);
    expect(() => createGitRefReader({ readUrl })).toThrow(MirrorUrlError);
  });

  it.each([
    'http://git-mirror.git-mirror.svc.cluster.local/git',
    'https://mirror.example.com/git/',
    'git://127.0.0.1:9418',
    'file:///srv/git-mirror',
    'file://localhost/srv/git-mirror',
    'http://github.com.mirror.internal/git',
  ])('accepts %s', (readUrl) => {
    expect(checkMirrorUrl(readUrl)).toEqual({ ok: true });
    expect(() => createGitRefReader({ readUrl })).not.toThrow();
  });

  it('refuses bad reader options', () => {
    expect(() => createGitRefReader({ readUrl: 'git://127.0.0.1:1', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createGitRefReader({ readUrl: 'git://127.0.0.1:1', concurrency: 0 })).toThrow(/concurrency/);
  });

  it('builds repository URLs as <readUrl>/<owner>/<repo>.git', () => {
    expect(repoUrl('http://m/git/', 'pikasTech/HWLAB')).toBe('http://m/git/pikasTech/HWLAB.git');
    expect(repoUrl('file:///srv/m', 'a/b.git')).toBe('file:///srv/m/a/b.git');
    expect(() => repoUrl('file:///srv/m', 'a/..')).toThrow(MirrorUrlError);
    expect(() => repoUrl('file:///srv/m', 'a/.git')).toThrow(MirrorUrlError);
  });

  it('refuses file:// repositories that are work trees, gitfiles or non-bare repositories', async () => {
    const wtHead = await fx.createWorkTree(join(fx.mirrorRoot, 'local', 'worktree.git'), { branch: 'main' });
    const elsewhere = join(fx.root, 'elsewhere');
    await fx.createWorkTree(elsewhere, { branch: 'main' });
    await mkdir(join(fx.mirrorRoot, 'local'), { recursive: true });
    await symlink(join(elsewhere, '.git'), join(fx.mirrorRoot, 'local', 'linked.git'));
    await writeFile(join(fx.mirrorRoot, 'local', 'gitfile.git'), `gitdir: ${join(elsewhere, '.git')}\n`);
    await cp(join(elsewhere, '.git'), join(fx.mirrorRoot, 'local', 'copied.git'), { recursive: true });

    // The trap is armed: git itself would serve the work tree's branch.
    const naive = await fx.git(['ls-remote', `${fx.fileUrl}/local/worktree.git`, 'refs/heads/main']);
    expect(naive.stdout).toContain(wtHead);

    const reader = createGitRefReader({ readUrl: fx.fileUrl });
    const res = await reader.readMany(['worktree', 'linked', 'gitfile', 'copied'].map((n) => ({ repo: `local/${n}`, branches: ['main'] })));
    const reasons: Record<string, RegExp> = {
      worktree: /work tree/,
      linked: /\.git\//,
      gitfile: /not a directory/,
      copied: /not a bare repository/,
    };
    for (const [n, reason] of Object.entries(reasons)) {
      const obs = get(res, `local/${n}`, 'main');
      expect(obs?.kind, n).toBe('untrusted');
      expect(obs?.kind === 'untrusted' && obs.message, n).toMatch(reason);
    }
    expect(reader.readsIssued()).toBe(0);
  });

  it('is not influenced by a dirty work tree in the cwd, GIT_DIR, or user git config', async () => {
    const wt = join(fx.root, 'dirty-checkout');
    const wtHead = await fx.createWorkTree(wt, { branch: 'v0.3' });
    expect(wtHead).not.toBe(app['v0.3']);
    const urls = [...new Set(transports.map(([, u]) => u()))];
    // Every way the caller's environment could redirect the read to the work tree.
    const hostile = join(fx.root, 'hostile.gitconfig');
    await writeFile(hostile, urls.map((u) => `[url "${wt}"]\n\tinsteadOf = ${u}/acme/app.git\n`).join(''));
    for (const u of urls) await fx.git(['config', '--add', `url.${wt}.insteadOf`, `${u}/acme/app.git`], { cwd: wt });
    const hostileEnv: Record<string, string> = {
      GIT_DIR: join(wt, '.git'),
      GIT_WORK_TREE: wt,
      GIT_CONFIG_GLOBAL: hostile,
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: `url.${wt}.insteadOf`,
      GIT_CONFIG_VALUE_0: `${fx.fileUrl}/acme/app.git`,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_ALLOW_PROTOCOL: 'file:git:http',
    };

    const savedCwd = process.cwd();
    const savedEnv = { ...process.env };
    try {
      process.chdir(wt);
      Object.assign(process.env, hostileEnv);
      for (const [name, urlOf, readerOpts] of transports) {
        const u = urlOf();
        // The trap is armed: a plain ls-remote from here answers the work tree's sha.
        const naive = await runGitCmd(['ls-remote', `${u}/acme/app.git`, 'refs/heads/v0.3'], { cwd: wt, env: process.env });
        expect(naive.stdout.slice(0, 40), name).toBe(wtHead);

        const reader = createGitRefReader({ readUrl: u, env: hostileEnv, ...readerOpts });
        const res = await reader.readMany([{ repo: 'acme/app', branches: ['v0.3'] }]);
        expect(get(res, 'acme/app', 'v0.3'), name).toEqual({ kind: 'ok', sha: app['v0.3'] });
      }
    } finally {
      process.chdir(savedCwd);
      for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
      Object.assign(process.env, savedEnv);
    }
  });
});

describe('ls-remote output', () => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);

  it('matches refs exactly, never by suffix or prefix', () => {
    const parsed = parseLsRemote(`${a}\trefs/heads/feature/v0.3\n${b}\trefs/heads/v0.30\n${a}\trefs/remotes/origin/refs/heads/v0.3\n`);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(branchSha(parsed.refs, 'v0.3')).toBeNull();
    expect(branchSha(parsed.refs, 'feature/v0.3')).toBe(a);
    expect(branchSha(parsed.refs, 'v0.30')).toBe(b);
  });

  it.each([
    [`${a.slice(1)}\trefs/heads/main\n`, /line 1/],
    [`${a.toUpperCase()}\trefs/heads/main\n`, /line 1/],
    [`${a} refs/heads/main\n`, /line 1/],
    [`${a}\trefs/heads/main\nwarning: something\n`, /line 2/],
    [`${'c'.repeat(64)}\trefs/heads/main\n${a}\trefs/heads/v0.3\n`, /mixed 64- and 40-hex object ids \(line 2\)/],
    [`${a}\trefs/heads/main\n${b}\trefs/heads/main\n`, /twice/],
    [`${a}\trefs/heads/main\r\n`, /line 1/],
  ])('refuses malformed output %#', (stdout, reason) => {
    const parsed = parseLsRemote(stdout);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toMatch(reason);
  });

  it('round-trips any set of refs', () => {
    const refName = fc.stringMatching(/^refs\/(heads|tags)\/[a-z0-9._-]{1,8}(\/[a-z0-9._-]{1,8}){0,2}$/);
    const sha = fc.stringMatching(/^[0-9a-f]{40}$/);
    fc.assert(
      fc.property(fc.dictionary(refName, sha), (refs) => {
        const text = Object.entries(refs).map(([r, s]) => `${s}\t${r}\n`).join('');
        const parsed = parseLsRemote(text);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(Object.fromEntries(parsed.refs)).toEqual(refs);
        for (const [r, s] of Object.entries(refs)) {
          if (r.startsWith('refs/heads/')) expect(branchSha(parsed.refs, r.slice('refs/heads/'.length))).toBe(s);
        }
        expect(Object.values(refs).every((s) => SHA.test(s))).toBe(true);
      }),
    );
  });
});

// A scripted smart-HTTP mirror: `answer` decides each request's response; it records what it was
// asked, with which headers, and how many requests and connections are open.
type FakeRequest = { path: string; query: string; headers: IncomingHttpHeaders };
type FakeMirror = {
  url: string;
  requests: FakeRequest[];
  inFlight(): number;
  maxInFlight(): number;
  openConnections(): number;
  stop(): Promise<void>;
};

const startFakeMirror = async (
  answer: (req: FakeRequest, res: ServerResponse) => void,
  opts: { keepAliveTimeoutMs?: number } = {},
): Promise<FakeMirror> => {
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const r = { path: u.pathname, query: u.search, headers: req.headers };
    requests.push(r);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    answer(r, res);
  });
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/git`,
    requests,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    openConnections: () => sockets.size,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};

const ZERO = '0'.repeat(40);
const CAPS = 'multi_ack thin-pack side-band side-band-64k ofs-delta shallow no-progress include-tag agent=git/2.39.5 object-format=sha1';

/** A protocol v0 advertisement as git http-backend writes it. */
const advertisement = (refs: readonly (readonly [string, string])[], o: { caps?: string; version1?: boolean; lf?: boolean; shallow?: readonly string[] } = {}): Buffer => {
  const lf = o.lf === false ? '' : '\n';
  const lines = refs.length === 0 ? [`${ZERO} capabilities^{}\0${o.caps ?? CAPS}`] : refs.map(([sha, ref], i) => (i === 0 ? `${sha} ${ref}\0${o.caps ?? CAPS}` : `${sha} ${ref}`));
  return Buffer.concat([
    encodePkt('# service=git-upload-pack\n'),
    FLUSH_PKT,
    ...(o.version1 ? [encodePkt('version 1\n')] : []),
    ...lines.map((l) => encodePkt(`${l}${lf}`)),
    ...(o.shallow ?? []).map((s) => encodePkt(`shallow ${s}${lf}`)),
    FLUSH_PKT,
  ]);
};

const serveAdvertisement = (res: ServerResponse, body: Buffer, type = ADVERTISEMENT_TYPE): void => {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(body);
};

const messageOf = (obs: SourceObservation | undefined): string => (obs !== undefined && 'message' in obs ? obs.message : `no message: ${JSON.stringify(obs)}`);

describe('pkt-line framing', () => {
  it('reads data, flush, delimiter and response-end packets', () => {
    const parsed = parsePktLines(Buffer.from('0009hello00000001000200040006a\n'));
    expect(parsed).toEqual({
      ok: true,
      pkts: [
        { kind: 'data', payload: Buffer.from('hello') },
        { kind: 'flush' },
        { kind: 'delim' },
        { kind: 'response-end' },
        { kind: 'data', payload: Buffer.alloc(0) },
        { kind: 'data', payload: Buffer.from('a\n') },
      ],
    });
    expect(parsePktLines(Buffer.alloc(0))).toEqual({ ok: true, pkts: [] });
  });

  it.each([
    ['000', /truncated pkt-line header/],
    ['0009hell', /truncated pkt-line at byte 0: length 9/],
    ['00000009hel', /truncated pkt-line at byte 4/],
    ['0003', /invalid pkt-line length 0003/],
    ['00g5x', /bad pkt-line length "00g5"/],
    [' 005x', /bad pkt-line length/],
    ['+005x', /bad pkt-line length/],
    ['fff1', /exceeds 65520/],
    ['<!DOCTYPE html><html>', /bad pkt-line length "<!DO"/],
  ])('refuses bad framing %j', (body, reason) => {
    const parsed = parsePktLines(Buffer.from(body, 'latin1'));
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toMatch(reason);
  });

  it('accepts the largest packet and refuses to encode a larger one', () => {
    const big = Buffer.alloc(MAX_PKT_PAYLOAD, 0x61);
    const parsed = parsePktLines(encodePkt(big));
    expect(parsed.ok && parsed.pkts[0]?.kind === 'data' && parsed.pkts[0].payload.length).toBe(MAX_PKT_PAYLOAD);
    expect(encodePkt(big).subarray(0, 4).toString()).toBe('fff0');
    expect(() => encodePkt(Buffer.alloc(MAX_PKT_PAYLOAD + 1))).toThrow(RangeError);
  });

  it('round-trips any sequence of packets', () => {
    const pkt = fc.oneof(
      fc.constant({ kind: 'flush' as const }),
      fc.constant({ kind: 'delim' as const }),
      fc.constant({ kind: 'response-end' as const }),
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ kind: 'data' as const, payload: Buffer.from(b) })),
    );
    fc.assert(
      fc.property(fc.array(pkt, { maxLength: 30 }), (pkts) => {
        const wire = Buffer.concat(pkts.map((p) => (p.kind === 'data' ? encodePkt(p.payload) : Buffer.from(p.kind === 'flush' ? '0000' : p.kind === 'delim' ? '0001' : '0002'))));
        expect(parsePktLines(wire)).toEqual({ ok: true, pkts });
        // Cutting the wire anywhere inside a packet is a framing error, never a shorter answer.
        const ends = new Set<number>([0]);
        let at = 0;
        for (const p of pkts) ends.add((at += p.kind === 'data' ? p.payload.length + 4 : 4));
        for (let cut = 1; cut < wire.length; cut += Math.max(1, Math.floor(wire.length / 17))) {
          if (!ends.has(cut)) expect(parsePktLines(wire.subarray(0, cut)).ok).toBe(false);
        }
      }),
    );
  });
});

describe('ref advertisement', () => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  const c = 'c'.repeat(40);

  it('reads refs, peeled tags, a version line, shallow lines and packets without LF', () => {
    for (const o of [{}, { version1: true }, { lf: false }, { shallow: [c] }]) {
      const ad = parseAdvertisement(advertisement([[a, 'HEAD'], [a, 'refs/heads/main'], [b, 'refs/tags/v1'], [c, 'refs/tags/v1^{}']], o));
      expect(ad.ok, JSON.stringify(o)).toBe(true);
      if (!ad.ok) return;
      expect(Object.fromEntries(ad.refs)).toEqual({ HEAD: a, 'refs/heads/main': a, 'refs/tags/v1': b, 'refs/tags/v1^{}': c });
      expect(ad.capabilities).toContain('side-band-64k');
      expect(branchSha(ad.refs, 'main')).toBe(a);
    }
  });

  it('reads an empty repository as no refs', () => {
    const ad = parseAdvertisement(advertisement([]));
    expect(ad.ok && ad.refs.size).toBe(0);
    // Older servers advertise nothing at all for an empty repository.
    const bare = parseAdvertisement(Buffer.concat([encodePkt('# service=git-upload-pack\n'), FLUSH_PKT, FLUSH_PKT]));
    expect(bare.ok && bare.refs.size).toBe(0);
  });

  it('reads what git http-backend advertises exactly as git ls-remote lists it', async () => {
    for (const repo of ['acme/app', 'acme/empty', 'acme/lib']) {
      const res = await fetch(`${http.url}/${repo}.git/info/refs?service=git-upload-pack`);
      expect(res.headers.get('content-type')).toBe(ADVERTISEMENT_TYPE);
      const ad = parseAdvertisement(Buffer.from(await res.arrayBuffer()));
      const listed = parseLsRemote((await fx.git(['ls-remote', `${fx.fileUrl}/${repo}.git`])).stdout);
      expect(ad.ok, repo).toBe(true);
      expect(listed.ok, repo).toBe(true);
      if (!ad.ok || !listed.ok) return;
      expect(Object.fromEntries(ad.refs), repo).toEqual(Object.fromEntries(listed.refs));
    }
  });

  it('round-trips any set of refs', () => {
    const refName = fc.stringMatching(/^refs\/(heads|tags)\/[a-z0-9._-]{1,8}(\/[a-z0-9._-]{1,8}){0,2}$/);
    const sha = fc.stringMatching(/^[0-9a-f]{40}$/).filter((s) => s !== ZERO);
    fc.assert(
      fc.property(fc.dictionary(refName, sha), fc.boolean(), fc.boolean(), (refs, version1, lf) => {
        const ad = parseAdvertisement(advertisement(Object.entries(refs).map(([r, s]) => [s, r] as const), { version1, lf }));
        expect(ad.ok).toBe(true);
        if (!ad.ok) return;
        expect(Object.fromEntries(ad.refs)).toEqual(refs);
        for (const [r, s] of Object.entries(refs)) {
          if (r.startsWith('refs/heads/')) expect(branchSha(ad.refs, r.slice('refs/heads/'.length))).toBe(s);
        }
      }),
    );
  });

  const head = (): Buffer => Buffer.concat([encodePkt('# service=git-upload-pack\n'), FLUSH_PKT]);
  const withLines = (...lines: string[]): Buffer => Buffer.concat([head(), ...lines.map((l) => encodePkt(l)), FLUSH_PKT]);
  it.each([
    ['an empty body', Buffer.alloc(0), /the body is empty/],
    ['another service', Buffer.concat([encodePkt('# service=git-receive-pack\n'), FLUSH_PKT, FLUSH_PKT]), /expected "# service=git-upload-pack"/],
    ['no service line', advertisement([[a, 'refs/heads/main']]).subarray(30), /expected "# service=git-upload-pack"|bad pkt-line/],
    ['no flush after the service line', Buffer.concat([encodePkt('# service=git-upload-pack\n'), encodePkt(`${a} refs/heads/main\0${CAPS}\n`), FLUSH_PKT]), /no flush packet after the service line/],
    ['no closing flush', advertisement([[a, 'refs/heads/main']]).subarray(0, -4), /does not end with a flush/],
    ['bytes after the closing flush', Buffer.concat([advertisement([[a, 'refs/heads/main']]), encodePkt(`${b} refs/heads/x\n`)]), /1 packet\(s\) after the closing flush/],
    ['garbage after the closing flush', Buffer.concat([advertisement([[a, 'refs/heads/main']]), Buffer.from('\n')]), /truncated pkt-line header/],
    ['a first line without capabilities', withLines(`${a} refs/heads/main\n`), /carries no capabilities/],
    ['a NUL in a later line', withLines(`${a} HEAD\0${CAPS}\n`, `${b} refs/heads/main\0x\n`), /a NUL in a ref line other than the first/],
    ['an upper-case sha', withLines(`${a.toUpperCase()} refs/heads/main\0${CAPS}\n`), /not a "<sha> <ref>" line/],
    ['a short sha', withLines(`${a.slice(1)} refs/heads/main\0${CAPS}\n`), /not a "<sha> <ref>" line/],
    ['a tab instead of a space', withLines(`${a}\trefs/heads/main\0${CAPS}\n`), /not a "<sha> <ref>" line/],
    ['a ref with a space', withLines(`${a} HEAD\0${CAPS}\n`, `${b} refs/heads/ma in\n`), /not a "<sha> <ref>" line/],
    ['CRLF line ends', withLines(`${a} HEAD\0${CAPS}\r\n`, `${b} refs/heads/main\r\n`), /not a "<sha> <ref>" line/],
    ['a ref listed twice', withLines(`${a} HEAD\0${CAPS}\n`, `${a} refs/heads/main\n`, `${b} refs/heads/main\n`), /refs\/heads\/main advertised twice/],
    ['a ref with the zero id', withLines(`${a} HEAD\0${CAPS}\n`, `${ZERO} refs/heads/main\n`), /advertised with the zero id/],
    ['capabilities^{} after a ref', withLines(`${a} HEAD\0${CAPS}\n`, `${ZERO} capabilities^{}\n`), /must be the only line/],
    ['capabilities^{} with a sha', withLines(`${a} capabilities^{}\0${CAPS}\n`), /must be the only line/],
    ['a ref after capabilities^{}', withLines(`${ZERO} capabilities^{}\0${CAPS}\n`, `${a} refs/heads/main\n`), /after the empty repository/],
    ['a shallow line first', withLines(`shallow ${a}\n`), /shallow line before/],
    ['a ref after a shallow line', withLines(`${a} HEAD\0${CAPS}\n`, `shallow ${b}\n`, `${c} refs/heads/main\n`), /after the shallow lines/],
    ['an empty packet', withLines(`${a} HEAD\0${CAPS}\n`, ''), /an empty packet/],
    ['a delimiter packet', Buffer.concat([head(), encodePkt(`${a} HEAD\0${CAPS}\n`), Buffer.from('0001'), FLUSH_PKT]), /unexpected delim packet/],
    ['a protocol v2 answer', withLines('version 2\n', 'ls-refs=unborn\n'), /protocol v2/],
    // A sha's first four digits read as a length: 0xaaaa is more than the answer holds.
    ['a dumb-HTTP ref list', Buffer.from(`${a}\trefs/heads/main\n`), /truncated pkt-line at byte 0: length 43690/],
  ])('refuses %s as malformed', (_name, body, reason) => {
    const ad = parseAdvertisement(body);
    expect(ad.ok).toBe(false);
    expect(!ad.ok && ad.kind).toBe('malformed');
    expect(!ad.ok && ad.message).toMatch(/^malformed ref advertisement: /);
    expect(!ad.ok && ad.message).toMatch(reason);
  });

  it('reads a SHA-256 repository: 64-hex ids, as its object-format capability says', () => {
    const d = 'd'.repeat(64);
    const ad = parseAdvertisement(withLines(`${d} refs/heads/main\0${CAPS.replace('sha1', 'sha256')}\n`, `${'e'.repeat(64)} refs/heads/ünï\u00a0x\n`));
    expect(ad.ok && [...ad.refs]).toEqual([['refs/heads/main', d], ['refs/heads/ünï\u00a0x', 'e'.repeat(64)]]);
    const empty = parseAdvertisement(withLines(`${'0'.repeat(64)} capabilities^{}\0object-format=sha256\n`));
    expect(empty.ok && empty.refs.size).toBe(0);
  });

  it.each([
    ['a 64-hex id without the sha256 capability', withLines(`${'d'.repeat(64)} refs/heads/main\0multi_ack\n`), /64-hex id in a repository of 40-hex ids/],
    ['a 40-hex id in a sha256 repository', withLines(`${'d'.repeat(64)} HEAD\0object-format=sha256\n`, `${a} refs/heads/main\n`), /40-hex id in a repository of 64-hex ids/],
  ])('refuses %s as malformed', (_name, body, reason) => {
    const ad = parseAdvertisement(body);
    expect(!ad.ok && ad.kind).toBe('malformed');
    expect(!ad.ok && ad.message).toMatch(reason);
  });

  it('refuses an unknown object format as unsupported', () => {
    const ad = parseAdvertisement(withLines(`${'d'.repeat(64)} refs/heads/main\0object-format=sha3\n`));
    expect(!ad.ok && ad.kind).toBe('unsupported');
    expect(!ad.ok && ad.message).toMatch(/object format "sha3"/);
  });
});

describe('reading an http mirror over smart HTTP', () => {
  const main = 'e'.repeat(40);
  const ok = advertisement([[main, 'HEAD'], [main, 'refs/heads/main'], ['f'.repeat(40), 'refs/heads/v0.3']]);
  const fakes: FakeMirror[] = [];
  const serve = async (answer: (req: FakeRequest, res: ServerResponse) => void, opts?: { keepAliveTimeoutMs?: number }): Promise<FakeMirror> => {
    const m = await startFakeMirror(answer, opts);
    fakes.push(m);
    return m;
  };
  afterEach(async () => {
    for (const m of fakes.splice(0)) await m.stop();
  });

  it('asks for the upload-pack advertisement as git does, without credentials, offering protocol v2 (a v0 answer is read as such)', async () => {
    const m = await serve((_req, res) => serveAdvertisement(res, ok));
    const reader = createGitRefReader({ readUrl: m.url });
    const res = await reader.readMany([{ repo: 'acme/app', branches: ['main', 'v0.3', 'gone'] }]);
    expect(get(res, 'acme/app', 'main')).toEqual({ kind: 'ok', sha: main });
    expect(get(res, 'acme/app', 'v0.3')).toEqual({ kind: 'ok', sha: 'f'.repeat(40) });
    expect(get(res, 'acme/app', 'gone')).toEqual({ kind: 'missing', repo: 'acme/app', branch: 'gone' });
    expect(m.requests).toHaveLength(1);
    const [req] = m.requests;
    expect(req?.path).toBe('/git/acme/app.git/info/refs');
    expect(req?.query).toBe('?service=git-upload-pack');
    expect(req?.headers['user-agent']).toBe(USER_AGENT);
    expect(req?.headers['cache-control']).toBe('no-cache');
    expect(req?.headers.authorization).toBeUndefined();
    expect(req?.headers.cookie).toBeUndefined();
    expect(req?.headers['git-protocol']).toBe('version=2');
  });

  it('never follows a redirect, even to a repository that would answer', async () => {
    const m = await serve((req, res) => {
      if (req.path === '/git/acme/moved.git/info/refs') {
        res.writeHead(301, { Location: `${m.url.replace('http://', 'http://user:hunter2@')}/acme/app.git/info/refs?service=git-upload-pack` });
        res.end();
      } else if (req.path === '/git/acme/relative.git/info/refs') {
        res.writeHead(307, { Location: '/elsewhere/acme/relative.git/info/refs' });
        res.end('moved');
      } else serveAdvertisement(res, ok);
    });
    const reader = createGitRefReader({ readUrl: m.url });
    const res = await reader.readMany([
      { repo: 'acme/moved', branches: ['main'] },
      { repo: 'acme/relative', branches: ['main'] },
    ]);
    const moved = get(res, 'acme/moved', 'main');
    expect(moved?.kind).toBe('unreachable');
    expect(messageOf(moved)).toMatch(/acme\/moved\.git: mirror answered with a redirect to http:\/\/127\.0\.0\.1:\d+\/git\/acme\/app\.git\/info\/refs\?service=git-upload-pack \(HTTP 301\); configure the final URL/);
    // The credentials a redirect carried are not repeated in status and events.
    expect(messageOf(moved)).not.toContain('hunter2');
    expect(messageOf(get(res, 'acme/relative', 'main'))).toMatch(/redirect to http:\/\/127\.0\.0\.1:\d+\/elsewhere\/acme\/relative\.git\/info\/refs \(HTTP 307\)/);
    expect(m.requests.map((r) => r.path).sort()).toEqual(['/git/acme/moved.git/info/refs', '/git/acme/relative.git/info/refs']);
  });

  it.each([
    [404, /acme\/app\.git: repository not found on the mirror \(HTTP 404\)/],
    [401, /mirror refused the read \(HTTP 401\).*no credentials are sent/],
    [403, /mirror refused the read \(HTTP 403\)/],
    [500, /mirror answered HTTP 500 Internal Server Error/],
    [503, /mirror answered HTTP 503/],
    [204, /mirror answered HTTP 204/],
  ])('reads HTTP %i as unreachable', async (status, reason) => {
    const m = await serve((_req, res) => {
      res.writeHead(status, { 'Content-Type': ADVERTISEMENT_TYPE, ...(status === 401 ? { 'WWW-Authenticate': 'Basic realm="git"' } : {}) });
      // A body that parses, so nothing but the status can reject it.
      res.end(status === 204 ? undefined : ok);
    });
    const reader = createGitRefReader({ readUrl: m.url });
    const obs = get(await reader.readMany([{ repo: 'acme/app', branches: ['main'] }]), 'acme/app', 'main');
    expect(obs?.kind).toBe('unreachable');
    expect(messageOf(obs)).toMatch(reason);
    expect(m.requests).toHaveLength(1);
  });

  it.each([
    ['text/plain', /Content-Type "text\/plain", not application\/x-git-upload-pack-advertisement: not a smart-HTTP git server/],
    ['text/html; charset=utf-8', /Content-Type "text\/html"/],
    ['application/x-git-receive-pack-advertisement', /Content-Type "application\/x-git-receive-pack-advertisement"/],
    ['', /Content-Type \(none\)/],
  ])('refuses a well-formed advertisement served as %j', async (type, reason) => {
    const m = await serve((_req, res) => {
      res.writeHead(200, type === '' ? {} : { 'Content-Type': type });
      res.end(ok);
    });
    const reader = createGitRefReader({ readUrl: m.url });
    const obs = get(await reader.readMany([{ repo: 'acme/app', branches: ['main'] }]), 'acme/app', 'main');
    expect(obs?.kind).toBe('unreachable');
    expect(messageOf(obs)).toMatch(reason);
  });

  it('accepts the advertisement type with parameters and in any case', async () => {
    const m = await serve((_req, res) => serveAdvertisement(res, ok, 'Application/X-Git-Upload-Pack-Advertisement; charset=binary'));
    const reader = createGitRefReader({ readUrl: m.url });
    expect(get(await reader.readMany([{ repo: 'acme/app', branches: ['main'] }]), 'acme/app', 'main')).toEqual({ kind: 'ok', sha: main });
  });

  it('reads malformed, unknown-format and SHA-256 advertisements per repository, the others unharmed', async () => {
    const m = await serve((req, res) => {
      if (req.path.includes('/truncated.git/')) serveAdvertisement(res, ok.subarray(0, ok.length - 10));
      else if (req.path.includes('/html.git/')) serveAdvertisement(res, Buffer.from('<html><body>Sign in</body></html>'));
      else if (req.path.includes('/sha256.git/')) serveAdvertisement(res, advertisement([['d'.repeat(64), 'refs/heads/main']], { caps: 'object-format=sha256' }));
      else if (req.path.includes('/sha3.git/')) serveAdvertisement(res, advertisement([['d'.repeat(64), 'refs/heads/main']], { caps: 'object-format=sha3' }));
      else serveAdvertisement(res, ok);
    });
    const reader = createGitRefReader({ readUrl: m.url });
    const res = await reader.readMany(['acme/truncated', 'acme/html', 'acme/sha256', 'acme/sha3', 'acme/app'].map((repo) => ({ repo, branches: ['main'] })));
    expect(get(res, 'acme/truncated', 'main')?.kind).toBe('unreachable');
    expect(messageOf(get(res, 'acme/truncated', 'main'))).toMatch(/acme\/truncated\.git: malformed ref advertisement: truncated pkt-line/);
    expect(get(res, 'acme/html', 'main')?.kind).toBe('unreachable');
    expect(messageOf(get(res, 'acme/html', 'main'))).toMatch(/malformed ref advertisement: bad pkt-line length "<htm"/);
    expect(get(res, 'acme/sha256', 'main')).toEqual({ kind: 'ok', sha: 'd'.repeat(64) });
    expect(get(res, 'acme/sha3', 'main')?.kind).toBe('untrusted');
    expect(messageOf(get(res, 'acme/sha3', 'main'))).toMatch(/object format "sha3"/);
    expect(get(res, 'acme/app', 'main')).toEqual({ kind: 'ok', sha: main });
    expect(reader.readsIssued()).toBe(5);
  });

  it('does not trust an advertisement larger than the limit, announced or streamed', async () => {
    const big = advertisement(Array.from({ length: 400 }, (_, i) => [main, `refs/heads/b${i}`] as const));
    const m = await serve((req, res) => {
      if (req.path.includes('/chunked.git/')) {
        res.writeHead(200, { 'Content-Type': ADVERTISEMENT_TYPE });
        res.write(big.subarray(0, 5000));
        res.end(big.subarray(5000));
      } else serveAdvertisement(res, big);
    });
    for (const repo of ['acme/sized', 'acme/chunked']) {
      const r = await readAdvertisedRefs(`${m.url}/${repo}.git`, { timeoutMs: 10_000, maxBytes: big.length - 1 });
      expect(r.kind, repo).toBe('untrusted');
      expect(r.kind !== 'refs' && r.message, repo).toMatch(new RegExp(`${repo}\\.git: the ref advertisement is larger than ${big.length - 1} bytes`));
      const whole = await readAdvertisedRefs(`${m.url}/${repo}.git`, { timeoutMs: 10_000, maxBytes: big.length });
      expect(whole.kind === 'refs' && whole.refs.size, repo).toBe(400);
    }
  });

  it('aborts a read whose server stops in the middle of the advertisement', async () => {
    const m = await serve((req, res) => {
      if (req.path.includes('/stalls.git/')) {
        res.writeHead(200, { 'Content-Type': ADVERTISEMENT_TYPE });
        res.write(ok.subarray(0, 40));
        return; // and never another byte
      }
      serveAdvertisement(res, ok);
    });
    const reader = createGitRefReader({ readUrl: m.url, timeoutMs: 1_000 });
    const res = await reader.readMany([
      { repo: 'acme/stalls', branches: ['main'] },
      { repo: 'acme/app', branches: ['main'] },
    ]);
    const stuck = get(res, 'acme/stalls', 'main');
    expect(stuck?.kind).toBe('unreachable');
    expect(messageOf(stuck)).toMatch(/acme\/stalls\.git: GET info\/refs timed out after 1000 ms and was aborted/);
    expect(get(res, 'acme/app', 'main')).toEqual({ kind: 'ok', sha: main });
    // The aborted request's connection is closed, not left to the pool.
    expect(await eventually(() => m.inFlight() === 0)).toBe(true);
  });

  it('aborts a read that a server never answers and closes its connection', async () => {
    const hole = await startBlackholeServer();
    try {
      const reader = createGitRefReader({ readUrl: `http://127.0.0.1:${hole.port}/git`, timeoutMs: 1_000 });
      const res = await reader.readMany([{ repo: 'acme/app', branches: ['main', 'v0.3'] }]);
      for (const b of ['main', 'v0.3']) {
        const obs = get(res, 'acme/app', b);
        expect(obs?.kind).toBe('unreachable');
        expect(messageOf(obs)).toMatch(/GET info\/refs timed out after 1000 ms and was aborted/);
      }
      expect(hole.accepted()).toBe(1);
      expect(await eventually(() => hole.closed() === hole.accepted())).toBe(true);
    } finally {
      await hole.stop();
    }
  });

  it(`reads at most ${DEFAULT_CONCURRENCY} repositories at once by default, and as many as allowed`, async () => {
    for (const [concurrency, bound] of [[undefined, DEFAULT_CONCURRENCY], [3, 3], [1, 1]] as const) {
      // Enough repositories for the reads to come in three waves.
      const repos = Array.from({ length: 2 * bound + 1 }, (_, i) => `fleet/r${i}`);
      // Requests are held until no new one has arrived for a while, so every read the reader
      // lets run at once is in flight together at the server.
      const held: ServerResponse[] = [];
      let quiet: NodeJS.Timeout | undefined;
      const m = await serve((_req, res) => {
        held.push(res);
        clearTimeout(quiet);
        quiet = setTimeout(() => {
          for (const r of held.splice(0)) serveAdvertisement(r, ok);
        }, 500);
      });
      const reader = createGitRefReader({ readUrl: m.url, ...(concurrency === undefined ? {} : { concurrency }) });
      const res = await reader.readMany(repos.map((repo) => ({ repo, branches: ['main'] })));
      clearTimeout(quiet);
      for (const repo of repos) expect(get(res, repo, 'main')).toEqual({ kind: 'ok', sha: main });
      expect(new Set(m.requests.map((r) => r.path)).size).toBe(repos.length);
      expect(m.requests).toHaveLength(repos.length);
      expect(reader.readsIssued()).toBe(repos.length);
      expect(m.maxInFlight(), `concurrency ${concurrency}`).toBe(bound);
    }
  });

  it('leaves no connection behind: a process that read the mirror exits by itself', async () => {
    // The mirror would keep idle connections open for ten minutes; the reading process must not
    // wait for that (a CronJob tick that never ends), whatever each repository answered.
    const m = await serve((req, res) => {
      if (req.path.includes('/missing.git/')) res.writeHead(404).end('not found');
      else if (req.path.includes('/moved.git/')) res.writeHead(302, { Location: 'http://127.0.0.1:1/x' }).end('moved');
      else if (req.path.includes('/dumb.git/')) res.writeHead(200, { 'Content-Type': 'text/plain' }).end(ok);
      else if (req.path.includes('/broken.git/')) res.writeHead(500, { 'Content-Type': 'text/plain' }).end('x'.repeat(200_000));
      else serveAdvertisement(res, ok);
    }, { keepAliveTimeoutMs: 600_000 });
    const script = join(fx.root, 'read-once.mjs');
    await writeFile(
      script,
      `import { createGitRefReader } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'git', 'ref-reader.ts'))};
const reader = createGitRefReader({ readUrl: process.argv[2] });
const res = await reader.readMany(['acme/app', 'acme/lib', 'acme/missing', 'acme/moved', 'acme/dumb', 'acme/broken'].map((repo) => ({ repo, branches: ['main'] })));
process.stdout.write(JSON.stringify(Object.fromEntries([...res].map(([repo, m]) => [repo, m.get('main').kind]))));
`,
    );
    const child = spawn(process.execPath, [script, m.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    // A guard, not a measurement: far below the server's keep-alive, far above any start-up.
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(guard);
    expect(signal, err).toBeNull();
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toEqual({ 'acme/app': 'ok', 'acme/lib': 'ok', 'acme/missing': 'unreachable', 'acme/moved': 'unreachable', 'acme/dumb': 'unreachable', 'acme/broken': 'unreachable' });
    expect(m.requests).toHaveLength(6);
    expect(await eventually(() => m.openConnections() === 0)).toBe(true);
  });
});

describe('when git must read an http mirror', () => {
  it('keeps a read with git when the environment names a proxy, unless NO_PROXY exempts the mirror', async () => {
    const proxyPort = await closedPort();
    const proxied = createGitRefReader({ readUrl: http.url, env: { http_proxy: `http://127.0.0.1:${proxyPort}`, no_proxy: undefined, NO_PROXY: undefined } });
    const before = http.requests.length;
    const obs = get(await proxied.readMany([{ repo: 'acme/lib', branches: ['main'] }]), 'acme/lib', 'main');
    // git honoured the proxy (which is down) and never reached the mirror.
    expect(obs?.kind).toBe('unreachable');
    expect(messageOf(obs)).toMatch(new RegExp(`git ls-remote .*acme/lib\\.git failed \\(exit \\d+\\).*port ${proxyPort}`));
    expect(http.requests.length).toBe(before);

    for (const noProxy of ['127.0.0.1', 'localhost, 127.0.0.1', '*']) {
      const exempt = createGitRefReader({ readUrl: http.url, env: { http_proxy: `http://127.0.0.1:${proxyPort}`, NO_PROXY: noProxy } });
      const start = http.requests.length;
      const read = get(await exempt.readMany([{ repo: 'acme/lib', branches: ['main'] }]), 'acme/lib', 'main');
      expect(read, noProxy).toEqual({ kind: 'ok', sha: await fx.tip('acme/lib', 'main') });
      expect(http.requests.slice(start).map((r) => r.method), noProxy).toEqual(['GET', 'POST']);
    }
  });

  it.each([
    ['http://m.local/git/a/b.git', { http_proxy: 'http://p:3128' }, 'http_proxy is set'],
    ['http://m.local/git/a/b.git', { ALL_PROXY: 'socks5://p:1080' }, 'ALL_PROXY is set'],
    // curl takes no HTTP_PROXY for http URLs (a CGI request's Proxy header could set it).
    ['http://m.local/git/a/b.git', { HTTP_PROXY: 'http://p:3128' }, null],
    ['http://m.local/git/a/b.git', { https_proxy: 'http://p:3128' }, null],
    ['https://m.local/git/a/b.git', { HTTPS_PROXY: 'http://p:3128' }, 'HTTPS_PROXY is set'],
    ['https://m.local/git/a/b.git', { HTTPS_PROXY: 'http://p:3128', NO_PROXY: '.local' }, null],
    ['https://m.local/git/a/b.git', { HTTPS_PROXY: 'http://p:3128', no_proxy: 'other.local,m.local' }, null],
    ['https://m.local/git/a/b.git', { HTTPS_PROXY: 'http://p:3128', no_proxy: 'xm.local' }, 'HTTPS_PROXY is set'],
    ['http://git-mirror.git-mirror.svc.cluster.local/git/a/b.git', { http_proxy: 'http://p:3128', NO_PROXY: '.svc.cluster.local,10.0.0.0/8' }, null],
    ['https://m.local/git/a/b.git', { GIT_SSL_CAINFO: '/etc/ca.pem' }, 'GIT_SSL_CAINFO is set'],
    ['https://m.local/git/a/b.git', { SSL_CERT_DIR: '/etc/ssl/certs' }, 'SSL_CERT_DIR is set'],
    // A CA bundle means nothing to plain http.
    ['http://m.local/git/a/b.git', { GIT_SSL_CAINFO: '/etc/ca.pem' }, null],
    ['https://m.local/git/a/b.git', { HTTPS_PROXY: '' }, null],
  ])('%s with %j: %s', (url, env, expected) => {
    expect(needsGitTransport(url, env)).toBe(expected);
  });

  it('matches NO_PROXY as curl does', () => {
    expect(noProxyCovers('m.local', undefined)).toBe(false);
    expect(noProxyCovers('m.local', '')).toBe(false);
    expect(noProxyCovers('M.Local.', 'm.local')).toBe(true);
    expect(noProxyCovers('a.m.local', '.m.local')).toBe(true);
    expect(noProxyCovers('a.m.local', '*.m.local')).toBe(true);
    expect(noProxyCovers('am.local', 'm.local')).toBe(false);
    expect(noProxyCovers('::1', '::1')).toBe(true);
    expect(noProxyCovers('[::1]', '::1')).toBe(true);
  });

  it('refuses an unknown transport', () => {
    expect(() => createGitRefReader({ readUrl: 'http://m.local/git', httpTransport: 'curl' as 'git' })).toThrow(/httpTransport/);
  });
});

describe('smart HTTP protocol v2 and mirror back-pressure, on git http-backend', () => {
  let many: Record<string, string>;
  const PULLS = 5000;
  beforeAll(async () => {
    many = await fx.commitMany('acme/forge', ['main', 'v0.3', 'v0.30']);
    await fx.addPullRefs('acme/forge', PULLS, many.main!);
  });

  it('asks ls-refs for just the followed heads: the same answer as v0 with a small fraction of the bytes', async () => {
    const server = await fx.serveHttp();
    const v2 = createReader({ readUrl: server.url });
    const v0 = createReader({ readUrl: server.url, smartHttpProtocol: 'v0' });
    const want = [{ repo: 'acme/forge', branches: ['main', 'v0.3'] }];
    const a = await v2.readMany(want);
    const v2Requests = server.requests.splice(0);
    const b = await v0.readMany(want);
    const v0Requests = server.requests.splice(0);
    for (const br of ['main', 'v0.3']) {
      expect(get(a, 'acme/forge', br)).toEqual({ kind: 'ok', sha: many[br] });
      expect(get(b, 'acme/forge', br)).toEqual(get(a, 'acme/forge', br));
    }
    expect(v2Requests.map((r) => `${r.method} ${r.path} ${r.protocol}`)).toEqual([
      'GET /git/acme/forge.git/info/refs version=2',
      'POST /git/acme/forge.git/git-upload-pack version=2',
    ]);
    expect(v0Requests.map((r) => `${r.method} ${r.path} ${r.protocol}`)).toEqual(['GET /git/acme/forge.git/info/refs null']);
    const bytes = (rs: { bytes: number }[]): number => rs.reduce((n, r) => n + r.bytes, 0);
    // 5,500 refs of ~60 bytes each in v0; v2 moves its capabilities and three lines.
    expect(bytes(v0Requests)).toBeGreaterThan(PULLS * 50);
    expect(bytes(v2Requests)).toBeLessThan(1000);
    expect(v2.bytesReceived()).toBe(bytes(v2Requests));
    expect(v0.bytesReceived()).toBe(bytes(v0Requests));
    expect(v2.readsIssued()).toBe(1);
    // The git path too: `ls-remote --heads` sends ref-prefix refs/heads/, patterns alone list every ref.
    const git = createReader({ readUrl: server.url, httpTransport: 'git' });
    expect(get(await git.readMany(want), 'acme/forge', 'main')).toEqual({ kind: 'ok', sha: many.main });
    expect(bytes(server.requests.splice(0))).toBeLessThan(2000);
  });

  it('falls back to v0 on a server that ignores Git-Protocol, and reads SHA-256 repositories over v2', async () => {
    const old = await fx.serveHttp({ v0Only: true });
    const r = createReader({ readUrl: old.url });
    expect(get(await r.readMany([{ repo: 'acme/forge', branches: ['v0.30'] }]), 'acme/forge', 'v0.30')).toEqual({ kind: 'ok', sha: many['v0.30'] });
    expect(old.requests.map((q) => q.method)).toEqual(['GET']);
    const modern = await fx.serveHttp();
    const s = createReader({ readUrl: modern.url });
    const res = await s.readMany([{ repo: 'acme/sha256', branches: ['main', 'release/1.x'] }]);
    expect(get(res, 'acme/sha256', 'main')).toEqual({ kind: 'ok', sha: sha256.main });
    expect(get(res, 'acme/sha256', 'release/1.x')).toEqual({ kind: 'ok', sha: sha256['release/1.x'] });
    expect(modern.requests.map((q) => q.method)).toEqual(['GET', 'POST']);
  });

  it.each([
    [429, '120', '2026-01-01T00:02:00.000Z'],
    [503, 'Thu, 01 Jan 2026 01:00:00 GMT', '2026-01-01T01:00:00.000Z'],
  ])('a %i with Retry-After reads throttled until then; without Retry-After it is only unreachable', async (status, retryAfter, until) => {
    const now = Date.parse('2026-01-01T00:00:00.000Z');
    const server = await fx.serveHttp({ throttle: (p) => (p.includes('/forge.git/') ? { status, retryAfter } : p.includes('/lib.git/') ? { status, retryAfter: null } : null) });
    const r = createReader({ readUrl: server.url, now: () => now });
    const res = await r.readMany([{ repo: 'acme/forge', branches: ['main'] }, { repo: 'acme/lib', branches: ['main'] }]);
    const t = get(res, 'acme/forge', 'main');
    expect(t).toMatchObject({ kind: 'throttled', until });
    expect(t?.kind === 'throttled' && t.message).toContain(`HTTP ${status}`);
    expect(get(res, 'acme/lib', 'main')?.kind).toBe('unreachable');
  });
});
