// Turns the measurements into the printed tables and the goal verdicts. Tables are Markdown pipe
// tables: readable in a terminal and pasted as they are into docs/performance.md.
import type { CoreResult } from '../core.ts';
import type { PushResult } from '../push.ts';
import type { ScaleRow } from '../scale.ts';
import type { StartupResult } from '../startup.ts';
import type { ApiCount } from './tick.ts';

export const mdTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
};

const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const mib = (kib: number | null): string => (kib === null ? 'n/a' : (kib / 1024).toFixed(1));
const verbs = (a: ApiCount): string =>
  Object.entries(a.byVerb)
    .map(([v, n]) => `${v} ${n}`)
    .join(', ') || '-';

export const scaleTable = (rows: readonly ScaleRow[]): string =>
  mdTable(
    ['N', 'driver', 'repos', 'tick ms (median)', 'floor ms, 8 at once', 'floor ms, all at once', 'tick/floor (8)', 'tick/floor (all)', 'ref reads', 'API requests', 'peak RSS MiB', 'tick ms, no compile cache', 'tick ms, node src/cli.ts', 'peak RSS MiB, node src/cli.ts', 'first tick ms', 'first tick writes'],
    rows.map((r) => [
      String(r.n),
      r.driver,
      String(r.repos),
      ms(r.steady.wallMs.median),
      ms(r.floor.bounded.median),
      ms(r.floor.unbounded.median),
      r.ratio.bounded.toFixed(2),
      r.ratio.unbounded.toFixed(2),
      String(r.steady.refReads),
      r.driver === 'kubernetes' ? verbs(r.steady.api) : '-',
      mib(r.steady.maxRssKiB),
      ms(r.noCompileCache.wallMs),
      ms(r.sources.wallMs),
      mib(r.sources.maxRssKiB),
      ms(r.first.wallMs),
      r.driver === 'kubernetes' ? `${r.first.api.writes} API` : `${r.first.stateFilesWritten} files`,
    ]),
  );

export const idleTable = (rows: readonly ScaleRow[]): string =>
  mdTable(
    ['N', 'driver', 'tick', 'API reads', 'API writes', 'requests by verb', 'state files written', 'ref reads'],
    rows.flatMap((r) =>
      (
        [
          ['observer', r.steady.api, r.steady.stateFilesWritten, r.steady.refReads],
          ['closer', r.idleCloser.api, r.idleCloser.stateFilesWritten, r.idleCloser.refReads],
        ] as const
      ).map(([loop, api, files, refs]) => [
        String(r.n),
        r.driver,
        loop,
        r.driver === 'kubernetes' ? String(api.reads) : '-',
        r.driver === 'kubernetes' ? String(api.writes) : '-',
        r.driver === 'kubernetes' ? verbs(api) : '-',
        r.driver === 'local' ? String(files) : '-',
        String(refs),
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

export const goals = (scale: readonly ScaleRow[], startup: StartupResult | null): Goal[] => {
  const out: Goal[] = [];
  const big = scale.filter((r) => r.n === 1000);
  for (const r of big) {
    out.push({ goal: `observer tick / floor at N=1000 (${r.driver}; floor: 8 reads at once, as the reader)`, target: '≤ 1.5', measured: r.ratio.bounded.toFixed(2), met: r.ratio.bounded <= 1.5 });
    out.push({ goal: `observer tick / floor at N=1000 (${r.driver}; floor: all reads at once)`, target: '≤ 1.5', measured: r.ratio.unbounded.toFixed(2), met: r.ratio.unbounded <= 1.5 });
  }
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
  if (startup?.ratio !== null && startup?.ratio !== undefined) {
    out.push({ goal: `branch-follower status -o json start-up vs kubectl get (N=${startup.n}, medians of ${startup.runs})`, target: '≤ 1.5×', measured: `${startup.ratio.toFixed(2)}×`, met: startup.ratio <= 1.5 });
  }
  for (const r of big) {
    const peak = r.steady.maxRssKiB;
    out.push({ goal: `peak RSS of the observer tick at N=1000 (${r.driver})`, target: '≤ 100 MiB', measured: peak === null ? 'not measured' : `${(peak / 1024).toFixed(1)} MiB`, met: peak !== null && peak <= 100 * 1024 });
  }
  return out;
};

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
