// Branch names: the core's rules against the real `git check-ref-format --branch`, name by name.
import { spawn } from 'node:child_process';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBranchName } from '../../src/core/branch-name.ts';
import { BranchName } from '../../src/core/primitives.ts';
import { branchCandidateArb } from '../support/arbitraries.ts';
import { fixtureGitEnv } from '../support/git-fixtures.ts';

let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'bf-refname-')));
  // Outside any repository, as the follower reads names: no `@{-1}` shorthand is expanded.
  env = { ...fixtureGitEnv(dir), GIT_CEILING_DIRECTORIES: dirname(dir) };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What the real git says of a name. */
const gitAccepts = (name: string): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const child = spawn('git', ['check-ref-format', '--branch', name], { cwd: dir, env, stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('close', (code) => resolve(code === 0));
  });

describe('branch names: exactly what git check-ref-format --branch accepts', () => {
  it.each([
    'release/ünï',
    'feat@x_y.z',
    'a+b#c',
    '@',
    'x@y',
    'a/b.c/d-e',
    'ключ/中文😀',
    'no\u00a0break',
    `r/${'x'.repeat(300)}`,
    'v0.3',
  ])('accepts %j', async (name) => {
    expect(checkBranchName(name)).toEqual({ ok: true });
    expect(BranchName.safeParse(name).success).toBe(true);
    expect(await gitAccepts(name)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['-x', /start with "-"/],
    ['HEAD', /HEAD/],
    ['a b', /a space/],
    ['a\tb', /U\+0009/],
    ['a\u007fb', /U\+007F/],
    ['a~1', /"~"/],
    ['a^', /"\^"/],
    ['a:b', /":"/],
    ['a?', /"\?"/],
    ['a*', /"\*"/],
    ['a[b', /"\["/],
    ['a\\b', /"\\"/],
    ['a..b', /"\.\."/],
    ['a@{1}', /"@\{"/],
    ['/a', /empty component/],
    ['a/', /empty component/],
    ['a//b', /empty component/],
    ['.a', /start with "\."/],
    ['a/.b', /start with "\."/],
    ['a.lock', /end with "\.lock"/],
    ['a.lock/b', /end with "\.lock"/],
    ['a.', /end with "\."/],
  ])('rejects %j, naming the rule', async (name, rule) => {
    const r = checkBranchName(name);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.rule).toMatch(rule);
    expect(await gitAccepts(name)).toBe(false);
    const parsed = BranchName.safeParse(name);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/^is not a valid git branch name: /);
  });

  it('rejects what no argv can carry: NUL and lone surrogates', () => {
    expect(checkBranchName('a\u0000b')).toMatchObject({ ok: false, rule: expect.stringMatching(/U\+0000/) });
    expect(checkBranchName('a\ud800b')).toMatchObject({ ok: false, rule: expect.stringMatching(/Unicode/) });
  });

  it('property: agrees with the real git on generated names (valid and not, unicode, long)', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(branchCandidateArb, async (name) => {
        const mine = checkBranchName(name).ok;
        expect(mine, JSON.stringify(name)).toBe(await gitAccepts(name));
        if (mine) accepted++;
      }),
      { numRuns: 400 },
    );
    // The generator reaches both sides of the rules.
    expect(accepted).toBeGreaterThan(20);
    expect(accepted).toBeLessThan(380);
  });
});
