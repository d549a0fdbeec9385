// One point of the benchmarks, for before/after comparisons while working: builds the world,
// then for each (driver, N) runs the first tick and `--reps` rounds of the floor followed by one
// steady observer tick, idle closer tick and `status -o json` of each entry, in rotating order.
// Prints medians of wall time and the largest peak RSS per entry and command.
//
//   node bench/point.ts --driver kubernetes --n 1000 [--reps 5] [--entry launcher,dist,src,bin,NAME=PATH] [--transport http|git|file]
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { mdTable } from './lib/report.ts';
import { measure } from './lib/proc.ts';
import { summarize } from './lib/stats.ts';
import { runFloor, runTick } from './lib/tick.ts';
import { BIN, CLI, createWorld, entryCommand, LAUNCHER, TRANSPORTS, type Driver, type Transport } from './lib/world.ts';
import { READER_CONCURRENCY } from './scale.ts';

const { values } = parseArgs({
  options: {
    driver: { type: 'string', default: 'kubernetes,local' },
    n: { type: 'string', default: '1000' },
    reps: { type: 'string', default: '5' },
    entry: { type: 'string', default: 'launcher,dist' },
    /** The mirror transport the registry reads (and the floor reads over). */
    transport: { type: 'string', default: 'http' },
    /** Build the scenarios, print how to run the CLI against them, and wait for Ctrl-C. */
    hold: { type: 'boolean' },
  },
});

const ROOT = join(import.meta.dirname, '..');
const named: Record<string, string> = { src: CLI, bin: BIN, dist: join(ROOT, 'dist', 'cli.js'), launcher: LAUNCHER };
const entries = (values.entry ?? '').split(',').map((e) => {
  const [name, path] = e.includes('=') ? e.split('=') : [e, named[e]];
  if (!name || !path) throw new Error(`--entry: unknown entry ${e} (launcher, src, bin, dist or NAME=PATH)`);
  return { name, path: resolve(path) };
});
const drivers = (values.driver ?? '').split(',') as Driver[];
const ns = (values.n ?? '').split(',').map(Number);
const reps = Number(values.reps);
const transport = values.transport as Transport;
if (!TRANSPORTS.includes(transport)) throw new Error(`--transport: http, git or file, not ${values.transport}`);
const log = (l: string) => process.stderr.write(`[point] ${l}\n`);

const load = loadavg()[0]?.toFixed(1);
const world = await createWorld(log);
const rows: string[][] = [];
try {
  for (const n of ns) {
    for (const driver of drivers) {
      const s = await world.scenario(driver, n, transport);
      await runTick(world, s, 'observer', 'Noop');
      if (values.hold) {
        log(`${driver} N=${n}: (cd ${s.dir} && env XDG_CACHE_HOME=${world.env.XDG_CACHE_HOME} node ${s.cli(['tick', 'observer', '-o', 'json'], '<entry>').join(' ')})`);
        continue;
      }
      const wall = new Map<string, number[]>();
      const rss = new Map<string, number[]>();
      const add = (k: string, w: number, r: number | null) => {
        wall.set(k, [...(wall.get(k) ?? []), w]);
        if (r !== null) rss.set(k, [...(rss.get(k) ?? []), r]);
      };
      for (let rep = 0; rep < reps; rep++) {
        add('floor (8 at once)', (await runFloor(world, s.reads, READER_CONCURRENCY, transport)).wallMs, null);
        const order = [...entries.slice(rep % entries.length), ...entries.slice(0, rep % entries.length)];
        for (const e of order) {
          const t = await runTick(world, s, 'observer', 'Noop', { entry: e.path });
          add(`${e.name}: tick observer`, t.wallMs, t.maxRssKiB);
          const c = await runTick(world, s, 'closer', null, { entry: e.path });
          add(`${e.name}: tick closer`, c.wallMs, c.maxRssKiB);
          const sc = entryCommand(s.cli(['status', '-o', 'json'], e.path));
          const st = await measure(sc.cmd, sc.args, { env: world.env, cwd: s.dir, node: sc.node, timeoutMs: 60_000 });
          if (st.code !== 0) throw new Error(`${e.name} status exited ${st.code}: ${st.stderr.slice(0, 500)}`);
          add(`${e.name}: status -o json`, st.wallMs, st.maxRssKiB);
        }
        log(`${driver} N=${n} rep ${rep + 1}/${reps}`);
      }
      const floor = summarize(wall.get('floor (8 at once)') ?? []).median;
      for (const [k, ws] of wall) {
        const s2 = summarize(ws);
        const peaks = rss.get(k) ?? [];
        rows.push([driver, String(n), k, s2.median.toFixed(0), `${s2.min.toFixed(0)}–${s2.max.toFixed(0)}`, (s2.median / floor).toFixed(2), peaks.length ? (Math.max(...peaks) / 1024).toFixed(1) : '-']);
      }
    }
  }
  if (values.hold) await new Promise<void>((r) => process.once('SIGINT', () => r()));
} finally {
  await world.cleanup();
}
process.stdout.write(`load average ${load} → ${loadavg()[0]?.toFixed(1)}; ${reps} rounds\n`);
process.stdout.write(`${mdTable(['driver', 'N', 'what', 'median ms', 'min–max ms', '/ floor', 'peak RSS MiB'], rows)}\n`);
