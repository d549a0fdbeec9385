// The file:// reader that reads a bare mirror repository's ref files in process: it must answer
// exactly what `git ls-remote` answers on real repositories (sha1 and sha256, loose and packed
// refs, every history git can make), run no git process on a plain repository, and leave every
// repository it does not fully understand to git.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceObservation } from '../../src/core/observe.ts';
import { parseLsRemote } from '../../src/adapters/git/ls-remote.ts';
import { parseLooseRef, parsePackedRefs } from '../../src/adapters/git/ref-files.ts';
import { createGitRefReader } from '../../src/adapters/git/ref-reader.ts';
import { parseRepoConfig } from '../../src/adapters/git/repo-config.ts';
import { createGitFixture, type GitFixture } from '../support/git-fixtures.ts';

let fx: GitFixture;
let gitLog: string;
let recordingGit: string;

beforeAll(async () => {
  fx = await createGitFixture();
  // A git that records every call, then runs the real one: counts the processes a read spawns.
  gitLog = join(fx.root, 'git-calls.log');
  recordingGit = join(fx.root, 'recording-git');
  await writeFile(recordingGit, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${gitLog}'\nexec git "$@"\n`);
  await chmod(recordingGit, 0o755);
});

afterAll(async () => {
  await fx?.cleanup();
});

const gitCalls = async (): Promise<string[]> => (await readFile(gitLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const resetCalls = (): Promise<void> => rm(gitLog, { force: true });

const bare = (repo: string): string => join(fx.mirrorRoot, `${repo}.git`);

/** What `git ls-remote` of the bare repository answers for each branch, as the reader words it. */
const lsRemoteAnswers = async (repo: string, branches: readonly string[]): Promise<Map<string, SourceObservation>> => {
  // The branches as patterns, so that git matches their bytes (a listing decoded here would turn
  // a ref name that is not UTF-8 into U+FFFD and match a branch git does not have).
  const listed = await fx.git(['ls-remote', '--heads', '--', pathToFileURL(bare(repo)).href, ...branches.map((b) => `refs/heads/${b}`)]);
  const parsed = parseLsRemote(listed.stdout);
  if (!parsed.ok) throw new Error(parsed.message);
  return new Map(branches.map((b) => {
    const sha = parsed.refs.get(`refs/heads/${b}`);
    return [b, sha === undefined ? { kind: 'missing', repo, branch: b } : { kind: 'ok', sha }];
  }));
};

const readAll = async (repo: string, branches: readonly string[]) => {
  const reader = createGitRefReader({ readUrl: fx.fileUrl, gitBinary: recordingGit });
  const res = await reader.readMany([{ repo, branches }]);
  return { answers: res.get(repo)!, reads: reader.readsIssued() };
};

// Valid git branch names without a directory/file conflict among them (git refuses `a` next to `a/b`).
const POOL = ['main', 'release/1.x', 'feat/ünï/x', 'no\u00a0break', '@', 'a+b#c', 'v0.3', `long/${'n'.repeat(120)}`];
// Never created: one names a directory of loose refs, one runs through a ref file, one is unrelated.
const NEVER = ['release', 'feat/ünï', 'release/1.x/y', 'v0.30', 'Main'];

// `branch` indexes the run's few branch names, so that a run often touches a branch again
// after packing it (a stale packed entry under a newer loose ref) or after deleting it.
type Op =
  | { op: 'commit'; branch: number }
  | { op: 'force-old'; branch: number; pick: number }
  | { op: 'delete'; branch: number }
  | { op: 'pack' }
  | { op: 'tag'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('commit' as const), branch: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('force-old' as const), branch: fc.nat(), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), branch: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ op: 'pack' as const }) },
  // An annotated tag: once packed, its peeled `^<oid>` line follows it in packed-refs.
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tag' as const), pick: fc.nat() }) },
);

describe('reading a file:// repository from its ref files', () => {
  let n = 0;
  it('answers what git ls-remote answers, for every branch asked, through any history, without running git', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('sha1' as const, 'sha256' as const),
        fc.shuffledSubarray(POOL, { minLength: 1, maxLength: 3 }),
        fc.array(opArb, { minLength: 1, maxLength: 8 }),
        async (format, names, ops) => {
        const repo = `prop/r${++n}`;
        await fx.createBareRepo(repo, { objectFormat: format });
        const made: string[] = [];
        const live = new Set<string>();
        for (const o of ops) {
          const branch = o.op === 'pack' || o.op === 'tag' ? '' : names[o.branch % names.length]!;
          if (o.op === 'commit') {
            made.push(await fx.commit(repo, branch));
            live.add(branch);
          } else if (o.op === 'force-old' && made.length > 0) {
            await fx.forcePush(repo, branch, made[o.pick % made.length]!);
            live.add(branch);
          } else if (o.op === 'delete' && live.has(branch)) {
            // As a mirror's `fetch --prune` deletes it (a push may not delete HEAD's branch).
            await fx.git(['--git-dir', bare(repo), 'update-ref', '-d', `refs/heads/${branch}`]);
            live.delete(branch);
          } else if (o.op === 'tag' && made.length > 0) {
            await fx.git(['--git-dir', bare(repo), 'tag', '-f', '-a', '-m', 'tag', `t${o.pick % 3}`, made[o.pick % made.length]!]);
          } else if (o.op === 'pack') {
            await fx.git(['--git-dir', bare(repo), 'pack-refs', '--all']);
          }
          await resetCalls();
          const asked = [...POOL, ...NEVER];
          const { answers, reads } = await readAll(repo, asked);
          expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(await lsRemoteAnswers(repo, asked)));
          expect(reads).toBe(1);
          expect(await gitCalls()).toEqual([]);
        }
      },
      ),
      { numRuns: 30 },
    );
  }, 120_000);

  it('reads 20 repositories with 20 reads and no git process', async () => {
    const tips: Record<string, string> = {};
    for (let i = 0; i < 20; i++) tips[`fleet/f${i}`] = (await fx.commitMany(`fleet/f${i}`, ['main']))['main']!;
    await resetCalls();
    const reader = createGitRefReader({ readUrl: fx.fileUrl, gitBinary: recordingGit });
    const res = await reader.readMany(Object.keys(tips).map((repo) => ({ repo, branches: ['main', 'gone'] })));
    for (const [repo, sha] of Object.entries(tips)) {
      expect(res.get(repo)?.get('main')).toEqual({ kind: 'ok', sha });
      expect(res.get(repo)?.get('gone')?.kind).toBe('missing');
    }
    expect(reader.readsIssued()).toBe(20);
    expect(await gitCalls()).toEqual([]);
  });

  it('skips the peeled lines of packed annotated tags', async () => {
    const tips = await fx.commitMany('tags/r', ['main', 'v0.3']);
    await fx.git(['--git-dir', bare('tags/r'), 'tag', '-a', '-m', 'tag', 'v1', tips.main!]);
    await fx.git(['--git-dir', bare('tags/r'), 'pack-refs', '--all']);
    expect(await readFile(join(bare('tags/r'), 'packed-refs'), 'utf8')).toMatch(/\n\^[0-9a-f]{40}\n/);
    await resetCalls();
    const { answers } = await readAll('tags/r', ['main', 'v0.3', 'v1']);
    expect(Object.fromEntries(answers)).toEqual({ main: { kind: 'ok', sha: tips.main }, 'v0.3': { kind: 'ok', sha: tips['v0.3'] }, v1: { kind: 'missing', repo: 'tags/r', branch: 'v1' } });
    expect(await gitCalls()).toEqual([]);
  });

  it('lists a ref to an object the repository lacks, as git ls-remote does', async () => {
    await fx.commitMany('dangling/r', ['main']);
    await writeFile(join(bare('dangling/r'), 'refs', 'heads', 'dangling'), `${'1234567890'.repeat(4)}\n`);
    await resetCalls();
    const { answers } = await readAll('dangling/r', ['main', 'dangling']);
    expect(answers.get('dangling')).toEqual({ kind: 'ok', sha: '1234567890'.repeat(4) });
    expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(await lsRemoteAnswers('dangling/r', ['main', 'dangling'])));
    expect(await gitCalls()).toEqual([]);
  });

  it('does not trust an object id of the other width, loose or packed', async () => {
    const sha = (await fx.commitMany('width/loose', ['main']))['main']!;
    await writeFile(join(bare('width/loose'), 'refs', 'heads', 'main'), `${sha}${'0'.repeat(24)}\n`);
    await fx.commitMany('width/packed', ['main']);
    await fx.git(['--git-dir', bare('width/packed'), 'pack-refs', '--all']);
    const packed = join(bare('width/packed'), 'packed-refs');
    await writeFile(packed, (await readFile(packed, 'utf8')).replace(/^([0-9a-f]{40}) refs\/heads\/main$/m, `$1${'0'.repeat(24)} refs/heads/main`));
    await resetCalls();
    for (const repo of ['width/loose', 'width/packed']) {
      const { answers, reads } = await readAll(repo, ['main']);
      expect(answers.get('main')?.kind, repo).toBe('untrusted');
      expect(reads).toBe(1);
    }
    expect(await gitCalls()).toEqual([]);
  });
});

describe('falls back to git ls-remote for what it does not fully understand', () => {
  const addConfig = async (repo: string, text: string): Promise<void> => {
    const p = join(bare(repo), 'config');
    await writeFile(p, (await readFile(p, 'utf8')) + text);
  };
  const setVersion = async (repo: string, v: number): Promise<void> => {
    const p = join(bare(repo), 'config');
    await writeFile(p, (await readFile(p, 'utf8')).replace(/repositoryformatversion = \d+/, `repositoryformatversion = ${v}`));
  };

  // Each case changes a fresh repository with branches main and other; then the reader must
  // answer what git answers, having asked git (one ls-remote, no rev-parse unless noted).
  const cases: [string, (repo: string) => Promise<void>][] = [
    ['extensions.refstorage = reftable (git >= 2.45)', async (r) => { await setVersion(r, 1); await addConfig(r, '[extensions]\n\trefstorage = reftable\n'); }],
    ['a reftable/ directory', async (r) => { await mkdir(join(bare(r), 'reftable')); }],
    ['repository format version 2', (r) => setVersion(r, 2)],
    ['an unknown extension', async (r) => { await setVersion(r, 1); await addConfig(r, '[extensions]\n\tworktreeconfig = true\n'); }],
    ['transfer.hideRefs, which git honours', (r) => addConfig(r, '[transfer]\n\thiderefs = refs/heads/other\n')],
    ['uploadpack.hideRefs', (r) => addConfig(r, '[uploadpack]\n\thiderefs = refs/heads/main\n')],
    ['an include', (r) => addConfig(r, '[include]\n\tpath = elsewhere.config\n')],
    ['a quoted config value', (r) => addConfig(r, '[remote "origin"]\n\turl = "/srv/x"\n')],
    ['a symbolic loose ref', (r) => writeFile(join(bare(r), 'refs', 'heads', 'other'), 'ref: refs/heads/main\n')],
    ['a loose ref with CRLF', async (r) => {
      const p = join(bare(r), 'refs', 'heads', 'main');
      await writeFile(p, (await readFile(p, 'utf8')).replace('\n', '\r\n'));
    }],
    ['a loose ref with trailing data', async (r) => {
      const p = join(bare(r), 'refs', 'heads', 'main');
      await writeFile(p, (await readFile(p, 'utf8')).replace('\n', ' extra\n'));
    }],
    ['a loose ref larger than one read takes (4 KiB): the object id, then padding', async (r) => {
      const p = join(bare(r), 'refs', 'heads', 'main');
      await writeFile(p, `${(await readFile(p, 'utf8')).trim()}${' '.repeat(5000)}\n`);
    }],
    ['a loose ref of exactly one small read (4 KiB and one byte)', async (r) => {
      const p = join(bare(r), 'refs', 'heads', 'other');
      await writeFile(p, `${(await readFile(p, 'utf8')).trim()}${' '.repeat(4097 - 41)}\n`);
    }],
    ['a symlinked loose ref', async (r) => {
      await rm(join(bare(r), 'refs', 'heads', 'other'));
      await symlink(join(bare(r), 'refs', 'heads', 'main'), join(bare(r), 'refs', 'heads', 'other'));
    }],
    ['a symlinked directory under refs/heads', async (r) => {
      await mkdir(join(fx.root, `${r.replace('/', '_')}-dir`), { recursive: true });
      await cp(join(bare(r), 'refs', 'heads', 'main'), join(fx.root, `${r.replace('/', '_')}-dir`, 'x'));
      await symlink(join(fx.root, `${r.replace('/', '_')}-dir`), join(bare(r), 'refs', 'heads', 'dir'));
    }],
    ['a packed-refs line it cannot parse', async (r) => {
      await fx.git(['--git-dir', bare(r), 'pack-refs', '--all']);
      await writeFile(join(bare(r), 'packed-refs'), `${await readFile(join(bare(r), 'packed-refs'), 'utf8')}not a ref line\n`);
    }],
    ['a packed-refs with an unknown header', async (r) => {
      await fx.git(['--git-dir', bare(r), 'pack-refs', '--all']);
      const p = join(bare(r), 'packed-refs');
      await writeFile(p, (await readFile(p, 'utf8')).replace(/^# pack-refs with:/, '# something else:'));
    }],
    ['a packed-refs ref name that is not UTF-8', async (r) => {
      await fx.git(['--git-dir', bare(r), 'pack-refs', '--all']);
      const p = join(bare(r), 'packed-refs');
      const sha = /^([0-9a-f]{40}) refs\/heads\/main$/m.exec(await readFile(p, 'utf8'))![1]!;
      await writeFile(p, Buffer.concat([await readFile(p), Buffer.from(`${sha} refs/heads/u`), Buffer.from([0xff]), Buffer.from('x\n')]));
    }],
    ['a packed-refs that is a directory', async (r) => {
      await mkdir(join(bare(r), 'packed-refs'));
      await rm(join(bare(r), 'refs', 'heads', 'other'));
    }],
    ['a packed-refs file over the size cap', async (r) => {
      await fx.git(['--git-dir', bare(r), 'pack-refs', '--all']);
      await truncate(join(bare(r), 'packed-refs'), 65 * 1024 * 1024);
    }],
  ];

  let k = 0;
  it.each(cases)('%s', async (_name, change) => {
    const repo = `fallback/c${++k}`;
    await fx.commitMany(repo, ['main', 'other']);
    await change(repo);
    const asked = ['main', 'other', 'dir/x', 'gone', 'u\ufffdx'];
    const git = await fx.git(['ls-remote', '--heads', pathToFileURL(bare(repo)).href], { allowFail: true });
    await resetCalls();
    const { answers, reads } = await readAll(repo, asked);
    const calls = await gitCalls();
    if (git.code !== 0) {
      // git itself cannot read it (an extension or format this git does not know): its rev-parse
      // refuses it before ls-remote, as before this reader existed, and nothing is guessed.
      expect(calls.length).toBeGreaterThan(0);
      for (const b of asked) expect(answers.get(b)?.kind, b).toBe('unreachable');
      return;
    }
    expect(reads).toBe(1);
    expect(calls.filter((c) => c.includes('ls-remote'))).toHaveLength(1);
    expect(calls.filter((c) => !c.includes('ls-remote') && !c.includes('rev-parse --is-bare-repository'))).toEqual([]);
    expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(await lsRemoteAnswers(repo, asked)));
  });

  it('leaves bareness to git when the config does not say it plainly', async () => {
    const cfg = (repo: string): string => join(bare(repo), 'config');
    await fx.commitMany('bareness/unset', ['main']);
    await writeFile(cfg('bareness/unset'), (await readFile(cfg('bareness/unset'), 'utf8')).replace(/\tbare = true\n/, ''));
    await fx.commitMany('bareness/quoted', ['main']);
    await writeFile(cfg('bareness/quoted'), (await readFile(cfg('bareness/quoted'), 'utf8')).replace(/\tbare = true\n/, '\tbare = "true"\n'));
    const shown = async (): Promise<string[]> => (await gitCalls()).map((c) => c.replace(/(--git-dir|--) \S+/, '$1 X'));

    // core.bare unset: git (rev-parse with an explicit --git-dir) calls it not bare, as before.
    await resetCalls();
    const unset = await readAll('bareness/unset', ['main']);
    expect(unset.answers.get('main')?.kind).toBe('untrusted');
    expect(await shown()).toEqual(['--git-dir X rev-parse --is-bare-repository']);

    // A quoted value: git says bare, and the unparsed config leaves the refs to git as well.
    await resetCalls();
    const quoted = await readAll('bareness/quoted', ['main']);
    expect(quoted.answers.get('main')?.kind).toBe('ok');
    const calls = await shown();
    expect(calls[0]).toBe('--git-dir X rev-parse --is-bare-repository');
    expect(calls.slice(1).filter((c) => c.includes('ls-remote'))).toHaveLength(1);
  });
});

describe('a FIFO where a ref file is', () => {
  // open(2) of a FIFO blocks until a writer comes. In process that would block the whole tick
  // (no timer fires, the deadline included); git blocks on it too, but its read is killed at the
  // timeout. So the file is left to git, and the read ends as git's does: unreachable, in time.
  const fifo = (p: string): Promise<unknown> => promisify(execFile)('mkfifo', [p]);
  const cases: [string, (repo: string) => Promise<unknown>][] = [
    ['a loose ref', async (r) => { await rm(join(bare(r), 'refs', 'heads', 'other')); await fifo(join(bare(r), 'refs', 'heads', 'other')); }],
    ['packed-refs', (r) => fifo(join(bare(r), 'packed-refs'))],
    ['config', async (r) => { await rm(join(bare(r), 'config')); await fifo(join(bare(r), 'config')); }],
  ];
  let k = 0;
  it.each(cases)('%s: the read is left to git and ends at its timeout, never blocking the process', async (_name, change) => {
    const repo = `fifo/c${++k}`;
    await fx.commitMany(repo, ['main', 'other']);
    await change(repo);
    await resetCalls();
    const reader = createGitRefReader({ readUrl: fx.fileUrl, gitBinary: recordingGit, timeoutMs: 1500 });
    const answers = (await reader.readMany([{ repo, branches: ['main', 'other', 'gone'] }])).get(repo)!;
    for (const b of ['main', 'other', 'gone']) expect(answers.get(b)?.kind, b).toBe('unreachable');
    expect((await gitCalls()).length).toBeGreaterThan(0);
  });
});

describe('the safety refusals still hold without git', () => {
  it('refuses a repository whose config says core.bare = false, without running git', async () => {
    const wt = join(fx.root, 'nonbare');
    await fx.createWorkTree(wt, { branch: 'main' });
    await mkdir(join(fx.mirrorRoot, 'local'), { recursive: true });
    await cp(join(wt, '.git'), bare('local/copied'), { recursive: true });
    await resetCalls();
    const { answers, reads } = await readAll('local/copied', ['main']);
    const obs = answers.get('main');
    expect(obs?.kind).toBe('untrusted');
    expect(obs?.kind === 'untrusted' && obs.message).toMatch(/not a bare repository/);
    expect(reads).toBe(0);
    expect(await gitCalls()).toEqual([]);
  });

  it('still refuses work trees, linked worktrees and gitfiles before reading any ref file', async () => {
    await fx.createWorkTree(join(fx.mirrorRoot, 'local', 'worktree.git'), { branch: 'main' });
    await writeFile(join(fx.mirrorRoot, 'local', 'gitfile.git'), `gitdir: ${join(fx.root, 'nonbare', '.git')}\n`);
    await fx.commitMany('local/linked', ['main']);
    await writeFile(join(bare('local/linked'), 'commondir'), '..\n');
    const reasons: Record<string, RegExp> = { worktree: /work tree/, gitfile: /not a directory/, linked: /linked worktree/ };
    for (const [name, reason] of Object.entries(reasons)) {
      const { answers, reads } = await readAll(`local/${name}`, ['main']);
      const obs = answers.get('main');
      expect(obs?.kind, name).toBe('untrusted');
      expect(obs?.kind === 'untrusted' && obs.message, name).toMatch(reason);
      expect(reads).toBe(0);
    }
  });
});

describe('ref file parsers', () => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(64);

  it('reads a repository config as git writes it, and leaves anything else to git', () => {
    expect(parseRepoConfig('[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n')).toEqual({ kind: 'understood', bare: true, objectFormat: 'sha1' });
    expect(parseRepoConfig('[core]\n\trepositoryformatversion = 1\n\tbare = true\n[extensions]\n\tobjectformat = sha256\n')).toEqual({ kind: 'understood', bare: true, objectFormat: 'sha256' });
    expect(parseRepoConfig('[core]\n\tbare\n')).toMatchObject({ bare: true });
    expect(parseRepoConfig('[CORE]\n\tBare = yes\n\tbare = off\n')).toMatchObject({ bare: false });
    expect(parseRepoConfig('[core]\n\tfilemode = true\n')).toMatchObject({ kind: 'understood', bare: null });
    expect(parseRepoConfig('[remote "origin"]\n\tbare = false\n[core]\n\tbare = true\n')).toMatchObject({ bare: true });
    expect(parseRepoConfig('[remote "origin"]\n\turl = /srv/x\n\tfetch = +refs/*:refs/*\n\tmirror = true\n[core]\n\tbare = true\n')).toMatchObject({ kind: 'understood' });
    for (const text of [
      '[core]\n\tbare = maybe\n',
      '[core]\n\tbare = "true"\n',
      '[core]\n\tbare = true # comment\n',
      '[core]\n\tworktree = /x\n\tbare = true\n',
      '[core]\n\trepositoryformatversion = 2\n',
      '[core]\n\trepositoryformatversion = 0\n[extensions]\n\tobjectformat = sha256\n',
      '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = sha512\n',
      '[core]\n\trepositoryformatversion = 1\n[extensions]\n\trefstorage = reftable\n',
      '[core]\n\trepositoryformatversion = 1\n[extensions]\n\tpartialclone = origin\n',
      '[includeIf "gitdir:/x"]\n\tpath = y\n',
      '[core.sub]\n\tx = 1\n',
      'bare = true\n',
      '[core\n',
      '[uploadpack]\n\thideRefs = refs/heads/x\n',
    ]) {
      expect(parseRepoConfig(text).kind, JSON.stringify(text)).toBe('fallback');
    }
  });

  it('reads a loose ref only when it is exactly one object id of the repository width', () => {
    expect(parseLooseRef(`${a}\n`, 40)).toEqual({ kind: 'oid', oid: a });
    expect(parseLooseRef(`${b}\n`, 64)).toEqual({ kind: 'oid', oid: b });
    expect(parseLooseRef(`${b}\n`, 40)).toEqual({ kind: 'wrong-width', width: 64 });
    expect(parseLooseRef(`${a}\n`, 64)).toEqual({ kind: 'wrong-width', width: 40 });
    for (const t of [a, `${a}\r\n`, `${a} x\n`, `${a}\n\n`, 'ref: refs/heads/main\n', `${a.toUpperCase()}\n`, `${'a'.repeat(41)}\n`, '']) {
      expect(parseLooseRef(t, 40).kind, JSON.stringify(t)).toBe('unknown');
    }
  });

  it('round-trips any packed-refs file git could write, peeled lines skipped', () => {
    const refArb = fc.array(fc.stringMatching(/^[a-zA-Z0-9_ü@+#-]{1,8}$/), { minLength: 1, maxLength: 3 }).map((p) => `refs/heads/${p.join('/')}`);
    fc.assert(
      fc.property(
        fc.constantFrom(40, 64),
        fc.uniqueArray(fc.tuple(refArb, fc.nat(), fc.boolean()), { selector: ([r]) => r, maxLength: 20 }),
        fc.boolean(),
        (width, entries, header) => {
          const oid = (i: number): string => i.toString(16).padStart(width, '0');
          let text = header ? '# pack-refs with: peeled fully-peeled sorted \n' : '';
          for (const [ref, i, peeled] of entries) text += `${oid(i)} ${ref}\n${peeled ? `^${oid(i + 1)}\n` : ''}`;
          const parsed = parsePackedRefs(text, width);
          expect(parsed).toEqual({ kind: 'refs', refs: new Map(entries.map(([ref, i]) => [ref, oid(i)])) });
        },
      ),
    );
  });

  it('leaves a packed-refs file it cannot read fully to git', () => {
    for (const t of [
      `${a} refs/heads/x`,
      `# other header\n${a} refs/heads/x\n`,
      `^${a}\n`,
      `${a} refs/heads/x\n^${a}\n^${a}\n`,
      `${a} refs/heads/x\n${a} refs/heads/x\n`,
      `${a} refs/heads/a..b\n`,
      `${a}\trefs/heads/x\n`,
      `${a} refs/heads/x\r\n`,
      `${a} refs/heads/x\n# late comment\n`,
    ]) {
      expect(parsePackedRefs(t, 40).kind, JSON.stringify(t)).toBe('unknown');
    }
    expect(parsePackedRefs(`${b} refs/heads/x\n`, 40)).toEqual({ kind: 'wrong-width', line: 1, width: 64 });
  });
});
