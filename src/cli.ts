// The CLI's entry point: `node src/cli.ts <verb> …` and what bin/branch-follower.js imports (the
// CronJobs run bin/branch-follower, which starts the start-up snapshot of src/snapshot-entry.ts when it
// is current). The verbs live in src/cli/verbs/, one module each.
// First: zod's configuration must be in place before any schema is made (see zod-config.ts).
import './cli/zod-config.ts';
import { enableStartupCache } from './compile-cache.ts';
import { runFromProcess } from './cli/process.ts';

export { main, type Io } from './cli/main.ts';
export { runFromProcess } from './cli/process.ts';

// Only when executed directly (node src/cli.ts ...), not when imported by tests.
if (import.meta.main) {
  // Modules imported from here on (the Kubernetes driver) come from the compile cache; the
  // launcher (bin/branch-follower.js) enables it before anything is loaded.
  enableStartupCache(process.env);
  await runFromProcess();
}
