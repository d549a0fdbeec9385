import './zod-config.ts';
import { main } from './main.ts';

/**
 * Runs the CLI in this process: `argv` are the words after the program (`process.argv.slice(2)`
 * under `node cli.js`, `slice(1)` in the start-up snapshot, where there is no script path), and
 * the exit code goes to `process.exitCode`.
 *
 * Ctrl-C (and a TERM) ends a watching verb and `serve` cleanly: they stop and exit 0. Only
 * those catch them; any other verb is interrupted as usual.
 */
export const runFromProcess = async (argv: readonly string[] = process.argv.slice(2)): Promise<void> => {
  const abort = new AbortController();
  const stop = () => abort.abort();
  if (argv.includes('-w') || argv.includes('--watch') || argv[0] === 'serve') {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  try {
    process.exitCode = await main([...argv], { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: abort.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
};
