// The demo prints every command it runs, so a reader can repeat it: the closer's and the
// observer's ticks included, each through the CLI as printed.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERBS } from '../../src/cli/verbs/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('npm run demo', () => {
  it('runs every CLI command through the one helper that prints it', async () => {
    const src = await readFile(join(ROOT, 'scripts', 'demo.ts'), 'utf8');
    // `main(` is called in exactly two places: the printing `cli` and the printing `quietly`.
    expect(src.match(/\bmain\(/g)).toHaveLength(2);
  });

  it('prints each command, closer ticks included, and each printed command names a real verb', async () => {
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [join(ROOT, 'scripts', 'demo.ts')], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      ),
    );
    expect(out.code, out.stderr).toBe(0);
    const commands = out.stdout.split('\n').filter((l) => l.startsWith('$ branch-follower '));
    expect(commands).toContain('$ branch-follower tick closer');
    expect(commands.filter((c) => c === '$ branch-follower tick closer').length).toBeGreaterThan(1);
    const verbs = new Set(VERBS.map((v) => v.name));
    for (const c of commands) expect(verbs.has(c.split(' ')[2] ?? ''), c).toBe(true);
    expect(out.stdout).toMatch(/^\$ cd \/.*branch-follower-demo-/m);
    expect(out.stdout).toMatch(/^\$ cd work\/pikasTech\/HWLAB && .*git push -q origin HEAD:v0\.3/m);
  }, 300_000);
});
