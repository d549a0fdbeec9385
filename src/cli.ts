// The CLI's entry point: `node src/cli.ts <verb> …` (the CronJobs run it so) and what
// bin/branch-follower.js imports. The verbs live in src/cli/verbs/, one module each.
import { z } from 'zod';
import { enableStartupCache } from './compile-cache.ts';
import { main } from './cli/main.ts';

export { main, type Io } from './cli/main.ts';

/**
 * Ctrl-C (and a TERM) ends a watching verb and `serve` cleanly: they stop and exit 0. Only
 * those catch them; any other verb is interrupted as usual.
 */
export const runFromProcess = async (): Promise<void> => {
  // zod compiles a fast path per object schema with new Function on its first parse: a process
  // that lives for one command pays the compile and barely uses it (and ticks run without a JIT).
  // Same results either way (zod's `jitless` option).
  z.config({ jitless: true });
  const abort = new AbortController();
  const stop = () => abort.abort();
  const argv = process.argv.slice(2);
  if (argv.includes('-w') || argv.includes('--watch') || argv[0] === 'serve') {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  try {
    process.exitCode = await main(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: abort.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
};

// Only when executed directly (node src/cli.ts ...), not when imported by tests.
if (import.meta.main) {
  // Modules imported from here on (the Kubernetes driver) come from the compile cache; the
  // launcher (bin/branch-follower.js) enables it before anything is loaded.
  enableStartupCache(process.env);
  await runFromProcess();
}
