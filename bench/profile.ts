// Where a CLI run's time goes: builds the benchmark world for one (driver, N), runs one observer
// tick so the states exist, then runs the given verb under `node --cpu-prof` and prints the
// functions and packages with the most self time. Keeps the .cpuprofile for a closer look
// (Chrome DevTools, speedscope).
//
//   node bench/profile.ts --driver kubernetes --n 1000 [--verb "tick observer"] [--top 30] [--keep DIR]
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { summarizeProfile, type CpuProfile } from './lib/profile-summary.ts';
import { measure } from './lib/proc.ts';
import { runTick } from './lib/tick.ts';
import { BIN, createWorld, type Driver } from './lib/world.ts';

const { values } = parseArgs({
  options: {
    driver: { type: 'string', default: 'kubernetes' },
    n: { type: 'string', default: '1000' },
    verb: { type: 'string', default: 'tick observer' },
    top: { type: 'string', default: '30' },
    keep: { type: 'string', default: join(tmpdir(), 'branch-follower-profiles') },
  },
});

const main = async (): Promise<void> => {
  const driver = values.driver as Driver;
  if (driver !== 'local' && driver !== 'kubernetes') throw new Error('--driver is local or kubernetes');
  const n = Number(values.n);
  const world = await createWorld((l) => process.stderr.write(`${l}\n`));
  try {
    const s = await world.scenario(driver, n);
    await runTick(world, s, 'observer', 'Noop');
    const dir = resolve(values.keep ?? '.', `${driver}-n${n}-${(values.verb ?? '').replace(/\W+/g, '-')}-${Date.now()}`);
    await mkdir(dir, { recursive: true });
    const verb = (values.verb ?? 'tick observer').split(/\s+/);
    const r = await measure(process.execPath, [...(process.env['BF_PROFILE_V8'] ?? '').split(' ').filter(Boolean), '--cpu-prof', '--cpu-prof-dir', dir, ...s.cli(verb, BIN)], { env: world.env, cwd: s.dir, node: true });
    if (r.code !== 0) throw new Error(`exited ${r.code}: ${r.stderr}`);
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile written');
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    process.stdout.write(`${values.verb} (${driver}, N=${n}): ${r.wallMs.toFixed(0)} ms wall, peak RSS ${r.maxRssKiB === null ? 'n/a' : `${(r.maxRssKiB / 1024).toFixed(1)} MiB`}\nprofile: ${join(dir, file)}\n\n`);
    process.stdout.write(`${summarizeProfile(profile, Number(values.top))}\n`);
  } finally {
    await world.cleanup();
  }
};

await main();
