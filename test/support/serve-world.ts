// What `serve`'s read-only routes read, made up on purpose: N generic followers in a registry and
// their stored states in every phase, on the API-server double (Kubernetes driver) or in a local
// state directory, served in process by the real server. Shared by the tests and bench/serve.ts.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { armingToData, ARMING_CONFIGMAP, DISARMED, type Arming } from '../../src/core/arming.ts';
import { loadRegistry } from '../../src/adapters/config/registry-file.ts';
import { componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { stateConfigMap } from '../../src/adapters/kubernetes/state-store.ts';
import { createLocalStateStore } from '../../src/adapters/local/state-store.ts';
import { createLocalArmingStore } from '../../src/adapters/local/arming-store.ts';
import { PHASES, type Phase } from '../../src/core/phases.ts';
import { toIso } from '../../src/core/primitives.ts';
import { runName } from '../../src/core/run-name.ts';
import { initialState, transition, type FollowerState } from '../../src/core/state.ts';
import { EMPTY_TALLY } from '../../src/core/tally.ts';
import { compose } from '../../src/loops/compose.ts';
import type { LoopContext } from '../../src/loops/context.ts';
import { serveRoutes } from '../../src/serve/routes.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { startApiServerDouble, type ApiServerDouble, type KubeObject } from './apiserver-double.ts';
import { genericRegistry } from './registry-doc.ts';

export const SERVE_NAMESPACE = 'branch-follower';
/** The shipped registry and owning configs. */
const SHIPPED_CONFIG = join(import.meta.dirname, '..', '..', 'config');
export const SERVE_T0 = Date.parse('2026-03-01T12:00:00.000Z');

/** A full sha made from a number, so tests can name the commits they expect. */
export const shaOf = (i: number): string => (i.toString(16).padStart(8, '0') + 'c0ffee').repeat(4).slice(0, 40);

export type FixtureOptions = { reason?: string; branchNote?: string; now?: number; index?: number };

/**
 * A stored state in `phase` that the schema accepts, with a short history ending in it (as the
 * core writes them) and a tally with a run, a lead time and a Blocked kind where they fit.
 */
export const fixtureState = (id: string, phase: Phase, o: FixtureOptions = {}): FollowerState => {
  const s = fixtureHistory(id, phase, o);
  return { ...s, updatedAt: s.history.at(-1)?.at ?? s.updatedAt };
};

const fixtureHistory = (id: string, phase: Phase, o: FixtureOptions): FollowerState => {
  const now = o.now ?? SERVE_T0;
  const i = o.index ?? 1;
  const old = shaOf(i);
  const sha = shaOf(i + 1000);
  const at = (minutesAgo: number): number => now - minutesAgo * 60_000;
  let s: FollowerState = { ...initialState(id, at(60)), observedSha: old, episode: 1, targetSha: old, lastTriggeredSha: old, lastSucceededSha: old };
  s = transition(s, 'Noop', `target is at ${old.slice(0, 12)}`, at(50));
  s = { ...s, observedSha: sha, episode: 2 };
  const name = runName(id, sha, 2, 1);
  const reason = o.reason ?? `phase ${phase} for ${sha.slice(0, 12)}`;
  const run = { sha, episode: 2, attempt: 1, name, kind: 'Job' as const, startedAt: toIso(at(20)), superseded: false };
  const tally = {
    ...EMPTY_TALLY,
    dispatches: 4,
    results: { succeeded: 2, failed: 1, superseded: 1, blocked: 0 },
    leadTime: { ...EMPTY_TALLY.leadTime, buckets: EMPTY_TALLY.leadTime.buckets.map((_, j) => (j === 2 ? 2 : 0)), sumSeconds: 400, count: 2 },
    observedSince: toIso(at(30)),
    targetSince: toIso(at(50)),
    lastSucceededAt: toIso(at(50)),
  };
  s = { ...s, tally };
  switch (phase) {
    case 'Observed':
    case 'Noop':
    case 'Skipped':
    case 'Blocked':
    case 'Failed':
      s = transition(s, phase === 'Noop' ? 'Observed' : phase, reason, at(5), undefined, phase === 'Blocked' ? 'source-missing' : undefined);
      if (phase === 'Noop') s = { ...transition(s, 'Noop', reason, at(4)), targetSha: sha };
      return { ...s, updatedAt: toIso(at(4)) };
    case 'PendingTrigger':
      return { ...transition({ ...s, pending: { sha, episode: 2, attempt: 1, name, at: toIso(at(1)) } }, 'PendingTrigger', reason, at(1)), attempts: [{ sha, episode: 2, count: 0 }] };
    case 'Triggering':
    case 'ClosingOut':
    case 'Superseded': {
      s = transition({ ...s, pending: { sha, episode: 2, attempt: 1, name, at: toIso(at(21)) } }, 'PendingTrigger', `dispatching ${sha.slice(0, 12)}`, at(21));
      s = transition({ ...s, pending: null, inFlight: run, lastTriggeredSha: sha, attempts: [{ sha, episode: 2, count: 1 }] }, 'Triggering', `dispatched ${name}`, at(20), run);
      if (phase === 'ClosingOut') s = { ...transition(s, 'ClosingOut', reason, at(10), run), checks: [{ check: 'trigger', result: 'SUCCESS', detail: '' }, { check: 'target', result: 'PENDING', detail: 'waiting' }] };
      if (phase === 'Superseded') s = transition({ ...s, inFlight: { ...run, superseded: true }, observedSha: shaOf(i + 2000), episode: 3 }, 'Superseded', reason, at(3), run);
      return s;
    }
    case 'Succeeded':
      s = transition({ ...s, pending: null, inFlight: run, lastTriggeredSha: sha, attempts: [{ sha, episode: 2, count: 1 }] }, 'Triggering', `dispatched ${name}`, at(20), run);
      return { ...transition({ ...s, inFlight: null, lastSucceededSha: sha, targetSha: sha }, 'Succeeded', reason, at(2), run) };
  }
};

export type ServeFollower = { id: string; repo: string; branch: string; phase: Phase | null; reason?: string; adapter?: string };

/** `n` followers, their phases going round every phase (and one with no state yet). */
export const roundRobinFollowers = (n: number): ServeFollower[] =>
  Array.from({ length: n }, (_, i) => ({ id: `app-${String(i).padStart(4, '0')}`, repo: `acme/repo-${i % 100}`, branch: `release/${i}`, phase: i === n - 1 && n > PHASES.length ? null : (PHASES[i % PHASES.length] as Phase) }));

export type ServeWorld = {
  dir: string;
  registryPath: string;
  api: ApiServerDouble | null;
  stateDir: string;
  ctx: LoopContext;
  server: RunningServer;
  url: string;
  /** The clock the routes see; tests move it to play time passing. */
  clock: { now: number };
  states: ReadonlyMap<string, FollowerState>;
  cleanup(): Promise<void>;
};

/**
 * A registry of generic followers (file targets, never read: the routes only read the store),
 * their states stored on the driver's store, and the routes of `serve` on a free port.
 */
export const createServeWorld = async (followers: readonly ServeFollower[], o: ServeWorldOptions): Promise<ServeWorld> => {
  const dir = await mkdtemp(join(tmpdir(), 'bf-serve-'));
  const now = o.now ?? SERVE_T0;
  const lanes = Object.fromEntries(followers.map((f) => [f.id, { source: { repo: f.repo, branch: f.branch }, target: { reader: 'file', path: `deployed/${f.id}` } }]));
  await writeFile(join(dir, 'lanes.yaml'), stringify({ lanes }));
  const registryPath = join(dir, 'cicd-branch-followers.yaml');
  const doc = genericRegistry({
    driver: o.driver,
    namespace: SERVE_NAMESPACE,
    readUrl: `file://${join(dir, 'mirror')}`,
    budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 },
    followers: followers.map((f) => ({ id: f.id })),
    command: (id) => ['deploy', '--follower', id],
  });
  await writeFile(registryPath, stringify(doc));
  const states = followers.flatMap((f, i) => (f.phase ? [fixtureState(f.id, f.phase, { index: i + 1, now, ...(f.reason !== undefined ? { reason: f.reason } : {}) })] : []));
  return serveStates(dir, registryPath, states, o);
};

export type ServeWorldOptions = { driver: 'kubernetes' | 'local'; arming?: Arming; now?: number; realClock?: boolean };

/** The shipped registry and owning configs (the three seed followers), copied, with these states stored. */
export const createSeedServeWorld = async (states: readonly FollowerState[], o: ServeWorldOptions): Promise<ServeWorld> => {
  const dir = await mkdtemp(join(tmpdir(), 'bf-serve-seeds-'));
  const configDir = join(dir, 'config');
  await cp(SHIPPED_CONFIG, configDir, { recursive: true });
  await rm(join(configDir, '.branch-follower'), { recursive: true, force: true });
  return serveStates(dir, join(configDir, 'cicd-branch-followers.yaml'), states, o);
};

/** Stores `states` (and the arming) on the driver's store and serves the registry at `registryPath`. */
export const serveStates = async (dir: string, registryPath: string, stored: readonly FollowerState[], o: ServeWorldOptions): Promise<ServeWorld> => {
  const clock = { now: o.now ?? SERVE_T0 };
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { recursive: true });
  const states = new Map(stored.map((s) => [s.id, s]));
  const arming = o.arming ?? DISARMED;
  let api: ApiServerDouble | null = null;
  if (o.driver === 'kubernetes') {
    api = await startApiServerDouble();
    for (const s of states.values()) api.store.put('configmaps', stateConfigMap(SERVE_NAMESPACE, s) as KubeObject);
    api.store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ARMING_CONFIGMAP, namespace: SERVE_NAMESPACE, labels: componentLabels('arming') }, data: armingToData(arming) });
  } else {
    const store = createLocalStateStore(stateDir);
    for (const s of states.values()) await store.create(s);
    await createLocalArmingStore(stateDir).write(arming, null);
  }
  const loaded = await loadRegistry(registryPath);
  const ctx = await compose({
    loaded,
    driver: o.driver,
    dryRun: true,
    stateDir,
    log: () => {},
    env: {},
    now: o.realClock ? () => Date.now() : () => clock.now,
    ...(api ? { kubeconfig: api.kubeconfigPath, namespace: SERVE_NAMESPACE } : {}),
  });
  const stop = new AbortController();
  const server = await startServer({ routes: serveRoutes({ loop: ctx, driver: o.driver, env: {}, log: () => {}, signal: stop.signal }), host: '127.0.0.1', port: 0, log: () => {} });
  return {
    dir,
    registryPath,
    api,
    stateDir,
    ctx,
    server,
    url: `http://127.0.0.1:${server.port}`,
    clock,
    states,
    async cleanup() {
      stop.abort();
      await server.close();
      await api?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
