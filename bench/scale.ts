// Benchmark 1 (observer tick at scale) and 2 (idle tick economy): for each N and driver, the
// first tick (it creates every state), then steady ticks that find nothing changed, each run as
// the CronJob runs it (the launcher, running the bundle; see runTick), each
// interleaved with the floor (the same ls-remote reads by plain git over the same transport, 8
// at a time and all at once) so that a noisy neighbour bends both alike; then an idle closer tick.
// Over smart HTTP at every N (with a tick without compile cache and one of the sources); over
// git:// and file:// at the N the tick goals name (benchTransports).
import { round, summarize, type Summary } from './lib/stats.ts';
import { runFloor, runTick, type ApiCount, type TickRun } from './lib/tick.ts';
import { CLI, type Driver, type Scenario, type Transport, type World } from './lib/world.ts';

export const READER_CONCURRENCY = 8;

/** One (N, driver, transport): its ticks against the floor of the same reads over the same transport. */
export type PointRow = {
  n: number;
  driver: Driver;
  transport: Transport;
  repos: number;
  first: TickRun;
  steady: {
    wallMs: Summary;
    /** The largest peak RSS over the steady ticks. */
    maxRssKiB: number | null;
    /** Null over file://, where no server counts them. */
    refReads: number | null;
    api: ApiCount;
    stateFilesWritten: number;
  };
  /** `resets`: floor reads run again after git daemon's accept queue reset their connection (runFloor). */
  floor: { bounded: Summary; unbounded: Summary; resets: number };
  /** Steady tick median over floor median. */
  ratio: { bounded: number; unbounded: number };
  idleCloser: TickRun;
};

export type ScaleRow = PointRow & {
  /** One steady tick with Node's compile cache off: what a fresh CronJob pod pays. */
  noCompileCache: TickRun;
  /** One steady tick of the sources, `node src/cli.ts tick observer`: what ticks cost before the bundle. */
  sources: TickRun;
};

type Log = (l: string) => void;

const maxOrNull = (xs: readonly (number | null)[]): number | null => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length ? Math.max(...known) : null;
};

/** The first tick, `reps` rounds of floor then steady ticks, and an idle closer tick, on both drivers. */
const measurePoint = async (world: World, n: number, transport: Transport, o: { reps: number; log: Log }): Promise<{ scenarios: Record<Driver, Scenario>; rows: Record<Driver, PointRow> }> => {
  const scenarios = { local: await world.scenario('local', n, transport), kubernetes: await world.scenario('kubernetes', n, transport) };
  const reads = scenarios.local.reads;
  const at = `N=${n} ${transport}`;
  const first: Record<Driver, TickRun> = {
    local: await runTick(world, scenarios.local, 'observer', 'Noop'),
    kubernetes: await runTick(world, scenarios.kubernetes, 'observer', 'Noop'),
  };
  o.log(`${at}: first ticks local ${first.local.wallMs.toFixed(0)} ms, kubernetes ${first.kubernetes.wallMs.toFixed(0)} ms`);
  const steady: Record<Driver, TickRun[]> = { local: [], kubernetes: [] };
  const bounded: number[] = [];
  const unbounded: number[] = [];
  let resets = 0;
  for (let rep = 0; rep < o.reps; rep++) {
    for (const [concurrency, into] of [
      [READER_CONCURRENCY, bounded],
      [0, unbounded],
    ] as const) {
      const f = await runFloor(world, reads, concurrency, transport);
      if (f.resets > 0) o.log(`${at}: floor (-P ${concurrency}): ${f.resets} reads run again after a connection reset`);
      resets += f.resets;
      into.push(f.wallMs);
    }
    // Alternate which driver goes first, so neither always follows the floor's git storm.
    const order: Driver[] = rep % 2 === 0 ? ['local', 'kubernetes'] : ['kubernetes', 'local'];
    for (const d of order) steady[d].push(await runTick(world, scenarios[d], 'observer', 'Noop'));
    o.log(`${at} rep ${rep + 1}/${o.reps}: floor ${bounded.at(-1)?.toFixed(0)}/${unbounded.at(-1)?.toFixed(0)} ms, local ${steady.local.at(-1)?.wallMs.toFixed(0)} ms, kubernetes ${steady.kubernetes.at(-1)?.wallMs.toFixed(0)} ms`);
  }
  const floor = { bounded: summarize(bounded), unbounded: summarize(unbounded), resets };
  const row = async (driver: Driver): Promise<PointRow> => {
    const runs = steady[driver];
    const last = runs.at(-1) as TickRun;
    const idleCloser = await runTick(world, scenarios[driver], 'closer', null);
    if (Object.keys(idleCloser.phases).length !== 0) throw new Error(`idle closer tick (${driver}, ${at}) closed out runs: ${JSON.stringify(idleCloser.phases)}`);
    const wallMs = summarize(runs.map((r) => r.wallMs));
    return {
      n,
      driver,
      transport,
      repos: reads.length,
      first: first[driver],
      steady: {
        wallMs,
        maxRssKiB: maxOrNull(runs.map((r) => r.maxRssKiB)),
        refReads: maxOrNull(runs.map((r) => r.refReads)),
        // Every steady tick makes the same calls; the last one stands for them.
        api: last.api,
        stateFilesWritten: Math.max(...runs.map((r) => r.stateFilesWritten)),
      },
      floor,
      ratio: { bounded: round(wallMs.median / floor.bounded.median, 2), unbounded: round(wallMs.median / floor.unbounded.median, 2) },
      idleCloser,
    };
  };
  return { scenarios, rows: { local: await row('local'), kubernetes: await row('kubernetes') } };
};

/** The observer tick at every N over smart HTTP, with a tick without compile cache and one of the sources. */
export const benchScale = async (world: World, o: { ns: readonly number[]; reps: number; log: Log }): Promise<ScaleRow[]> => {
  const out: ScaleRow[] = [];
  for (const n of o.ns) {
    const { scenarios, rows } = await measurePoint(world, n, 'http', o);
    const noCache = { env: { ...world.env, NODE_DISABLE_COMPILE_CACHE: '1' } };
    for (const driver of ['local', 'kubernetes'] as const) {
      out.push({
        ...rows[driver],
        noCompileCache: await runTick(world, scenarios[driver], 'observer', 'Noop', noCache),
        sources: await runTick(world, scenarios[driver], 'observer', 'Noop', { entry: CLI }),
      });
    }
  }
  return out;
};

/** The same points over the mirror's other transports (git://, file://), each against its own floor. */
export const benchTransports = async (world: World, o: { ns: readonly number[]; transports: readonly Transport[]; reps: number; log: Log }): Promise<PointRow[]> => {
  const out: PointRow[] = [];
  for (const n of o.ns) {
    for (const transport of o.transports) {
      const { rows } = await measurePoint(world, n, transport, o);
      out.push(rows.local, rows.kubernetes);
    }
  }
  return out;
};
