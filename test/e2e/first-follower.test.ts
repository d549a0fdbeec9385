// docs/first-follower.md is run as written: its `sh` blocks, in order, in a fresh home directory,
// with the CLI on PATH through the launcher's absolute path (as the page's install step says),
// on real git. The page's cron lines and examples use the CLI by name, never a bare npx.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { markdownBlocks } from '../support/markdown-blocks.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docs/first-follower.md', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('runs as written: a local follower deploys the branch head', async () => {
    const md = await readFile(join(ROOT, 'docs', 'first-follower.md'), 'utf8');
    const script = markdownBlocks(md, 'sh').join('\n');
    expect(script).toContain('branch-follower run-once');
    const home = await mkdtemp(join(tmpdir(), 'bf-first-'));
    dirs.push(home);
    await mkdir(join(home, 'bin'));
    await symlink(join(ROOT, 'bin', 'branch-follower'), join(home, 'bin', 'branch-follower'));
    const r = await new Promise<{ code: number; out: string }>((done) =>
      execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: home, env: { PATH: `${join(home, 'bin')}:${process.env.PATH ?? ''}`, HOME: home, USER: 'newcomer', NO_COLOR: '1' }, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
      ),
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/webapp-main\s+Succeeded\s+dispatched/);
    expect(await readdir(join(home, 'bf-first', 'state'))).toContain('arming.json');
  });

  it('the docs and the README never advise a bare npx branch-follower, and docs/ links stay inside the repository', async () => {
    const pages = ['README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    for (const p of pages) {
      const md = await readFile(join(ROOT, p), 'utf8');
      // A warning may name `npx branch-follower`; a command line or an inline command may not.
      expect(md, p).not.toMatch(/^\s*npx branch-follower|`npx branch-follower [a-z<-]/m);
      expect(md, p).not.toMatch(/steering folder|\/work\/shared/);
      for (const m of md.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        expect(resolve(ROOT, p, '..', target).startsWith(`${ROOT}/`), `${p} links ${target}`).toBe(true);
      }
    }
  });
});
