#!/usr/bin/env node
// The CLI is TypeScript that Node 24 runs directly (type stripping). This launcher finds a
// Node that can: the running one when new enough, else the project's own node@24 binary.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'src', 'cli.ts');
const [major] = process.versions.node.split('.').map(Number);
if (major >= 24) {
  // Before the CLI's modules load, so they all come from Node's compile cache after the first run.
  const { enableStartupCache } = await import(pathToFileURL(join(root, 'src', 'compile-cache.ts')).href);
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
