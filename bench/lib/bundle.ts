// An experiment, not how the project ships: the CLI bundled into a few ES modules by rolldown
// (present in node_modules as a dependency of vitest), to measure what bundling would save at
// start-up. Skipped when rolldown is not installed.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './proc.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const ROLLDOWN = join(ROOT, 'node_modules', '.bin', 'rolldown');

export type Bundle = { entry: string; cleanup(): Promise<void> } | { error: string };

export const bundleCli = async (): Promise<Bundle> => {
  if (!existsSync(ROLLDOWN)) return { error: 'rolldown is not installed' };
  const dir = await mkdtemp(join(tmpdir(), 'bf-bench-bundle-'));
  const r = await run(ROLLDOWN, [join(ROOT, 'src', 'cli.ts'), '--platform', 'node', '--format', 'esm', '--dir', dir], { cwd: ROOT, timeoutMs: 180_000 });
  const entry = join(dir, 'cli.js');
  if (r.code !== 0 || !existsSync(entry)) {
    await rm(dir, { recursive: true, force: true });
    return { error: `rolldown failed (${r.code}): ${(r.stderr || r.stdout).slice(0, 500)}` };
  }
  return { entry, cleanup: () => rm(dir, { recursive: true, force: true }) };
};
