// The bundled build (scripts/build.ts): what it produces runs, says what it was built from, and
// the launcher never runs a bundle older than the sources.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { currentBundle } from '../../bin/bundle.js';
import { build, INPUTS_FILE, inputsListing } from '../../scripts/build.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const temps: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'bf-bundle-'));
  temps.push(d);
  return d;
};
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

const cli = (entry: string, args: string[], cwd: string): string =>
  execFileSync(process.execPath, [entry, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' } });

describe('the bundle', () => {
  it('is an entry and lazily loaded chunks that run without the sources, and lists the sources it was built from', async () => {
    const out = join(await tempDir(), 'dist');
    const entry = await build(out);
    expect(entry).toBe(join(out, 'cli.js'));
    const files = await readdir(out);
    expect(files).toContain('compile-cache.js');
    // The local dispatcher's supervisor, which it starts from beside itself.
    expect(files).toContain('supervisor.js');
    // The Kubernetes driver sits in chunks of its own, not in the entry every verb loads; and
    // @kubernetes/client-node (its generated API, undici) is in none: the driver speaks REST itself.
    const entryText = await readFile(entry, 'utf8');
    expect(entryText).not.toContain('PartialObjectMetadataList');
    const chunks = await Promise.all(files.filter((f) => f.endsWith('.js')).map((f) => readFile(join(out, f), 'utf8')));
    expect(chunks.some((c) => c.includes('PartialObjectMetadataList'))).toBe(true);
    expect(chunks.some((c) => c.includes('CoreV1ApiRequestFactory') || c.includes('llhttp'))).toBe(false);

    // It runs on its own: copied where there is no src/ and no node_modules.
    const alone = await tempDir();
    for (const f of files) await writeFile(join(alone, f), await readFile(join(out, f)));
    await writeFile(join(alone, 'package.json'), '{"type":"module"}\n');
    expect(cli(join(alone, 'cli.js'), ['--version'], alone)).toMatch(/^branch-follower \d+\.\d+\.\d+\n$/);
    expect(cli(join(alone, 'cli.js'), ['--help'], alone)).toContain('Usage: branch-follower <verb>');
    // The supervisor runs on its own too (it refuses a call without its run directory).
    const sup = spawnSync(process.execPath, [join(alone, 'supervisor.js')], { encoding: 'utf8' });
    expect(sup.status).toBe(2);
    expect(sup.stderr).toContain('usage: supervisor');

    expect(await readFile(join(out, INPUTS_FILE), 'utf8')).toBe(await inputsListing(ROOT));
  });

  it('lists its inputs as sha256sum does, so a pod can compare its clone with a shell', async () => {
    const listing = await inputsListing(ROOT);
    const byShell = execFileSync('sh', ['-c', 'find src scripts/build.ts -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum'], { cwd: ROOT, encoding: 'utf8' });
    expect(listing).toBe(byShell);
    expect(listing).toContain('  src/cli.ts\n');
  });

  it('dist/, when installed (npm ci builds it), was built from these sources: run npm run build after editing them', async () => {
    const listed = join(ROOT, 'dist', INPUTS_FILE);
    if (!existsSync(listed)) return;
    expect(await readFile(listed, 'utf8'), 'dist/ is stale: npm run build').toBe(await inputsListing(ROOT));
  });
});

describe('the launcher (bin/bundle.js)', () => {
  const project = async (): Promise<string> => {
    const root = await tempDir();
    await mkdir(join(root, 'src', 'cli'), { recursive: true });
    await mkdir(join(root, 'scripts'));
    await writeFile(join(root, 'src', 'cli.ts'), '');
    await writeFile(join(root, 'src', 'cli', 'main.ts'), '');
    await writeFile(join(root, 'scripts', 'build.ts'), '');
    await writeFile(join(root, 'package-lock.json'), '{}');
    return root;
  };
  const at = (root: string, file: string, seconds: number) => utimes(join(root, file), seconds, seconds);

  it('runs the sources when there is no bundle', async () => {
    expect(currentBundle(await project())).toBeNull();
  });

  it('runs the bundle only while no source, build script or lockfile is newer', async () => {
    const root = await project();
    await mkdir(join(root, 'dist'));
    await writeFile(join(root, 'dist', 'cli.js'), '');
    for (const f of ['src/cli.ts', 'src/cli/main.ts', 'scripts/build.ts', 'package-lock.json']) await at(root, f, 1_000);
    await at(root, 'dist/cli.js', 2_000);
    expect(currentBundle(root)).toBe(join(root, 'dist', 'cli.js'));
    for (const f of ['src/cli/main.ts', 'scripts/build.ts', 'package-lock.json']) {
      await at(root, f, 3_000);
      expect(currentBundle(root), f).toBeNull();
      await at(root, f, 1_000);
    }
    expect(currentBundle(root)).toBe(join(root, 'dist', 'cli.js'));
  });
});

describe('the launcher under --jitless (the tick pods run without a JIT)', () => {
  it('runs the sources when the bundle is stale, though type stripping needs WebAssembly, which --jitless turns off', async () => {
    // A copy of the project whose bundle is older than its sources, as in a pod whose clone
    // moved past its image.
    const root = await tempDir();
    // bin/ copied (the launcher finds the project from its own real path); the rest linked.
    await mkdir(join(root, 'bin'));
    for (const f of await readdir(join(ROOT, 'bin'))) await writeFile(join(root, 'bin', f), await readFile(join(ROOT, 'bin', f)));
    for (const d of ['src', 'scripts', 'node_modules']) await symlink(join(ROOT, d), join(root, d));
    await writeFile(join(root, 'package.json'), await readFile(join(ROOT, 'package.json')));
    await writeFile(join(root, 'package-lock.json'), '{}');
    await mkdir(join(root, 'dist'));
    await writeFile(join(root, 'dist', 'cli.js'), 'throw new Error("a stale bundle ran")\n');
    await utimes(join(root, 'dist', 'cli.js'), 1_000, 1_000);
    const r = spawnSync(process.execPath, [join(root, 'bin', 'branch-follower.js'), '--version'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '--jitless --max-old-space-size=192' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^branch-follower \d+\.\d+\.\d+\n$/);
    expect(r.status).toBe(0);
  });
});
