// The start-up snapshot (scripts/build.ts buildSnapshot, started by bin/branch-follower): it is
// built with the bundle, the launcher starts it only while it is current and the Node that built
// it is unchanged, and a process started from it is the CLI, with or without a JIT.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, SNAPSHOT_BLOB, SNAPSHOT_NODE, nodeFingerprint } from '../../scripts/build.ts';
import { startupSnapshotBlob } from '../../src/startup-snapshot.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const JS_LAUNCHER_RAN = 'the JavaScript launcher ran';
let root = '';

beforeAll(async () => {
  // A copy of the project with bin/ and package-lock.json of its own (the launcher finds the
  // project from its own real path), the sources linked, and dist/ built from them. Its
  // bin/branch-follower.js only says that it ran: whatever else answers is the snapshot.
  root = await mkdtemp(join(tmpdir(), 'bf-snapshot-'));
  await mkdir(join(root, 'bin'));
  await writeFile(join(root, 'bin', 'branch-follower'), await readFile(join(ROOT, 'bin', 'branch-follower')), { mode: 0o755 });
  await writeFile(join(root, 'bin', 'branch-follower.js'), `process.stderr.write(${JSON.stringify(JS_LAUNCHER_RAN + '\n')}); process.exit(3);\n`);
  for (const d of ['src', 'scripts', 'node_modules']) await symlink(join(ROOT, d), join(root, d));
  await writeFile(join(root, 'package.json'), await readFile(join(ROOT, 'package.json')));
  await writeFile(join(root, 'package-lock.json'), '{}');
  await utimes(join(root, 'package-lock.json'), 1_000, 1_000);
  await build(join(root, 'dist'));
}, 120_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const launch = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync('sh', [join(root, 'bin', 'branch-follower'), ...args], {
    encoding: 'utf8',
    cwd: tmpdir(),
    env: { ...process.env, NODE_OPTIONS: '', NODE_DISABLE_COMPILE_CACHE: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('the start-up snapshot', () => {
  it('is built beside the bundle, naming the Node that built it', async () => {
    const files = await readdir(join(root, 'dist'));
    expect(files).toEqual(expect.arrayContaining(['cli.js', SNAPSHOT_BLOB, SNAPSHOT_NODE, 'supervisor.js']));
    const blobSize = (await stat(join(root, 'dist', SNAPSHOT_BLOB))).size;
    expect(await readFile(join(root, 'dist', SNAPSHOT_NODE), 'utf8')).toBe(`${process.execPath}\n${nodeFingerprint(process.execPath)}\n${blobSize}\n`);
    // Nothing half-written is left beside it.
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('is what the launcher starts while it is current: the CLI, its flags and exit codes', () => {
    const v = launch(['--version']);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^branch-follower \d+\.\d+\.\d+\n$/);
    expect(v.code).toBe(0);
    // Words that are also Node's own flags reach the CLI, not Node.
    expect(launch(['--help']).stdout).toContain('Usage: branch-follower <verb>');
    const bad = launch(['no-such-verb']);
    expect(bad.stderr).toContain('unknown verb "no-such-verb"');
    expect(bad.stderr).not.toContain(JS_LAUNCHER_RAN);
    expect(bad.code).toBe(2);
  });

  it('runs without a JIT (the tick pods\' NODE_OPTIONS) and with one', () => {
    for (const options of ['--jitless --max-old-space-size=192 --max-semi-space-size=1', '--max-old-space-size=192']) {
      const r = launch(['status', '--help'], { NODE_OPTIONS: options });
      expect(r.stderr, options).toBe('');
      expect(r.stdout, options).toContain('Usage: branch-follower status');
    }
  });

  it('is passed over for bin/branch-follower.js when a source is newer, the Node that built it changed or is gone, or BRANCH_FOLLOWER_NO_SNAPSHOT=1', async () => {
    const fellBack = (r: { code: number | null; stderr: string }) => r.code === 3 && r.stderr.includes(JS_LAUNCHER_RAN);
    expect(fellBack(launch(['--version'], { BRANCH_FOLLOWER_NO_SNAPSHOT: '1' }))).toBe(true);

    const now = Date.now() / 1000;
    await utimes(join(root, 'package-lock.json'), now + 60, now + 60);
    expect(fellBack(launch(['--version']))).toBe(true);
    await utimes(join(root, 'package-lock.json'), 1_000, 1_000);
    expect(fellBack(launch(['--version']))).toBe(false);

    const recorded = await readFile(join(root, 'dist', SNAPSHOT_NODE), 'utf8');
    const [node, fingerprint, size] = recorded.split('\n');
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), `${node}\n${fingerprint}1\n${size}\n`);
    expect(fellBack(launch(['--version']))).toBe(true);
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), `${join(root, 'no-such-node')}\n${fingerprint}\n${size}\n`);
    expect(fellBack(launch(['--version']))).toBe(true);
    // A blob that is not the size the build recorded (a copy cut short) would crash Node: passed over.
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), `${node}\n${fingerprint}\n${Number(size) - 1}\n`);
    expect(fellBack(launch(['--version']))).toBe(true);
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), `${node}\n${fingerprint}\n`);
    expect(fellBack(launch(['--version']))).toBe(true);
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), '');
    expect(fellBack(launch(['--version']))).toBe(true);
    await writeFile(join(root, 'dist', SNAPSHOT_NODE), recorded);
    expect(fellBack(launch(['--version']))).toBe(false);
  });

  it('passes BRANCH_FOLLOWER_NODE_FLAGS to Node (the options NODE_OPTIONS refuses), from the snapshot and without it, and refuses a word that is not an option', async () => {
    for (const env of [{}, { BRANCH_FOLLOWER_NO_SNAPSHOT: '1' }]) {
      // An option whose effect can be seen: a CPU profile written where it says.
      const dir = await mkdtemp(join(tmpdir(), 'bf-flags-'));
      const r = launch(['--version'], { ...env, BRANCH_FOLLOWER_NODE_FLAGS: `--no-opt --no-maglev --cpu-prof --cpu-prof-dir=${dir}` });
      if ('BRANCH_FOLLOWER_NO_SNAPSHOT' in env) expect(r.stderr).toContain(JS_LAUNCHER_RAN);
      else expect(r.stdout).toMatch(/^branch-follower \d+/);
      expect((await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))).toHaveLength(1);
      await rm(dir, { recursive: true, force: true });
    }
    for (const flags of ['--no-opt /tmp/evil.js', '--no-opt --', '-e 1']) {
      const bad = launch(['--version'], { BRANCH_FOLLOWER_NODE_FLAGS: flags });
      expect(bad.code, flags).toBe(2);
      expect(bad.stderr).toContain('BRANCH_FOLLOWER_NODE_FLAGS holds Node options');
      expect(bad.stdout).toBe('');
    }
  });

  it('is found through a symlink to the launcher or to its directory (npm link, ~/bin)', async () => {
    const links = await mkdtemp(join(tmpdir(), 'bf-links-'));
    try {
      await symlink(join(root, 'bin', 'branch-follower'), join(links, 'branch-follower'));
      await symlink(join(root, 'bin'), join(links, 'bin'));
      for (const via of [join(links, 'branch-follower'), join(links, 'bin', 'branch-follower')]) {
        const r = spawnSync('sh', [via, '--version'], { encoding: 'utf8', cwd: tmpdir(), env: { ...process.env, NODE_OPTIONS: '' } });
        expect(r.stderr, via).toBe('');
        expect(r.stdout, via).toMatch(/^branch-follower \d+/);
      }
    } finally {
      await rm(links, { recursive: true, force: true });
    }
  });

  it('without a usable snapshot and without node on the PATH (a cron job\'s), runs bin/branch-follower.js with the Node that built it', () => {
    // With no snapshot wanted, the launcher needs nothing but the shell's own builtins.
    const r = spawnSync('/bin/sh', [join(root, 'bin', 'branch-follower'), '--version'], { encoding: 'utf8', env: { BRANCH_FOLLOWER_NO_SNAPSHOT: '1', PATH: '/nonexistent' } });
    expect(r.stderr).toContain(JS_LAUNCHER_RAN);
    expect(r.status).toBe(3);
  });

  it('finds files shipped beside it (the local supervisor) from its own path, not where the bundle was built', () => {
    expect(startupSnapshotBlob(['--jitless', '--snapshot-blob', '/app/dist/snapshot.blob'], '/x')).toBe('/app/dist/snapshot.blob');
    expect(startupSnapshotBlob(['--snapshot-blob=dist/snapshot.blob'], '/work/src')).toBe('/work/src/dist/snapshot.blob');
    expect(startupSnapshotBlob(['--jitless'], '/x')).toBeNull();
    expect(startupSnapshotBlob([], '/x')).toBeNull();
  });
});
