// Which file the launcher runs: the bundle (dist/cli.js, built by `npm run build`, which `npm ci`
// runs) when it is at least as new as everything it is built from, else the TypeScript sources,
// so an edit to src/ is never hidden behind a stale bundle. Plain JavaScript: it runs before
// anything is known about the Node that runs it.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What the bundle is built from: the sources, the build script and the locked dependencies. */
const inputs = (root) => {
  const files = [join(root, 'package-lock.json'), join(root, 'scripts', 'build.ts')];
  for (const e of readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files.push(join(e.parentPath, e.name));
  }
  return files;
};

/** dist/cli.js when it is current, else null. */
export const currentBundle = (root) => {
  const bundle = join(root, 'dist', 'cli.js');
  try {
    const built = statSync(bundle).mtimeMs;
    for (const f of inputs(root)) {
      const s = statSync(f, { throwIfNoEntry: false });
      if (s && s.mtimeMs > built) return null;
    }
    return bundle;
  } catch {
    return null;
  }
};
