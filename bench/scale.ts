// Benchmark 1 (observer tick at scale) and 2 (idle tick economy): for each N and driver, the
// first tick (it creates every state), then steady ticks that find nothing changed, each run as
// the CronJob runs it (the launcher, running the bundle; see runTick), each
// interleaved with the floor (the same ls-remote reads by plain git, 8 at a time and all at
// once) so that a noisy neighbour bends both alike; then an idle closer tick.
import { round, summarize, type Summary } from './lib/stats.ts';
import { runFloor, runTick, type ApiCount, type TickRun } from './lib/tick.ts';
import { CLI, type Driver, type World } from './lib/world.ts';

export const READER_CONCURRENCY = 8;

export type ScaleRow = {
  n: number;
  driver: Driver;
  repos: number;
  first: TickRun;
  steady: {
    wallMs: Summary;
    /** The largest peak RSS over the steady ticks. */
    maxRssKiB: number | null;
    refReads: number;
    api: ApiCount;
    stateFilesWritten: number;
  };
  /** One steady tick with Node's compile cache off: what a fresh CronJob pod pays. */
  noCompileCache: TickRun;
  /** One steady tick of the sources, `node src/cli.ts tick observer`: what ticks cost before the bundle. */
  sources: TickRun;
  floor: { bounded: Summary; unbounded: Summary };
  /** Steady tick median over floor median. */
  ratio: { bounded: number; unbounded: number };
  idleCloser: TickRun;
};

export const benchScale = async (world: World, o: { ns: readonly number[]; reps: number; log: (l: string) => void }): Promise<ScaleRow[]> => {
  const rows: ScaleRow[] = [];
  for (const n of o.ns) {
    const scenarios = { local: await world.scenario('local', n), kubernetes: await world.scenario('kubernetes', n) };
    const reads = scenarios.local.reads;
    const first: Record<Driver, TickRun> = {
      local: await runTick(world, scenarios.local, 'observer', 'Noop'),
      kubernetes: await runTick(world, scenarios.kubernetes, 'observer', 'Noop'),
    };
    o.log(`N=${n}: first ticks local ${first.local.wallMs.toFixed(0)} ms, kubernetes ${first.kubernetes.wallMs.toFixed(0)} ms`);
    const steady: Record<Driver, TickRun[]> = { local: [], kubernetes: [] };
    const bounded: number[] = [];
    const unbounded: number[] = [];
    for (let rep = 0; rep < o.reps; rep++) {
      bounded.push((await runFloor(world, reads, READER_CONCURRENCY)).wallMs);
      unbounded.push((await runFloor(world, reads, 0)).wallMs);
      // Alternate which driver goes first, so neither always follows the floor's git storm.
      const order: Driver[] = rep % 2 === 0 ? ['local', 'kubernetes'] : ['kubernetes', 'local'];
      for (const d of order) steady[d].push(await runTick(world, scenarios[d], 'observer', 'Noop'));
      o.log(`N=${n} rep ${rep + 1}/${o.reps}: floor ${bounded.at(-1)?.toFixed(0)}/${unbounded.at(-1)?.toFixed(0)} ms, local ${steady.local.at(-1)?.wallMs.toFixed(0)} ms, kubernetes ${steady.kubernetes.at(-1)?.wallMs.toFixed(0)} ms`);
    }
    const floor = { bounded: summarize(bounded), unbounded: summarize(unbounded) };
    const noCache = { env: { ...world.env, NODE_DISABLE_COMPILE_CACHE: '1' } };
    const cold: Record<Driver, TickRun> = {
      local: await runTick(world, scenarios.local, 'observer', 'Noop', noCache),
      kubernetes: await runTick(world, scenarios.kubernetes, 'observer', 'Noop', noCache),
    };
    const sources: Record<Driver, TickRun> = {
      local: await runTick(world, scenarios.local, 'observer', 'Noop', { entry: CLI }),
      kubernetes: await runTick(world, scenarios.kubernetes, 'observer', 'Noop', { entry: CLI }),
    };
    for (const driver of ['local', 'kubernetes'] as const) {
      const runs = steady[driver];
      const last = runs.at(-1) as TickRun;
      const idleCloser = await runTick(world, scenarios[driver], 'closer', null);
      if (Object.keys(idleCloser.phases).length !== 0) throw new Error(`idle closer tick (${driver}, N=${n}) closed out runs: ${JSON.stringify(idleCloser.phases)}`);
      const wallMs = summarize(runs.map((r) => r.wallMs));
      const rss = runs.map((r) => r.maxRssKiB).filter((x): x is number => x !== null);
      rows.push({
        n,
        driver,
        repos: reads.length,
        first: first[driver],
        steady: {
          wallMs,
          maxRssKiB: rss.length ? Math.max(...rss) : null,
          refReads: Math.max(...runs.map((r) => r.refReads)),
          // Every steady tick makes the same calls; the last one stands for them.
          api: last.api,
          stateFilesWritten: Math.max(...runs.map((r) => r.stateFilesWritten)),
        },
        noCompileCache: cold[driver],
        sources: sources[driver],
        floor,
        ratio: { bounded: round(wallMs.median / floor.bounded.median, 2), unbounded: round(wallMs.median / floor.unbounded.median, 2) },
        idleCloser,
      });
    }
  }
  return rows;
};
