// `npm run build` (also run by `npm ci` as the `prepare` script, and by the image build): bundles
// the CLI from the TypeScript sources into tree-shaken ES modules in dist/: cli.js, the entry,
// and chunks of what the sources import lazily. The launcher (bin/branch-follower.js) runs it
// when it is current, and so do the image and its CronJob pods (when their clone of the source
// is the one the image was built from; see inputs below). Start-up is mostly loading modules
// (docs/performance.md): a few files instead of ~1300 saves resolving, reading and type-stripping
// each of them. The sources stay runnable as they are (`node src/cli.ts`).
//
// It also builds the start-up snapshot (dist/snapshot.blob, see buildSnapshot below), which
// bin/branch-follower starts instead when it is current and the Node that built it is there.
//
//   node scripts/build.ts [--out DIR]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { rolldown, type Plugin } from 'rolldown';

const ROOT = join(import.meta.dirname, '..');

/**
 * The entries: the CLI; what the launcher runs before loading it (plain JS once bundled, so the
 * launcher needs no type stripping); and the local dispatcher's supervisor, a process of its own
 * that the dispatcher finds beside itself (src/adapters/local/dispatcher.ts).
 */
export const ENTRIES = {
  cli: join(ROOT, 'src', 'cli.ts'),
  'compile-cache': join(ROOT, 'src', 'compile-cache.ts'),
  supervisor: join(ROOT, 'src', 'adapters', 'local', 'supervisor.ts'),
};
export const DIST = join(ROOT, 'dist');
/** The bundle's own sources, listed in dist/ as `sha256sum` prints them (see inputsListing). */
export const INPUTS_FILE = 'inputs.sha256';

/**
 * What the bundle was built from, as `sha256sum` lists files: `<hex>  <path>` per line, paths
 * relative to the root in C (byte) order. A CronJob pod's init container lists its clone the
 * same way with find, sort and sha256sum; only when the lists are equal does it use the image's
 * bundle (the packages come from the image either way, so the lockfile is not among them).
 */
export const inputsListing = async (root: string): Promise<string> => {
  const files = [join(root, 'scripts', 'build.ts')];
  for (const e of await readdir(join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files.push(join(e.parentPath, e.name));
  }
  const rel = files.map((f) => relative(root, f).split(sep).join('/'));
  rel.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const lines = await Promise.all(rel.map(async (f) => `${createHash('sha256').update(await readFile(join(root, f))).digest('hex')}  ${f}\n`));
  return lines.join('');
};

/** The start-up snapshot's entry, its bundle (one CommonJS file: what --build-snapshot runs), the blob, and the Node that built it. */
export const SNAPSHOT_ENTRY = join(ROOT, 'src', 'snapshot-entry.ts');
export const SNAPSHOT_BUNDLE = 'snapshot.cjs';
export const SNAPSHOT_BLOB = 'snapshot.blob';
export const SNAPSHOT_NODE = 'snapshot.node';

/**
 * Built-ins a snapshot cannot hold (their modules keep native handles; Node's list is in
 * lib/internal/main/mksnapshot.js) that the sources import by name: each name becomes a function
 * that takes the module when it is called, so none is loaded while the snapshot is built. (The
 * sources take node:http and node:https with process.getBuiltinModule when they use them.) A name
 * not listed here fails the build as a missing export.
 */
const LAZY_BUILTINS: Record<string, readonly string[]> = { 'node:child_process': ['spawn', 'execFile'] };
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  resolveId: (id) => (id in LAZY_BUILTINS ? `\0lazy:${id}` : null),
  load(id) {
    if (!id.startsWith('\0lazy:')) return null;
    const mod = id.slice('\0lazy:'.length);
    return (LAZY_BUILTINS[mod] ?? []).map((n) => `export function ${n}(...a) { return process.getBuiltinModule(${JSON.stringify(mod)}).${n}(...a); }`).join('\n');
  },
};

/**
 * What identifies the Node binary a blob was built by, as bin/branch-follower checks it with
 * `stat -L -c '%s %Y'`: a blob only starts in the very Node that built it (any other refuses it
 * and exits), so the launcher starts that binary, and only while it is unchanged.
 */
export const nodeFingerprint = (execPath: string): string => {
  const st = statSync(execPath);
  return `${st.size} ${Math.floor(st.mtimeMs / 1000)}`;
};

/** A snapshot that could not be built: what `node --build-snapshot` said. */
export class SnapshotBuildError extends Error {
  override name = 'SnapshotBuildError';
}

/**
 * The start-up snapshot (https://nodejs.org/api/cli.html#--build-snapshot): src/snapshot-entry.ts
 * and everything it imports, bundled into one CommonJS file and run once by
 * `node --build-snapshot`, which keeps the heap it leaves in `<outDir>/snapshot.blob`. Beside it,
 * snapshot.node names the Node that built it (path, then fingerprint) and the blob's size, and is
 * written last: the launcher starts only a blob it describes. Built by this process's
 * Node without NODE_OPTIONS, so the blob does not depend on the builder's environment.
 */
export const buildSnapshot = async (outDir: string): Promise<string> => {
  const bundle = await rolldown({ input: SNAPSHOT_ENTRY, platform: 'node', logLevel: 'warn', plugins: [lazyBuiltins] });
  try {
    await bundle.write({ file: join(outDir, SNAPSHOT_BUNDLE), format: 'cjs', codeSplitting: false, sourcemap: false });
  } finally {
    await bundle.close();
  }
  const blob = join(outDir, SNAPSHOT_BLOB);
  const partial = `${blob}.partial`;
  // The launcher takes the blob only as snapshot.node describes it, so a build stopped halfway
  // (or one that fails) leaves none to take: a partial blob crashes Node instead of starting it.
  await rm(join(outDir, SNAPSHOT_NODE), { force: true });
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const r = spawnSync(process.execPath, ['--snapshot-blob', partial, '--build-snapshot', join(outDir, SNAPSHOT_BUNDLE)], { cwd: outDir, env, encoding: 'utf8' });
  // A warning is a built-in that "may not work" after deserialization: as much a failure as an exit code.
  if (r.status !== 0 || /Warning/.test(r.stderr)) {
    await rm(partial, { force: true });
    throw new SnapshotBuildError(`node --build-snapshot ${SNAPSHOT_BUNDLE} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr.slice(0, 4000)}`);
  }
  await rename(partial, blob);
  await writeFile(join(outDir, SNAPSHOT_NODE), `${process.execPath}\n${nodeFingerprint(process.execPath)}\n${statSync(blob).size}\n`);
  return blob;
};

/** Bundles the entries into `<outDir>/<entry>.js` with the start-up snapshot and the inputs listing; returns the CLI's file. */
export const build = async (outDir: string = DIST): Promise<string> => {
  const bundle = await rolldown({
    input: ENTRIES,
    platform: 'node',
    logLevel: 'warn',
    onLog(level, log, handler) {
      // completion.ts imports the verb table lazily to break an import cycle, not to split it off.
      if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
      handler(level, log);
    },
  });
  try {
    await rm(outDir, { recursive: true, force: true });
    // Node's own modules stay imports; every package is bundled.
    await bundle.write({
      dir: outDir,
      format: 'esm',
      entryFileNames: '[name].js',
      // What the sources import lazily (the Kubernetes driver, the verbs) stays in chunks of its
      // own beside cli.js, loaded by the import() that asks for them: one file holding everything
      // made `--version` parse all of it (145 MiB peak RSS against 63, when the driver still
      // loaded @kubernetes/client-node).
      chunkFileNames: '[name]-[hash].js',
      sourcemap: false,
    });
  } finally {
    await bundle.close();
  }
  await buildSnapshot(outDir);
  // Last: bin/branch-follower takes the snapshot only when it is newer than every input.
  await writeFile(join(outDir, INPUTS_FILE), await inputsListing(ROOT));
  return join(outDir, 'cli.js');
};

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const file = await build(values.out ? resolve(values.out) : DIST);
  process.stderr.write(`built ${file}\n`);
}
