// A controlled in-memory Dispatcher for the model-based fault suite: it records every create by
// name, answers a second create of the same name as the real drivers do (adopted, never a second
// run), and leaves the outcome of each run to the model (success, failure, or hanging on).
import type { StageReading } from '../../src/core/fold.ts';
import type { Dispatcher, DispatchRequest, DispatchResult } from '../../src/adapters/ports.ts';
import { toIso } from '../../src/core/primitives.ts';

export type ModelRunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export type ModelRun = {
  name: string;
  followerId: string;
  sha: string;
  episode: number;
  attempt: number;
  startedAt: string;
  status: ModelRunStatus;
  /** Which create made it: a second create of a name would get a new serial (it never does). */
  serial: number;
};

export type ModelDispatcher = Dispatcher & {
  readonly runs: Map<string, ModelRun>;
  /** Every create that started a run, in order (adoptions are not creates). */
  readonly creates: ModelRun[];
  adoptions: number;
  finish(name: string, ok: boolean): void;
};

export const createModelDispatcher = (now: () => number): ModelDispatcher => {
  const runs = new Map<string, ModelRun>();
  const creates: ModelRun[] = [];
  let serial = 0;
  const d: ModelDispatcher = {
    kind: 'Process',
    runs,
    creates,
    adoptions: 0,

    async dispatch(req: DispatchRequest): Promise<DispatchResult> {
      const existing = runs.get(req.name);
      if (existing) {
        // As the Kubernetes driver: a name held by another dispatch is never adopted.
        if (existing.followerId !== req.followerId || existing.sha !== req.sha || existing.episode !== req.episode || existing.attempt !== req.attempt) {
          throw new Error(`run ${req.name} exists but is not the dispatch of ${req.followerId} ${req.sha} attempt ${req.attempt}`);
        }
        d.adoptions++;
        return { name: req.name, kind: 'Process', startedAt: existing.startedAt, adopted: true };
      }
      const run: ModelRun = { name: req.name, followerId: req.followerId, sha: req.sha, episode: req.episode, attempt: req.attempt, startedAt: toIso(now()), status: 'running', serial: ++serial };
      runs.set(req.name, run);
      creates.push(run);
      return { name: req.name, kind: 'Process', startedAt: run.startedAt, adopted: false };
    },

    async cancel(name: string): Promise<void> {
      const run = runs.get(name);
      // As the local driver: a cancelled run stays on record, and reads as a failed trigger.
      if (run && run.status === 'running') run.status = 'cancelled';
    },

    async statuses(names: readonly string[]): Promise<Map<string, StageReading>> {
      const out = new Map<string, StageReading>();
      for (const name of names) {
        const run = runs.get(name);
        out.set(
          name,
          !run
            ? { result: 'NONE', detail: `no run ${name}` }
            : run.status === 'running'
              ? { result: 'PENDING', detail: 'running' }
              : run.status === 'succeeded'
                ? { result: 'SUCCESS', detail: 'exit code 0' }
                : { result: 'FAILURE', detail: run.status === 'cancelled' ? 'cancelled' : 'exit code 3' },
        );
      }
      return out;
    },

    finish(name: string, ok: boolean): void {
      const run = runs.get(name);
      if (run && run.status === 'running') run.status = ok ? 'succeeded' : 'failed';
    },
  };
  return d;
};
