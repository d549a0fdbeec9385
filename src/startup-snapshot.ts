import { dirname, resolve } from 'node:path';

/**
 * The start-up snapshot this process was started from (`node --snapshot-blob <file>`, as
 * bin/branch-follower starts the CLI: see scripts/build.ts), as an absolute path; null when it
 * runs a script. In a snapshot `import.meta.url` is where the bundle was built, not where it is
 * now (the CronJob pods copy the image's dist/ into their clone), so files shipped beside the
 * bundle are found beside the blob.
 */
export const startupSnapshotBlob = (execArgv: readonly string[] = process.execArgv, cwd: string = process.cwd()): string | null => {
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i] ?? '';
    if (a.startsWith('--snapshot-blob=')) return resolve(cwd, a.slice('--snapshot-blob='.length));
    if (a === '--snapshot-blob' && execArgv[i + 1] !== undefined) return resolve(cwd, execArgv[i + 1] ?? '');
  }
  return null;
};

/** The directory of the bundle this process runs from when it started from a snapshot, else null. */
export const snapshotDistDir = (): string | null => {
  const blob = startupSnapshotBlob();
  return blob === null ? null : dirname(blob);
};
