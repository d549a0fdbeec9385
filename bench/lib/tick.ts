// One tick as the CronJob runs it (a whole `sh bin/branch-follower tick ...` process, which starts
// Node from the start-up snapshot in dist/: the bench builds it first), with what it cost
// on the wire, and the floor it is measured against: the same `git ls-remote` reads by plain git.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { TICK_METRICS_FILE } from '../../src/adapters/local/tick-log.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verb } from '../../test/support/apiserver-double.ts';
import { HEAP_NODE_OPTIONS, NODE_FLAGS_ENV, TICK_NODE_FLAGS, TICK_NODE_OPTIONS } from '../../src/adapters/kubernetes/manifests.ts';
import { measure, run } from './proc.ts';
import { entryCommand, LAUNCHER, type Scenario, type Transport, type World } from './world.ts';

export type ApiCount = { byVerb: Partial<Record<Verb, number>>; reads: number; writes: number; total: number };

export type TickRun = {
  wallMs: number;
  maxRssKiB: number | null;
  /** Ref reads the mirror answered (`info/refs` over HTTP, upload-pack over git://); null over file://, which no server sees. */
  refReads: number | null;
  api: ApiCount;
  phases: Record<string, number>;
  /** State files created or changed (local driver). */
  stateFilesWritten: number;
};

/**
 * Files under the state directory with their mtime and size, to tell which a tick wrote. The
 * tick's own metrics file (and its lock) is left out: every tick adds itself to it by design, once.
 */
const snapshot = async (dir: string): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (d === dir && (e.name === TICK_METRICS_FILE || e.name === 'tick-metrics.lock')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p).catch(() => null);
        if (s) out.set(p, `${s.mtimeMs}:${s.size}`);
      }
    }
  };
  await walk(dir);
  return out;
};

const changed = (before: Map<string, string>, after: Map<string, string>): number => {
  let n = 0;
  for (const [p, v] of after) if (before.get(p) !== v) n++;
  return n;
};

/** One tick of the launcher, as the CronJob runs it (or of `entry`, e.g. src/cli.ts) in `env`. */
export const runTick = async (
  world: World,
  s: Scenario,
  loop: 'observer' | 'closer',
  expectPhase: string | null,
  o: { env?: NodeJS.ProcessEnv; entry?: string } = {},
): Promise<TickRun> => {
  // The Node options the CronJobs give a tick (k8s/cronjobs.yaml): NODE_OPTIONS, and the V8 tiers
  // (TICK_NODE_FLAGS) through the launcher's BRANCH_FOLLOWER_NODE_FLAGS, or on the command line
  // of a .js entry. The sources (a .ts entry) keep the full JIT, as before.
  const entry = o.entry ?? LAUNCHER;
  // BF_BENCH_TICK_NODE_OPTIONS and BF_BENCH_TICK_NODE_FLAGS try others (A/B of changes 19 to 21).
  const tickOptions = process.env['BF_BENCH_TICK_NODE_OPTIONS'] || TICK_NODE_OPTIONS;
  const tickFlags = (process.env['BF_BENCH_TICK_NODE_FLAGS'] ?? TICK_NODE_FLAGS).split(' ').filter(Boolean);
  const sources = entry.endsWith('.ts');
  const env = {
    ...(o.env ?? world.env),
    ...s.tickEnv,
    NODE_OPTIONS: sources ? HEAP_NODE_OPTIONS : tickOptions,
    [NODE_FLAGS_ENV]: sources ? '' : tickFlags.join(' '),
  };
  const mirror = world.mirrors[s.transport];
  const mirrorBefore = await mirror.refReads();
  const apiBefore = world.api.requests.count();
  const filesBefore = s.driver === 'local' ? await snapshot(s.stateDir) : null;
  const c = entryCommand(s.cli(['tick', loop, '-o', 'json'], entry));
  const args = c.node && !sources ? [...tickFlags, ...c.args] : c.args;
  const r = await measure(c.cmd, args, { env, cwd: s.dir, node: c.node, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`tick ${loop} (${s.driver}, N=${s.n}) exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  const report = JSON.parse(r.stdout) as { followers: { id: string; phase: string | null; error: string | null }[]; stoppedAtDeadline: boolean };
  const phases: Record<string, number> = {};
  for (const f of report.followers) phases[f.phase ?? 'null'] = (phases[f.phase ?? 'null'] ?? 0) + 1;
  // A benchmark of a tick that did the wrong thing measures nothing: check it did the right one.
  const bad = report.followers.filter((f) => f.error || (expectPhase !== null && f.phase !== expectPhase));
  const expected = loop === 'observer' ? s.n : report.followers.length;
  if (bad.length > 0 || report.followers.length !== expected || report.stoppedAtDeadline) {
    throw new Error(`tick ${loop} (${s.driver}, N=${s.n}) did not do what the scenario expects: ${JSON.stringify({ phases, stoppedAtDeadline: report.stoppedAtDeadline, sample: bad.slice(0, 3) })}`);
  }
  const calls = world.api.requests.all().slice(apiBefore);
  const byVerb: Partial<Record<Verb, number>> = {};
  for (const c of calls) byVerb[c.verb] = (byVerb[c.verb] ?? 0) + 1;
  const writes = calls.filter((c) => c.method !== 'GET').length;
  const refReads = readsSince(mirrorBefore, await mirror.refReads());
  return {
    wallMs: r.wallMs,
    maxRssKiB: r.maxRssKiB,
    refReads,
    api: { byVerb, reads: calls.length - writes, writes, total: calls.length },
    phases,
    stateFilesWritten: filesBefore ? changed(filesBefore, await snapshot(s.stateDir)) : 0,
  };
};

const readsSince = (before: number | null, after: number | null): number | null => (before === null || after === null ? null : after - before);

export type FloorRun = {
  wallMs: number;
  reads: number;
  refReads: number | null;
  /** Reads run again after their connection was reset (git://, see runFloor). */
  resets: number;
};

/** Attempts of one git:// read of the floor, past a reset connection (see runFloor). */
const GIT_READ_ATTEMPTS = 3;
const RETRY_MARK = 'bf-bench: read again after a reset:';
/** `sh -c` body: one `git ls-remote` read, run again (up to GIT_READ_ATTEMPTS) when it fails. */
const RETRYING_LS_REMOTE = `for i in $(seq ${GIT_READ_ATTEMPTS}); do git -c protocol.version=2 ls-remote -- "$@" && exit 0; [ "$i" -lt ${GIT_READ_ATTEMPTS} ] && echo "${RETRY_MARK} $1" >&2; done; exit 1`;

/**
 * The physical floor of a tick's source reads: the same repositories and branches read by plain
 * `git ls-remote` over the same transport, `concurrency` at a time (0: all at once), run by
 * `xargs -P` and timed from its start to its exit. No Node, no registry, no state: only git and the mirror.
 *
 * `git daemon` listens with a backlog of 5 (`ss -ltn`): a burst of connections, all 100 at once
 * on a loaded machine, overflows its accept queue and the kernel resets some of them (SYN
 * cookies, then no room to accept: "Connection reset by peer"; the daemon never sees them). Over
 * git:// a read that fails is therefore run again, as a client would, and counted in `resets`;
 * the floor includes the time.
 */
export const runFloor = async (world: World, reads: Scenario['reads'], concurrency: number, transport: Transport = 'http'): Promise<FloorRun> => {
  const cwd = await mkdtemp(join(tmpdir(), 'bf-bench-floor-'));
  const mirror = world.mirrors[transport];
  try {
    const before = await mirror.refReads();
    const input = reads.map(({ repo, branches }) => [`${mirror.url}/${repo}.git`, ...branches.map((b) => `refs/heads/${b}`)].join(' ')).join('\n');
    const read = transport === 'git' ? ['sh', '-c', RETRYING_LS_REMOTE, 'sh'] : ['git', '-c', 'protocol.version=2', 'ls-remote', '--'];
    const r = await run('xargs', ['-P', String(concurrency), '-L', '1', ...read], { env: world.git.env, cwd, timeoutMs: 300_000, input: `${input}\n` });
    const want = reads.reduce((n, x) => n + x.branches.length, 0);
    const got = r.stdout.split('\n').filter(Boolean).length;
    if (r.code !== 0 || got !== want) throw new Error(`floor: xargs git ls-remote over ${transport} exited ${r.code} with ${got} of ${want} refs: ${r.stderr.slice(0, 1000)}`);
    const resets = r.stderr.split('\n').filter((l) => l.startsWith(RETRY_MARK)).length;
    return { wallMs: r.wallMs, reads: reads.length, refReads: readsSince(before, await mirror.refReads()), resets };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
};
