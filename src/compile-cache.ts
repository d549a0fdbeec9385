import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Start-up is mostly loading modules: stripping the types of our own and compiling them with
 * zod's and yaml's (~240 modules from the sources, a few chunks once bundled). Node's on-disk
 * compile cache lets every run after the first skip that work (see docs/performance.md).
 *
 * Per user, not the shared temporary directory Node defaults to, so no file another user could
 * write is ever loaded as code. NODE_COMPILE_CACHE picks another directory,
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off, and a directory that cannot be written (a
 * read-only pod) leaves it off: it only ever saves time, never changes behaviour.
 */
export const enableStartupCache = (env: NodeJS.ProcessEnv): void => {
  try {
    const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
    enableCompileCache(env.NODE_COMPILE_CACHE ? undefined : join(base, 'branch-follower', 'node-compile-cache'));
  } catch {
    // An optimisation only.
  }
};
