// The start-up snapshot's entry (scripts/build.ts builds it into dist/snapshot.blob with
// `node --build-snapshot`; bin/branch-follower starts it with `node --snapshot-blob`). Building
// runs this once: every module below is loaded and evaluated then (zod's schemas built, js-yaml's
// tables made), and V8 keeps the resulting heap. A process started from the blob begins with all
// of that in place and runs only the deserialize-main function: no module is resolved, read,
// compiled or evaluated on the way to the verb (docs/performance.md, change 19).
//
// What may not be in a snapshot: node:http, node:https and node:child_process hold native
// handles (Node lists the built-ins a snapshot supports in lib/internal/main/mksnapshot.js).
// The sources take those when they are used, never when a module loads (scripts/build.ts turns
// the child_process imports into calls made when they run).
// First: zod's configuration must be in place before any schema is made (see zod-config.ts).
import './cli/zod-config.ts';
import { startupSnapshot } from 'node:v8';
import { runFromProcess } from './cli/process.ts';
// Loaded lazily by the verbs (each verb imports its loop when it runs, so a script start parses
// only what it uses); here they are all evaluated once, into the snapshot. serve's modules are
// left lazy: serve is long-lived, and prom-client would grow every start's heap.
import './loops/closer.ts';
import './loops/observer.ts';
import './loops/report-line.ts';
import './loops/tick-record.ts';
import './loops/compose.ts';
import './adapters/kubernetes/driver.ts';
import './loops/status.ts';
import './loops/run-once.ts';
import './loops/plan.ts';
import './loops/inspect.ts';
import './loops/retry.ts';
import './loops/arming.ts';

if (!startupSnapshot.isBuildingSnapshot()) {
  throw new Error('src/snapshot-entry.ts is the start-up snapshot\'s entry: run it with node --build-snapshot (scripts/build.ts)');
}
// argv: [node, ...words]; a snapshot has no script path.
startupSnapshot.setDeserializeMainFunction(() => void runFromProcess(process.argv.slice(1)));
