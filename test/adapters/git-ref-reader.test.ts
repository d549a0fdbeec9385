import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceObservation } from '../../src/core/observe.ts';
import { branchSha, lsRemoteArgv, parseLsRemote, PATTERN_LIMIT } from '../../src/adapters/git/ls-remote.ts';
import { MirrorUrlError, checkMirrorUrl, repoUrl } from '../../src/adapters/git/mirror-url.ts';
import { createGitRefReader } from '../../src/adapters/git/ref-reader.ts';
import {
  closedPort,
  createGitFixture,
  eventually,
  runGitCmd,
  startBlackholeServer,
  type GitFixture,
  type GitServer,
  type HttpGitServer,
} from '../support/git-fixtures.ts';

const SHA = /^[0-9a-f]{40}$/;

let fx: GitFixture;
let daemon: GitServer;
let http: HttpGitServer;
let app: Record<string, string>;

const APP_BRANCHES = ['main', 'v0.3', 'feature/v0.3', 'v0.30', 'v0.3.1', 'release/1.x', 'release/1.x.y', 'old/release/1.x'];

beforeAll(async () => {
  fx = await createGitFixture();
  app = await fx.commitMany('acme/app', APP_BRANCHES);
  await fx.commitMany('acme/lib', ['main']);
  await fx.createBareRepo('acme/empty');
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

const transports: [string, () => string][] = [
  ['file://', () => fx.fileUrl],
  ['git daemon', () => daemon.url],
  ['http-backend', () => http.url],
];

describe.each(transports)('reading a %s mirror', (name, urlOf) => {
  const slug = name.replace(/[^a-z]/g, '');

  it('answers each branch with its exact sha, one read for three followers sharing a repository', async () => {
    const reader = createGitRefReader({ readUrl: urlOf() });
    const before = http.requests.length;
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
    if (name === 'http-backend') {
      const asked = http.requests.slice(before).filter((r) => r.path.endsWith('/info/refs'));
      expect(asked).toHaveLength(1);
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
    for (const readUrl of [`git://127.0.0.1:${port}`, `http://127.0.0.1:${port}/git`]) {
      const reader = createGitRefReader({ readUrl, timeoutMs: 10_000 });
      const res = await reader.readMany([
        { repo: 'acme/app', branches: ['main'] },
        { repo: 'acme/lib', branches: ['main'] },
      ]);
      for (const repo of ['acme/app', 'acme/lib']) {
        const obs = get(res, repo, 'main');
        expect(obs?.kind).toBe('unreachable');
        expect(obs?.kind === 'unreachable' && obs.message).toMatch(/failed \(exit \d+\)/);
      }
      expect(reader.readsIssued()).toBe(2);
    }
  });

  it('kills a read that the server never answers and reports it unreachable', async () => {
    const hole = await startBlackholeServer();
    try {
      const reader = createGitRefReader({ readUrl: `git://127.0.0.1:${hole.port}`, timeoutMs: 1_500 });
      const res = await reader.readMany([{ repo: 'acme/app', branches: ['main', 'v0.3'] }]);
      for (const b of ['main', 'v0.3']) {
        const obs = get(res, 'acme/app', b);
        expect(obs?.kind).toBe('unreachable');
        expect(obs?.kind === 'unreachable' && obs.message).toMatch(/timed out after 1500 ms and was killed/);
      }
      expect(hole.accepted()).toBe(1);
      // The killed git held the connection: it closes once the process is gone.
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
    const reader = createGitRefReader({ readUrl: daemon.url, gitBinary: join(fx.root, 'no-such-git') });
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
      expect(obs?.kind, n).toBe('invalid');
      expect(obs?.kind === 'invalid' && obs.message, n).toMatch(reason);
    }
    expect(reader.readsIssued()).toBe(0);
  });

  it('is not influenced by a dirty work tree in the cwd, GIT_DIR, or user git config', async () => {
    const wt = join(fx.root, 'dirty-checkout');
    const wtHead = await fx.createWorkTree(wt, { branch: 'v0.3' });
    expect(wtHead).not.toBe(app['v0.3']);
    const urls = transports.map(([, u]) => u());
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
      for (const u of urls) {
        // The trap is armed: a plain ls-remote from here answers the work tree's sha.
        const naive = await runGitCmd(['ls-remote', `${u}/acme/app.git`, 'refs/heads/v0.3'], { cwd: wt, env: process.env });
        expect(naive.stdout.slice(0, 40), u).toBe(wtHead);

        const reader = createGitRefReader({ readUrl: u, env: hostileEnv });
        const res = await reader.readMany([{ repo: 'acme/app', branches: ['v0.3'] }]);
        expect(get(res, 'acme/app', 'v0.3'), u).toEqual({ kind: 'ok', sha: app['v0.3'] });
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
    [`${'c'.repeat(64)}\trefs/heads/main\n`, /SHA-256/],
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
