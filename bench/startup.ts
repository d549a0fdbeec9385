// Benchmark 3 (CLI start-up): `branch-follower status -o json` against the API-server double
// versus kubectl listing the same state ConfigMaps from the same double: the least an operator's
// "what is going on" can cost. Runs alternate between the commands; the first of each is a
// warm-up (page cache, Node's compile cache, kubectl's discovery cache: what an operator's
// machine always has), and is not counted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STATE_SELECTOR } from '../src/adapters/kubernetes/labels.ts';
import { measure } from './lib/proc.ts';
import { round, summarize, type Summary } from './lib/stats.ts';
import { BIN, entryCommand, LAUNCHER, type Scenario, type World } from './lib/world.ts';

export type StartupCommand = {
  name: string;
  argv: string[];
  wallMs: Summary;
  maxRssKiB: number | null;
  /** API requests of one run (the last). */
  apiRequests: number;
};

export type StartupResult = {
  n: number;
  runs: number;
  commands: StartupCommand[];
  /** median(branch-follower status, kubernetes) / median(kubectl get): the goal's ratio. */
  ratio: number | null;
  /** The same for `node src/cli.ts status`, which gets the compile cache only for what it imports late. */
  ratioSrc: number | null;
  notes: string[];
};

type Cmd = { name: string; cmd: string; args: string[]; check: (stdout: string) => void };

export const STATUS_BIN = 'branch-follower status -o json (kubernetes)';
export const STATUS_JS = 'node bin/branch-follower.js status -o json (kubernetes; no snapshot)';
export const STATUS_SRC = 'node src/cli.ts status -o json (kubernetes)';
export const KUBECTL = 'kubectl get configmaps -l <state> -o json';

const count = (what: string, want: number, got: number): void => {
  if (got !== want) throw new Error(`${what}: expected ${want} entries, got ${got}`);
};

export const benchStartup = async (
  world: World,
  k8s: Scenario,
  local: Scenario,
  o: { runs: number; kubectl: boolean },
): Promise<StartupResult> => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'bf-bench-kubectl-'));
  const notes: string[] = [];
  try {
    const statusCheck = (s: Scenario) => (stdout: string) => count(`status (${s.driver})`, s.n, (JSON.parse(stdout) as { followers: unknown[] }).followers.length);
    const cmds: Cmd[] = [
      { name: STATUS_BIN, ...entryCommand(k8s.cli(['status', '-o', 'json'], LAUNCHER)), check: statusCheck(k8s) },
      { name: STATUS_JS, cmd: process.execPath, args: k8s.cli(['status', '-o', 'json'], BIN), check: statusCheck(k8s) },
      { name: STATUS_SRC, cmd: process.execPath, args: k8s.cli(['status', '-o', 'json']), check: statusCheck(k8s) },
    ];
    if (o.kubectl) {
      cmds.push({
        name: KUBECTL,
        cmd: 'kubectl',
        args: ['get', 'configmaps', '-n', k8s.namespace, '-l', STATE_SELECTOR, '-o', 'json', '--kubeconfig', world.api.kubeconfigPath, '--cache-dir', cacheDir],
        check: (stdout: string) => count('kubectl get', k8s.n, (JSON.parse(stdout) as { items: unknown[] }).items.length),
      });
    } else notes.push('kubectl is not installed: no ratio');
    cmds.push({ name: 'branch-follower status -o json (local)', ...entryCommand(local.cli(['status', '-o', 'json'], LAUNCHER)), check: statusCheck(local) });
    cmds.push({ name: 'node -e 0 (the floor of any Node CLI)', cmd: process.execPath, args: ['-e', '0'], check: () => undefined });

    const walls = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
    const rss = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
    const api = new Map<string, number>();
    for (let i = 0; i <= o.runs; i++) {
      for (const c of cmds) {
        const before = world.api.requests.count();
        const r = await measure(c.cmd, c.args, { env: world.env, cwd: k8s.dir, node: c.cmd === process.execPath, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`${c.name}: exited ${r.code}: ${r.stderr.slice(0, 500)}`);
        c.check(r.stdout);
        api.set(c.name, world.api.requests.count() - before);
        if (i === 0) continue;
        walls.get(c.name)?.push(r.wallMs);
        if (r.maxRssKiB !== null) rss.get(c.name)?.push(r.maxRssKiB);
      }
    }
    const commands = cmds
      .map((c) => {
        const peaks = rss.get(c.name) ?? [];
        return {
          name: c.name,
          argv: [c.cmd === process.execPath ? 'node' : c.cmd, ...c.args],
          wallMs: summarize(walls.get(c.name) ?? []),
          maxRssKiB: peaks.length ? Math.max(...peaks) : null,
          apiRequests: api.get(c.name) ?? 0,
        };
      });
    const med = (name: string): number | undefined => commands.find((c) => c.name === name)?.wallMs.median;
    const kubectl = med(KUBECTL);
    const ratioOf = (name: string): number | null => {
      const m = med(name);
      return m !== undefined && kubectl !== undefined ? round(m / kubectl, 2) : null;
    };
    return { n: k8s.n, runs: o.runs, commands, ratio: ratioOf(STATUS_BIN), ratioSrc: ratioOf(STATUS_SRC), notes };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
};
