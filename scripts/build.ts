// `npm run build` (also run by `npm ci` as the `prepare` script, and by the image build): bundles
// the CLI from the TypeScript sources into tree-shaken ES modules in dist/: cli.js, the entry,
// and chunks of what the sources import lazily. The launcher (bin/branch-follower.js) runs it
// when it is current, and so do the image and its CronJob pods (when their clone of the source
// is the one the image was built from; see inputs below). Start-up is mostly loading modules
// (docs/performance.md): a few files instead of ~1300 saves resolving, reading and type-stripping
// each of them. The sources stay runnable as they are (`node src/cli.ts`).
//
//   node scripts/build.ts [--out DIR]
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { rolldown } from 'rolldown';

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

/** Bundles the entries into `<outDir>/<entry>.js` with the inputs listing; returns the CLI's file. */
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
  await writeFile(join(outDir, INPUTS_FILE), await inputsListing(ROOT));
  return join(outDir, 'cli.js');
};

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const file = await build(values.out ? resolve(values.out) : DIST);
  process.stderr.write(`built ${file}\n`);
}
