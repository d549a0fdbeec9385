import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Housekeeper, SweepReport } from '../ports.ts';
import { createFileExclusive, errCode, isTempName, statOrNull } from './atomic-file.ts';
import { removeLog } from './capped-log.ts';
import { runStatus } from './dispatcher.ts';
import { processMatches } from './processes.ts';
import { ExitRecord, RunRecord, okOrNull, readJsonFile, runFiles, type RunFiles } from './run-files.ts';

/**
 * Keeps the local state directory bounded over time:
 *
 * - a finished run older than the retention is reduced to a tombstone: its directory stays with
 *   run.json, exit.json and pruned.json (well under 2 KiB), and its log and other files go. The
 *   directory must stay: a run's name is claimed by mkdir, and a later dispatch of the same
 *   name has to find it and adopt it, never start the deploy again;
 * - temp files (`.name.<pid>.<hex>.tmp`) left by a tick killed mid-write are removed once their
 *   writer is dead, or in any case an hour on (a pid may be reused).
 *
 * A run is "finished" when exit.json says so, or when it has no exit.json, started before the
 * retention, and neither its supervisor nor its command is alive.
 */

export const DAY_MS = 24 * 3600 * 1000;
/** A temp file lives for milliseconds; younger ones may belong to a write in progress. */
const TEMP_GRACE_MS = 60_000;
const TEMP_MAX_MS = 3600_000;

const listOrEmpty = async (dir: string): Promise<string[]> => {
  try {
    return await readdir(dir);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return [];
    throw e;
  }
};

/** The pid a temp file's name records (see atomic-file.ts tempPath), or null. */
const tempPid = (name: string): number | null => {
  const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  return m ? Number(m[1]) : null;
};

/** Only the run directory's own files are kept in a tombstone. */
const TOMBSTONE_FILES = new Set(['run.json', 'exit.json', 'pruned.json']);

const finishedAt = async (runsDir: string, f: RunFiles, now: number): Promise<number | null> => {
  const exit = okOrNull(await readJsonFile(f.exit, ExitRecord));
  if (exit) return Date.parse(exit.endedAt);
  // No exit status: finished only when the dispatcher itself would call it ended (a supervisor
  // or command still alive keeps the run whole).
  const status = await runStatus(runsDir, path.basename(f.dir), () => now);
  if (status.result !== 'FAILURE') return null;
  const run = okOrNull(await readJsonFile(f.run, RunRecord));
  if (run) return Date.parse(run.startedAt);
  const st = await statOrNull(f.dir);
  return st ? st.mtimeMs : null;
};

const removeTemps = async (dir: string, now: number): Promise<number> => {
  let removed = 0;
  for (const name of await listOrEmpty(dir)) {
    if (!isTempName(name)) continue;
    const file = path.join(dir, name);
    const st = await statOrNull(file);
    if (!st || !st.isFile()) continue;
    const age = now - st.mtimeMs;
    const pid = tempPid(name);
    const writerGone = pid === null || pid === process.pid ? false : !(await processMatches(pid, () => true));
    if (age > TEMP_MAX_MS || (age > TEMP_GRACE_MS && writerGone)) {
      await rm(file, { force: true });
      removed++;
    }
  }
  return removed;
};

const removeRest = async (f: RunFiles): Promise<void> => {
  await removeLog(f.log);
  for (const file of await listOrEmpty(f.dir)) if (!TOMBSTONE_FILES.has(file)) await rm(path.join(f.dir, file), { force: true, recursive: true });
};

export type HousekeepingOptions = { stateDir: string; retentionDays: number };

export const createLocalHousekeeper = (o: HousekeepingOptions): Housekeeper => ({
  async sweep(now) {
    const runsDir = path.join(o.stateDir, 'runs');
    const retentionMs = o.retentionDays * DAY_MS;
    const report: SweepReport = { pruned: [], tempsRemoved: 0 };
    for (const dir of [o.stateDir, path.join(o.stateDir, 'state'), path.join(o.stateDir, 'events'), runsDir]) report.tempsRemoved += await removeTemps(dir, now);
    for (const name of await listOrEmpty(runsDir)) {
      const f = runFiles(path.join(runsDir, name));
      if (!(await statOrNull(f.dir))?.isDirectory()) continue;
      report.tempsRemoved += await removeTemps(f.dir, now);
      if (await statOrNull(path.join(f.dir, 'pruned.json'))) {
        // A sweep killed halfway through a prune: finish it.
        if ((await listOrEmpty(f.dir)).some((file) => !TOMBSTONE_FILES.has(file))) await removeRest(f);
        continue;
      }
      const at = await finishedAt(runsDir, f, now);
      if (at === null || !(now - at > retentionMs)) continue;
      const logBytes = (await statOrNull(f.log))?.size ?? 0;
      // The marker first: a kill halfway leaves a marked run with files still to remove, which
      // the next sweep finishes.
      await createFileExclusive(path.join(f.dir, 'pruned.json'), `${JSON.stringify({ prunedAt: new Date(now).toISOString(), retentionDays: o.retentionDays, logBytes })}\n`);
      await removeRest(f);
      report.pruned.push(name);
    }
    return report;
  },
});
