// Turns the measurements into the printed tables and the goal verdicts. Tables are Markdown pipe
// tables: readable in a terminal and pasted as they are into docs/performance.md.
import type { CoreResult } from '../core.ts';
import type { PushResult } from '../push.ts';
import { POD_RESOURCES } from '../../src/adapters/kubernetes/manifests.ts';
import type { PointRow, ScaleRow } from '../scale.ts';
import type { StartupResult } from '../startup.ts';
import { quantityBytes } from './quantity.ts';
import type { ApiCount } from './tick.ts';
import { TRANSPORTS, type Driver } from './world.ts';

export const mdTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
};

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const mib = (kib: number | null): string => (kib === null ? 'n/a' : (kib / 1024).toFixed(1));
const count = (x: number | null): string => (x === null ? '-' : String(x));
const verbs = (a: ApiCount): string =>
  Object.entries(a.byVerb)
    .map(([v, n]) => `${v} ${n}`)
    .join(', ') || '-';

/** The steady tick, its floors and ref reads: the columns under 'tick ms (median)' … 'ref reads'. */
const tickAgainstFloor = (r: PointRow): string[] => [
  ms(r.steady.wallMs.median),
  ms(r.floor.bounded.median),
  ms(r.floor.unbounded.median),
  r.ratio.bounded.toFixed(2),
  r.ratio.unbounded.toFixed(2),
  count(r.steady.refReads),
];

export const scaleTable = (rows: readonly ScaleRow[]): string =>
  mdTable(
    ['N', 'driver', 'repos', 'tick ms (median)', 'floor ms, 8 at once', 'floor ms, all at once', 'tick/floor (8)', 'tick/floor (all)', 'ref reads', 'API requests', 'peak RSS MiB', 'tick ms, no compile cache', 'tick ms, node src/cli.ts', 'peak RSS MiB, node src/cli.ts', 'first tick ms', 'first tick writes'],
    rows.map((r) => [
      String(r.n),
      r.driver,
      String(r.repos),
      ...tickAgainstFloor(r),
      r.driver === 'kubernetes' ? verbs(r.steady.api) : '-',
      mib(r.steady.maxRssKiB),
      ms(r.noCompileCache.wallMs),
      ms(r.sources.wallMs),
      mib(r.sources.maxRssKiB),
      ms(r.first.wallMs),
      r.driver === 'kubernetes' ? `${r.first.api.writes} API` : `${r.first.stateFilesWritten} files`,
    ]),
  );

const DRIVERS: readonly Driver[] = ['local', 'kubernetes'];

/** The ticks over every transport measured, http among them, side by side at the N they share. */
export const transportTable = (rows: readonly PointRow[]): string =>
  mdTable(
    ['N', 'driver', 'transport', 'tick ms (median)', 'floor ms, 8 at once', 'floor ms, all at once', 'tick/floor (8)', 'tick/floor (all)', 'ref reads', 'peak RSS MiB', 'closer peak RSS MiB', 'first tick ms', 'first tick peak RSS MiB', 'floor reads reset'],
    [...rows]
      .sort((a, b) => a.n - b.n || DRIVERS.indexOf(a.driver) - DRIVERS.indexOf(b.driver) || TRANSPORTS.indexOf(a.transport) - TRANSPORTS.indexOf(b.transport))
      .map((r) => [
        String(r.n),
        r.driver,
        `${r.transport}://`,
        ...tickAgainstFloor(r),
        mib(r.steady.maxRssKiB),
        mib(r.idleCloser.maxRssKiB),
        ms(r.first.wallMs),
        mib(r.first.maxRssKiB),
        String(r.floor.resets),
      ]),
  );

export const idleTable = (rows: readonly ScaleRow[]): string =>
  mdTable(
    ['N', 'driver', 'tick', 'API reads', 'API writes', 'requests by verb', 'state files written', 'ref reads', 'peak RSS MiB'],
    rows.flatMap((r) =>
      (
        [
          ['observer', r.steady.api, r.steady.stateFilesWritten, r.steady.refReads, r.steady.maxRssKiB],
          ['closer', r.idleCloser.api, r.idleCloser.stateFilesWritten, r.idleCloser.refReads, r.idleCloser.maxRssKiB],
        ] as const
      ).map(([loop, api, files, refs, rss]) => [
        String(r.n),
        r.driver,
        loop,
        r.driver === 'kubernetes' ? String(api.reads) : '-',
        r.driver === 'kubernetes' ? String(api.writes) : '-',
        r.driver === 'kubernetes' ? verbs(api) : '-',
        r.driver === 'local' ? String(files) : '-',
        count(refs),
        mib(rss),
      ]),
    ),
  );

export const startupTable = (s: StartupResult): string =>
  mdTable(
    ['command', 'median ms', 'min ms', 'p90 ms', 'peak RSS MiB', 'API requests per run'],
    s.commands.map((c) => [c.name, ms(c.wallMs.median), ms(c.wallMs.min), ms(c.wallMs.p90), mib(c.maxRssKiB), String(c.apiRequests)]),
  );

export const coreTable = (c: CoreResult, floorPerFollowerUs: number | null): string =>
  mdTable(
    ['pure step', 'per second', 'µs each', 'share of the tick floor per follower (N=1000)'],
    (
      [
        ['observe', c.observe],
        ['nextAction', c.nextAction],
        ['nextAction + closeRun', c.closerStep],
        ['FollowerState.safeParse (store read, for scale)', c.stateParse],
      ] as const
    ).map(([name, r]) => [name, r.perSecond.toLocaleString('en-US'), r.usPerOp.toFixed(2), floorPerFollowerUs ? `${((r.usPerOp / floorPerFollowerUs) * 100).toFixed(2)} %` : '-']),
  );

export type Goal = { goal: string; target: string; measured: string; met: boolean };

/** Issue 16: a steady observer tick against its git floor, on both drivers and every mirror transport. */
const TICK_GOALS: readonly { n: number; max: number }[] = [
  { n: 10, max: 2 },
  { n: 1000, max: 1.5 },
];
/** Issue 16: peak RSS of an observer tick and a closer tick, on both drivers. */
const RSS_GOALS: readonly { n: number; maxMiB: number }[] = [
  { n: 10, maxMiB: 70 },
  { n: 1000, maxMiB: 100 },
];
const HEADROOM_N = 1000;
const NOT_MEASURED = 'not measured';

const tickGoals = (points: readonly PointRow[]): Goal[] =>
  TICK_GOALS.flatMap(({ n, max }) =>
    DRIVERS.flatMap((driver) =>
      TRANSPORTS.flatMap((transport) => {
        const r = points.find((p) => p.n === n && p.driver === driver && p.transport === transport);
        // Over http the goals keep the names they had before the other transports were measured.
        const where = transport === 'http' ? driver : `${driver}, ${transport}://`;
        return (
          [
            ['bounded', '8 reads at once, as the reader'],
            ['unbounded', 'all reads at once'],
          ] as const
        ).map(([kind, floor]) => {
          const ratio = r?.ratio[kind] ?? null;
          return { goal: `observer tick / floor at N=${n} (${where}; floor: ${floor})`, target: `≤ ${max}`, measured: ratio === null ? NOT_MEASURED : ratio.toFixed(2), met: ratio !== null && ratio <= max };
        });
      }),
    ),
  );

/** The largest of `peak` over the points, naming its transport and listing each where there are several. */
const largestPeak = (points: readonly PointRow[], peak: (r: PointRow) => number | null): { kib: number; text: string } | null => {
  const measured = points.flatMap((r) => {
    const kib = peak(r);
    return kib === null ? [] : [{ kib, transport: r.transport }];
  });
  if (measured.length === 0) return null;
  const top = measured.reduce((a, b) => (b.kib > a.kib ? b : a));
  const each = measured.length > 1 ? ` (${measured.map((m) => `${m.transport} ${mib(m.kib)}`).join(', ')})` : '';
  return { kib: top.kib, text: `${mib(top.kib)} MiB${each}` };
};

const rssGoals = (points: readonly PointRow[]): Goal[] =>
  RSS_GOALS.flatMap(({ n, maxMiB }) =>
    (
      [
        ['observer', (r: PointRow) => r.steady.maxRssKiB],
        ['closer', (r: PointRow) => r.idleCloser.maxRssKiB],
      ] as const
    ).flatMap(([loop, peak]) =>
      DRIVERS.map((driver) => {
        const top = largestPeak(
          points.filter((r) => r.n === n && r.driver === driver),
          peak,
        );
        return { goal: `peak RSS of the ${loop} tick at N=${n} (${driver})`, target: `≤ ${maxMiB} MiB`, measured: top?.text ?? NOT_MEASURED, met: top !== null && top.kib <= maxMiB * 1024 };
      }),
    ),
  );

/**
 * Issue 16: the CronJobs' memory limit (POD_RESOURCES, what the manifests ship) over the largest
 * peak at N = 1000 of any tick a pod runs: first, steady and compile-cache-less observer ticks
 * and the idle closer tick, both drivers, every transport.
 */
const headroomGoal = (scale: readonly ScaleRow[], points: readonly PointRow[]): Goal => {
  const limit = POD_RESOURCES.limits.memory;
  const candidates = [
    ...points.filter((r) => r.n === HEADROOM_N).flatMap((r) => [
      { kib: r.first.maxRssKiB, what: `first observer tick, ${r.driver}, ${r.transport}://` },
      { kib: r.steady.maxRssKiB, what: `steady observer tick, ${r.driver}, ${r.transport}://` },
      { kib: r.idleCloser.maxRssKiB, what: `closer tick, ${r.driver}, ${r.transport}://` },
    ]),
    ...scale.filter((r) => r.n === HEADROOM_N).map((r) => ({ kib: r.noCompileCache.maxRssKiB, what: `observer tick without compile cache, ${r.driver}, ${r.transport}://` })),
  ].flatMap((c) => (c.kib === null ? [] : [{ kib: c.kib, what: c.what }]));
  const goal = `shipped pod memory limit (${limit}) over the largest peak RSS at N=${HEADROOM_N} (observer and closer ticks, both drivers, every transport)`;
  const drivers = new Set(points.filter((r) => r.n === HEADROOM_N).map((r) => r.driver));
  if (candidates.length === 0 || !DRIVERS.every((d) => drivers.has(d))) return { goal, target: '≥ 2×', measured: NOT_MEASURED, met: false };
  const top = candidates.reduce((a, b) => (b.kib > a.kib ? b : a));
  const ratio = quantityBytes(limit) / (top.kib * 1024);
  return { goal, target: '≥ 2×', measured: `${ratio.toFixed(2)}× (peak ${mib(top.kib)} MiB: ${top.what})`, met: ratio >= 2 };
};

/** Every goal of the scale points (http and the other transports) and of start-up, measured or not. */
export const goals = (scale: readonly ScaleRow[], transports: readonly PointRow[], startup: StartupResult | null): Goal[] => {
  const points: PointRow[] = [...scale, ...transports];
  const out: Goal[] = [...tickGoals(points)];
  for (const r of scale.filter((x) => x.driver === 'kubernetes')) {
    for (const [loop, api] of [
      ['observer', r.steady.api],
      ['closer', r.idleCloser.api],
    ] as const) {
      out.push({ goal: `idle ${loop} tick at N=${r.n} (kubernetes)`, target: '≤ 3 API reads, 0 writes', measured: `${api.reads} reads, ${api.writes} writes`, met: api.reads <= 3 && api.writes === 0 });
    }
  }
  for (const r of scale.filter((x) => x.driver === 'local')) {
    out.push({ goal: `idle observer and closer ticks at N=${r.n} (local)`, target: '0 state files written', measured: `${r.steady.stateFilesWritten + r.idleCloser.stateFilesWritten} written`, met: r.steady.stateFilesWritten + r.idleCloser.stateFilesWritten === 0 });
  }
  const ratio = startup?.ratio ?? null;
  out.push({
    goal: `branch-follower status -o json start-up vs kubectl get (N=${startup?.n ?? '-'}, medians of ${startup?.runs ?? '-'})`,
    target: '≤ 1.5×',
    measured: ratio === null ? `${NOT_MEASURED} (kubectl absent)` : `${ratio.toFixed(2)}×`,
    met: ratio !== null && ratio <= 1.5,
  });
  out.push(...rssGoals(points), headroomGoal(scale, points));
  return out;
};

/** The N among `ns` the tick goals name: where the other transports are measured too. */
export const goalNs = (ns: readonly number[]): number[] => ns.filter((n) => TICK_GOALS.some((g) => g.n === n));

export const goalTable = (gs: readonly Goal[]): string => mdTable(['goal', 'target', 'measured', 'met'], gs.map((g) => [g.goal, g.target, g.measured, g.met ? 'yes' : 'NO']));

export const pushTable = (r: PushResult): string =>
  mdTable(
    ['driver', 'pushes', 'receiver p50 ms', 'receiver p90 ms', 'hook → woken Job p50 ms', 'scheduled tick p50 ms', 'polling p50 ms', 'polling p90 ms'],
    r.points.map((p) => [p.driver, String(p.pushes), ms(p.receiver.median), ms(p.receiver.p90), p.woken ? ms(p.woken.median) : '-', ms(p.scheduledTick.median), ms(p.polling.median), ms(p.polling.p90)]),
  );

/** The receiver's goal (issue 14): p50 ≤ 2 s and p90 ≤ 5 s from hook to dispatch, on each driver. */
export const pushGoals = (r: PushResult): Goal[] =>
  r.points.map((p) => ({
    goal: `push → dispatch with the receiver (${p.driver}; polling: p50 ${(p.polling.median / 1000).toFixed(1)} s)`,
    target: 'p50 ≤ 2 s, p90 ≤ 5 s',
    measured: `p50 ${(p.receiver.median / 1000).toFixed(2)} s, p90 ${(p.receiver.p90 / 1000).toFixed(2)} s`,
    met: p.receiver.median <= 2000 && p.receiver.p90 <= 5000,
  }));
