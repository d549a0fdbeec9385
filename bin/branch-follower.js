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
if (major >= 24) {
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
