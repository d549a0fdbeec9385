import path from 'node:path';
import { shortSha } from '../../core/primitives.ts';
import type { LogReader } from '../ports.ts';
import { listRuns, readRunLog } from './dispatcher.ts';

/**
 * `logs` on the local driver: the log of the given run, or, when the follower has nothing in
 * flight, of its newest run, or of the newest run of the attempt asked for (named in a first line,
 * since the caller did not pick it by name).
 */
export const createLocalLogReader = (stateDir: string): LogReader => ({
  async logs(id, run, pick) {
    if (run) {
      try {
        return await readRunLog(stateDir, run.name);
      } catch (e) {
        return `no log for run ${run.name} of ${id}: ${(e as Error).message}\n`;
      }
    }
    const newest = (await listRuns(stateDir, id)).find((r) => !pick || r.attempt === pick.attempt);
    if (!newest) return `no runs${pick ? ` of attempt ${pick.attempt}` : ''} recorded for ${id} in ${path.join(stateDir, 'runs')}\n`;
    const text = await readRunLog(stateDir, newest.name);
    return `# newest run ${newest.name} (${shortSha(newest.sha)} attempt ${newest.attempt}, started ${newest.startedAt})\n${text}`;
  },
});
