// `node bench/run-files.ts [--runs 30] [--lines 400000]`: the local driver's run files on disk.
// The case: failing runs whose deploy prints 2.7 MB of stderr each (seq 1 400000 >&2).
// Prints the bytes the state directory holds after the runs, and after the retention prunes them.
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalDispatcher } from '../src/adapters/local/dispatcher.ts';
import { createLocalHousekeeper, DAY_MS } from '../src/adapters/local/housekeeping.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, lines: { type: 'string' } } });
const runs = Number(values.runs ?? 30);
const lines = Number(values.lines ?? 400_000);

const bytesUnder = async (dir: string): Promise<{ bytes: number; files: number }> => {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    bytes += (await stat(join(e.parentPath, e.name))).size;
    files++;
  }
  return { bytes, files };
};

const root = await mkdtemp(join(tmpdir(), 'bf-bench-runs-'));
try {
  const stateDir = join(root, 'state');
  const cwd = join(root, 'work');
  await mkdir(cwd);
  const d = createLocalDispatcher({ stateDir, cwd });
  const sha = 'c0ffee'.padEnd(40, '0');
  const names = Array.from({ length: runs }, (_, i) => `bf-bench-${i + 1}`);
  for (const name of names) {
    await d.dispatch({ followerId: 'bench', sha, episode: 1, attempt: 1, name, argv: ['sh', '-c', `seq 1 ${lines} >&2; exit 1`], repo: 'o/r', branch: 'main', budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } });
  }
  for (;;) {
    const st = await d.statuses(names);
    if ([...st.values()].every((r) => r.result === 'FAILURE' || r.result === 'SUCCESS')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  let printed = 0;
  for (let i = 1; i <= lines; i++) printed += String(i).length + 1;
  const after = await bytesUnder(stateDir);
  const swept = await createLocalHousekeeper({ stateDir, retentionDays: 7 }).sweep(Date.now() + 8 * DAY_MS);
  const pruned = await bytesUnder(stateDir);
  console.log(
    JSON.stringify(
      {
        runs,
        stderrBytesPerRun: printed,
        stderrBytesTotal: printed * runs,
        stateDirBytesAfterRuns: after.bytes,
        perRunBytes: Math.round(after.bytes / runs),
        prunedRuns: swept.pruned.length,
        stateDirBytesAfterRetention: pruned.bytes,
        perTombstoneBytes: Math.round(pruned.bytes / runs),
      },
      null,
      2,
    ),
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
