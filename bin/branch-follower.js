#!/usr/bin/env node
// The CLI is TypeScript that Node 24 runs directly (type stripping), bundled by `npm run build`
// (which `npm ci` runs) into dist/cli.js. This launcher runs the bundle when it is current (see
// bundle.js), else the sources, in a Node that can: the running one when new enough, else the
// project's own node@24 binary.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { currentBundle } from './bundle.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = currentBundle(root);
const cli = bundle ?? join(root, 'src', 'cli.ts');
const [major] = process.versions.node.split('.').map(Number);
// Node strips the sources' types with WebAssembly, which --jitless (the tick pods' NODE_OPTIONS,
// for memory) turns off: a pod whose clone differs from its image's bundle runs the sources, so
// it runs them in a child without that flag.
const jitless = typeof WebAssembly === 'undefined';
if (major >= 24 && !bundle && jitless) {
  const env = { ...process.env, NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o !== '' && o !== '--jitless').join(' ') };
  const r = spawnSync(process.execPath, [...process.execArgv.filter((o) => o !== '--jitless'), fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
} else if (major >= 24) {
  // Before the CLI's modules load, so they all come from Node's compile cache after the first run.
  const cache = bundle ? join(root, 'dist', 'compile-cache.js') : join(root, 'src', 'compile-cache.ts');
  const { enableStartupCache } = await import(pathToFileURL(cache).href);
  enableStartupCache(process.env);
  const { runFromProcess } = await import(pathToFileURL(cli).href);
  await runFromProcess();
} else {
  const local = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(local)) {
    process.stderr.write(`branch-follower needs Node.js 24 or newer (found ${process.version}); run npm ci in ${root}\n`);
    process.exit(2);
  }
  const r = spawnSync(local, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
