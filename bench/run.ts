// `npm run bench`: the benchmarks of docs/performance.md, each against a floor measured in the
// same run. Prints the figures as tables and writes them as JSON to bench/results.json.
//
//   node bench/run.ts [--ns 10,100,1000] [--reps 3] [--startup-runs 15] [--pushes 20] [--transports git,file] [--out FILE] [--quick]
import './lib/use-bundle.ts';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchCore } from './core.ts';
import { benchPush } from './push.ts';
import { benchLargeMirror, refsTable } from './refs.ts';
import { build } from '../scripts/build.ts';
import { describeMachine } from './lib/machine.ts';
import { hasGnuTime } from './lib/proc.ts';
import { runTick } from './lib/tick.ts';
import { coreTable, goalNs, goals, goalTable, idleTable, pushGoals, pushTable, scaleTable, startupTable, transportTable } from './lib/report.ts';
import { createWorld, TRANSPORTS, type Transport, type World } from './lib/world.ts';
import { benchScale, benchTransports, READER_CONCURRENCY } from './scale.ts';
import { benchStartup } from './startup.ts';

const { values } = parseArgs({
  options: {
    ns: { type: 'string' },
    reps: { type: 'string' },
    'startup-runs': { type: 'string' },
    pushes: { type: 'string' },
    /** The mirror transports measured besides smart HTTP, at the N the tick goals name (10, 1000); '' for none. */
    transports: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean' },
  },
});

const quick = values.quick === true;
const ns = (values.ns ?? (quick ? '10,100' : '10,100,1000')).split(',').map(Number);
if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 5000)) throw new Error(`--ns takes follower counts from 1 to 5000, not ${values.ns}`);
const reps = Number(values.reps ?? (quick ? 1 : 3));
const startupRuns = Number(values['startup-runs'] ?? (quick ? 3 : 15));
const pushes = Number(values.pushes ?? (quick ? 5 : 20));
const out = values.out ?? join(import.meta.dirname, 'results.json');
const otherTransports = (values.transports ?? 'git,file').split(',').filter(Boolean) as Transport[];
if (otherTransports.some((t) => t === 'http' || !TRANSPORTS.includes(t))) throw new Error(`--transports takes git and file (http is always measured), not ${values.transports}`);
const transportNs = goalNs(ns);

const log = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

const main = async (): Promise<void> => {
  const started = Date.now();
  // What the ticks and status below run (through the launcher): the bundle of these sources.
  log(`bundling the CLI: ${await build()}`);
  const machine = await describeMachine();
  const gnuTime = await hasGnuTime();
  log(`${machine.cpuModel}, ${machine.nproc} cores, ${machine.memTotalGiB} GiB, node ${machine.node}, git ${machine.git}, kubectl ${machine.kubectl ?? 'absent'}`);
  log(`peak RSS via ${gnuTime ? 'GNU time (/usr/bin/time -f %M)' : 'a preloaded process.resourceUsage().maxRSS reporter'}`);

  log('4/4 core throughput (in process, first: nothing else is running yet)');
  const core = benchCore({ inputs: 2000, warmupMs: quick ? 200 : 1000, batchMs: quick ? 100 : 300, batches: quick ? 3 : 7 });

  let world: World | null = null;
  const stop = (): void => {
    void world?.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    world = await createWorld(log);
    log(`1/4 + 2/4 observer tick at scale and idle economy: N = ${ns.join(', ')}, ${reps} steady ticks each`);
    const scale = await benchScale(world, { ns, reps, log });
    log(`1/4 over the other mirror transports: ${otherTransports.join(', ') || 'none'} at N = ${transportNs.join(', ') || 'none of --ns'}`);
    const transports = await benchTransports(world, { ns: transportNs, transports: otherTransports, reps, log });

    const startupN = ns.includes(100) ? 100 : (ns[0] as number);
    log(`3/4 CLI start-up: status -o json vs kubectl get, N=${startupN}, ${startupRuns} runs each`);
    const kubectl = machine.kubectl !== null;
    const k8s = await world.scenario('kubernetes', startupN);
    const local = await world.scenario('local', startupN);
    // The states status shows (and kubectl lists) exist once a tick ran.
    if (!ns.includes(startupN)) for (const s of [k8s, local]) await runTick(world, s, 'observer', 'Noop');
    const startup = await benchStartup(world, k8s, local, { runs: startupRuns, kubectl });

    log('5. large mirror: one branch of a 70,000-ref repository, smart-HTTP v2 vs v0 vs git ls-remote');
    const largeMirror = await benchLargeMirror({ refs: 70_000, reps: quick ? 3 : 7, log });

    log(`7. push → dispatch: ${pushes} signed pushes through serve's receiver per driver, against the polling path`);
    const push = await benchPush({ pushes, log });

    const big = scale.find((r) => r.n === 1000 && r.driver === 'kubernetes') ?? scale.at(-1);
    const floorPerFollowerUs = big ? (big.floor.unbounded.median * 1000) / big.n : null;
    const verdicts = [...goals(scale, transports, startup), ...pushGoals(push)];

    const results = {
      generatedAt: new Date().toISOString(),
      command: 'npm run bench',
      durationSeconds: Math.round((Date.now() - started) / 1000),
      machine,
      loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      method: {
        peakRss: gnuTime ? 'GNU time -f %M (kernel rusage of the measured process)' : 'process.resourceUsage().maxRSS, preloaded',
        wallTime: 'spawn to exit of the whole process, measured by the runner',
        refReads: 'info/refs requests answered by the git http-backend bridge (http), upload-pack requests logged by git daemon (git); not counted over file://',
        transports: {
          http: 'git http-backend behind a node:http bridge, in a process of its own',
          git: 'git daemon --export-all --base-path=<mirror> --listen=127.0.0.1',
          file: 'file:// URLs of the bare repositories',
          measuredAt: transportNs,
        },
        apiRequests: 'requests recorded by the API-server double; reads are GETs, writes every other method',
        readerConcurrency: READER_CONCURRENCY,
        repositories: 100,
        branchesPerRepository: 20,
        steadyTicksPerPoint: reps,
        startupRuns,
      },
      scale,
      transports,
      startup,
      core,
      largeMirror,
      push,
      floorPerFollowerUs,
      goals: verdicts,
    };
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);

    const print = (s: string) => process.stdout.write(`${s}\n`);
    print(`\nbranch-follower benchmarks — ${machine.cpuModel}, ${machine.nproc} cores, ${machine.memTotalGiB} GiB, node ${machine.node}, git ${machine.git}, kubectl ${machine.kubectl ?? 'absent'}`);
    print(`load average at start ${machine.loadAverage.join(' ')}, at end ${results.loadAverageAtEnd.join(' ')} (a busy machine bends every figure)\n`);
    print(`1. Observer tick at scale (steady tick: nothing changed; medians of ${reps}; floor = the same ls-remote reads by plain git)\n`);
    print(scaleTable(scale));
    if (transports.length > 0) {
      print(`\n1b. Observer tick over each mirror transport (medians of ${reps}; each floor reads over the tick's transport)\n`);
      print(transportTable([...scale.filter((r) => transportNs.includes(r.n)), ...transports]));
    }
    print(`\n2. Idle tick economy (the steady observer tick and an idle closer tick; peak RSS: the largest of the steady ticks, the closer's one run)\n`);
    print(idleTable(scale));
    print(`\n3. CLI start-up (N=${startup.n}, medians of ${startup.runs} runs after a warm-up run each)\n`);
    print(startupTable(startup));
    const x = (r: number | null): string => (r === null ? 'n/a' : `${r.toFixed(2)}×`);
    print(`\nover kubectl get: branch-follower status ${x(startup.ratio)}, node src/cli.ts status ${x(startup.ratioSrc)}`);
    for (const note of startup.notes) print(`note: ${note}`);
    print(`\n4. Core throughput (in process, ${core.inputs} generated inputs, after a warm-up)\n`);
    print(coreTable(core, floorPerFollowerUs));
    print(`\n5. Large mirror: one branch of a repository with ${largeMirror.refs} refs (pull refs and tags), ${largeMirror.reps} reads each after a warm-up\n`);
    print(refsTable(largeMirror));
    print(`\n7. Push → dispatch (${pushes} pushes per driver; polling: a ${push.schedulePeriodMs / 1000} s schedule, pushes spread over it, plus the measured tick)\n`);
    print(pushTable(push));
    print(`\nGoals\n`);
    print(goalTable(verdicts));
    print(`\nJSON: ${out} (${results.durationSeconds} s in all)`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await world?.cleanup();
  }
};

await main();
