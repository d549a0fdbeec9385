// The installation the benchmarks run against, all on loopback: 100 bare repositories of 20
// branches each, served over three mirror transports (smart HTTP by `git http-backend` from a
// process of its own, git:// by `git daemon`, and file:// straight from disk), the API-server
// double, and one registry per (driver, N, transport) with N generic followers spread over the
// repositories (10 branches of each at N = 1000). Every follower's target already runs its branch's tip and the controller ships
// disarmed, so a tick after the first one finds nothing to do: the steady state of a cluster.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { armingToData, ARMING_CONFIGMAP, DISARMED } from '../../src/core/arming.ts';
import { componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { CONFIG_CACHE_ENV, parsedRegistryConfigMap, readRegistryFiles } from '../../src/adapters/kubernetes/manifests.ts';
import { startApiServerDouble, type ApiServerDouble } from '../../test/support/apiserver-double.ts';
import { createGitFixture, startGitDaemon, type GitDaemon, type GitFixture } from '../../test/support/git-fixtures.ts';
import { startGitServerProcess, type GitServerProcess } from './git-server.ts';

export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
/** The JavaScript launcher (the bundle, or the sources when it is stale): what bin/branch-follower runs without a usable snapshot. */
export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'branch-follower.js');
/** The launcher an operator and the CronJob pods run (`sh bin/branch-follower`): the start-up snapshot when it is current. */
export const LAUNCHER = join(import.meta.dirname, '..', '..', 'bin', 'branch-follower');

/**
 * The command that runs a CLI argv whose first word is the entry (from `Scenario.cli`): Node for a
 * .js or .ts file, sh for the launcher (which execs Node: the measured process is Node itself).
 */
export const entryCommand = (argv: readonly string[]): { cmd: string; args: string[]; node: boolean } =>
  /\.[cm]?[jt]s$/.test(argv[0] ?? '') ? { cmd: process.execPath, args: [...argv], node: true } : { cmd: 'sh', args: [...argv], node: false };
export const REPOS = 100;
export const BRANCHES_PER_REPO = 20;
export const TARGET_ANNOTATION = 'bench.branch-follower.dev/sha';

export type Driver = 'local' | 'kubernetes';
/** How the controller reads the mirror: its `gitMirror.readUrl` scheme. */
export type Transport = 'http' | 'git' | 'file';
export const TRANSPORTS: readonly Transport[] = ['http', 'git', 'file'];

/** One transport of the mirror: its read URL and how many ref reads it has answered so far. */
export type Mirror = {
  url: string;
  /** Ref reads the server answered (`info/refs` over HTTP, upload-pack over git://); null where no server sees them (file://). */
  refReads(): Promise<number | null>;
};
export type FollowerDef = { id: string; repo: string; branch: string };

export type Scenario = {
  driver: Driver;
  n: number;
  transport: Transport;
  dir: string;
  registryPath: string;
  stateDir: string;
  /** The controller namespace on the double (kubernetes) */
  namespace: string;
  followers: FollowerDef[];
  /** Distinct repositories with the branches their followers want: what one tick must read. */
  reads: { repo: string; branches: string[] }[];
  /** The CLI's argv (after `node`) for a verb, with the registry and cluster flags; `entry` defaults to src/cli.ts. */
  cli(verb: readonly string[], entry?: string): string[];
  /**
   * What a tick's environment holds besides NODE_OPTIONS where it runs: a CronJob pod's (kubernetes)
   * points the parsed-config cache at the entries of the parsed registry ConfigMap, as mounted;
   * a host's cron tick (local) keeps them in the user's cache directory ($XDG_CACHE_HOME).
   */
  tickEnv: NodeJS.ProcessEnv;
};

export type World = {
  root: string;
  git: GitFixture;
  /** The mirror over smart HTTP: git http-backend in a process of its own. */
  mirror: GitServerProcess;
  /** The same bare repositories over git:// (`git daemon`). */
  daemon: GitDaemon;
  /** The mirror by transport: the read URL a registry of that transport names. */
  mirrors: Record<Transport, Mirror>;
  api: ApiServerDouble;
  /** The environment every measured process gets (XDG_CACHE_HOME: a directory of this run's). */
  env: NodeJS.ProcessEnv;
  repoName(i: number): string;
  branchName(i: number): string;
  tip(repo: string, branch: string): string;
  /** The registry of N followers on `driver`, reading the mirror over `transport` (default http). */
  scenario(driver: Driver, n: number, transport?: Transport): Promise<Scenario>;
  cleanup(): Promise<void>;
};

const pad = (i: number, w: number): string => String(i).padStart(w, '0');

/** Follower i follows lane floor(i / 100) of repository i mod 100. */
export const followersFor = (n: number, repoName: (i: number) => string, branchName: (i: number) => string): FollowerDef[] =>
  Array.from({ length: n }, (_, i) => ({ id: `f-${pad(i, 4)}`, repo: repoName(i % REPOS), branch: branchName(Math.floor(i / REPOS)) }));

export const readsFor = (followers: readonly FollowerDef[]): { repo: string; branches: string[] }[] => {
  const byRepo = new Map<string, Set<string>>();
  for (const f of followers) byRepo.set(f.repo, (byRepo.get(f.repo) ?? new Set()).add(f.branch));
  return [...byRepo].map(([repo, branches]) => ({ repo, branches: [...branches] }));
};

const mapLimit = async <T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
};

/**
 * The environment of measured processes: this one's, less what would point them elsewhere. The
 * CLI keeps Node's compile cache under $XDG_CACHE_HOME (src/compile-cache.ts): a directory of
 * this run's, empty at first and warmed by the first runs, so every bench run starts alike.
 * NODE_COMPILE_CACHE is removed: Node would then cache every module of every process, which the
 * CLI run as `node src/cli.ts` does not do on its own.
 */
const cleanEnv = (cacheHome: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: cacheHome };
  for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'NODE_OPTIONS', 'NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE', 'BRANCH_FOLLOWER_WEBHOOK_URL']) delete env[k];
  return env;
};

export const createWorld = async (log: (line: string) => void): Promise<World> => {
  const git = await createGitFixture();
  let mirror: GitServerProcess | null = null;
  let daemon: GitDaemon | null = null;
  let api: ApiServerDouble | null = null;
  try {
    const repoName = (i: number): string => `bench/repo-${pad(i, 3)}`;
    const branchName = (i: number): string => `lane-${pad(i, 2)}`;
    const tips = new Map<string, Record<string, string>>();
    const branches = Array.from({ length: BRANCHES_PER_REPO }, (_, b) => branchName(b));
    const started = Date.now();
    await mapLimit(
      Array.from({ length: REPOS }, (_, i) => repoName(i)),
      4,
      async (repo) => {
        tips.set(repo, await git.commitMany(repo, branches));
      },
    );
    log(`seeded ${REPOS} repositories x ${BRANCHES_PER_REPO} branches in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    mirror = await startGitServerProcess(git.mirrorRoot, git.env);
    // No connection limit: the floor reads all 100 repositories at once (git daemon's default of
    // 32 resets the connections beyond it).
    daemon = await startGitDaemon(git.mirrorRoot, git.env, { maxConnections: 0 });
    api = await startApiServerDouble({ anonymousAuth: true, contextNamespace: 'default' });
    const http = mirror;
    const gitDaemon = daemon;
    const mirrors: Record<Transport, Mirror> = {
      http: { url: http.url, refReads: async () => (await http.stats()).infoRefs },
      git: { url: gitDaemon.url, refReads: async () => gitDaemon.uploadPacks() },
      file: { url: git.fileUrl, refReads: async () => null },
    };
    const root = join(git.root, 'bench');
    const world: World = {
      root,
      git,
      mirror,
      daemon,
      mirrors,
      api,
      env: cleanEnv(join(git.root, 'cache')),
      repoName,
      branchName,
      tip(repo, branch) {
        const sha = tips.get(repo)?.[branch];
        if (!sha) throw new Error(`no tip for ${repo}@${branch}`);
        return sha;
      },
      async scenario(driver, n, transport = 'http') {
        const followers = followersFor(n, repoName, branchName);
        // http keeps the names it had before the other transports (docs/performance.md uses them).
        const suffix = transport === 'http' ? '' : `-${transport}`;
        const dir = join(root, `${driver}-n${n}${suffix}`);
        const configDir = join(dir, 'config');
        await mkdir(join(configDir, 'targets'), { recursive: true });
        // Each transport's controller keeps its own states; the targets they read are shared.
        const namespace = `bf-n${n}${suffix}`;
        const targetNamespace = `apps-n${n}`;
        const lanes: Record<string, unknown> = {};
        for (const f of followers) {
          lanes[f.id] = {
            source: { repo: f.repo, branch: f.branch },
            target:
              driver === 'local'
                ? { reader: 'file', path: `targets/${f.id}.sha` }
                : { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'Deployment', namespace: targetNamespace, name: f.id, annotation: TARGET_ANNOTATION },
          };
        }
        await writeFile(join(configDir, 'lanes.yaml'), stringify({ lanes }));
        const registryPath = join(configDir, 'cicd-branch-followers.yaml');
        await writeFile(
          registryPath,
          stringify({
            controller: {
              namespace,
              driver,
              gitMirror: { readUrl: world.mirrors[transport].url },
              source: { repo: 'bench/controller', ref: 'main' },
              schedules: { observer: '* * * * *', closer: '* * * * *' },
              defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
              local: { stateDir: 'state' },
            },
            followers: followers.map((f) => ({
              id: f.id,
              adapter: 'generic',
              source: { configRef: `lanes.yaml#lanes.${f.id}.source` },
              target: { configRef: `lanes.yaml#lanes.${f.id}.target` },
              command: ['/bin/true'],
              checks: ['trigger', 'target'],
            })),
          }),
        );
        const stateDir = join(configDir, 'state');
        if (driver === 'local') {
          await mkdir(stateDir, { recursive: true });
          // What `kill-switch on` leaves behind: a fresh install ships disarmed.
          await writeFile(join(stateDir, 'arming.json'), `${JSON.stringify({ version: 1, data: armingToData(DISARMED) }, null, 2)}\n`);
          await mapLimit(followers, 16, (f) => writeFile(join(configDir, 'targets', `${f.id}.sha`), `${world.tip(f.repo, f.branch)}\n`));
        } else {
          const a = world.api;
          a.store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ARMING_CONFIGMAP, namespace, labels: componentLabels('arming') }, data: armingToData(DISARMED) });
          for (const f of followers) {
            if (a.store.get('deployments', targetNamespace, f.id)) continue;
            a.store.put('deployments', {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: f.id, namespace: targetNamespace, labels: { app: f.id }, annotations: { [TARGET_ANNOTATION]: world.tip(f.repo, f.branch) } },
              spec: { replicas: 1, selector: { matchLabels: { app: f.id } }, template: { metadata: { labels: { app: f.id } }, spec: { containers: [{ name: 'app', image: `registry.example/${f.id}:1` }] } } },
            });
          }
        }
        const clusterFlags = driver === 'kubernetes' ? ['--kubeconfig', world.api.kubeconfigPath] : [];
        const tickEnv: NodeJS.ProcessEnv = {};
        if (driver === 'kubernetes') {
          // What `apply` ships and the kubelet projects into every controller pod.
          const parsedDir = join(dir, 'registry-parsed');
          await mkdir(parsedDir, { recursive: true });
          const cm = parsedRegistryConfigMap(namespace, await readRegistryFiles(registryPath));
          for (const [k, v] of Object.entries(cm.data ?? {})) await writeFile(join(parsedDir, k), v);
          tickEnv[CONFIG_CACHE_ENV] = parsedDir;
        }
        return {
          tickEnv,
          driver,
          n,
          transport,
          dir,
          registryPath,
          stateDir,
          namespace,
          followers,
          reads: readsFor(followers),
          cli: (verb, entry = CLI) => [entry, ...verb, '--registry', registryPath, ...clusterFlags],
        };
      },
      async cleanup() {
        await world.api.close().catch(() => undefined);
        await world.mirror.stop();
        await world.daemon.stop();
        await git.cleanup();
      },
    };
    return world;
  } catch (e) {
    await api?.close().catch(() => undefined);
    await mirror?.stop();
    await daemon?.stop();
    await git.cleanup();
    throw e;
  }
};
