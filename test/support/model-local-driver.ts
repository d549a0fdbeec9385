// The local driver in the model-based fault suite: its real state store, arming store and event
// sink on a state directory (tmpfs when the machine has one), and the controlled in-memory
// dispatcher in place of detached processes.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { createLocalMirrorHoldStore } from '../../src/adapters/local/mirror-hold-store.ts';
import { createLocalArmingStore } from '../../src/adapters/local/arming-store.ts';
import { createLocalEventSink } from '../../src/adapters/local/events.ts';
import { createLocalStateStore } from '../../src/adapters/local/state-store.ts';
import type { Arming } from '../../src/core/arming.ts';
import { toIso } from '../../src/core/primitives.ts';
import { FollowerState, type Transition } from '../../src/core/state.ts';
import { createModelDispatcher } from './model-dispatcher.ts';
import type { Figures } from './model-figures.ts';
import { Mirror, Notifications, Targets } from './model-fakes.ts';
import type { ArmingModel } from './model-oracle.ts';
import { MODEL_FOLLOWERS, T0, World, type ModelDriver, type RawStored } from './model-world.ts';

/** A scratch directory on tmpfs when there is one: the local stores fsync every write. */
export const scratchRoot = (): string => (existsSync('/dev/shm') && statSync('/dev/shm').isDirectory() ? '/dev/shm' : tmpdir());

export const armingOf = (a: ArmingModel & { kind: 'ok' }, now: number): Arming => ({
  killSwitch: { on: a.killSwitch, by: 'model', at: toIso(now), reason: 'model-based fault suite' },
  allowlist: a.allow.map((id) => ({ id, by: 'model', at: toIso(now), reason: '' })),
});

const readStatesSync = (dir: string): RawStored[] => {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: RawStored[] = [];
  for (const n of names.sort()) {
    const m = /^([a-z0-9-]+)\.json$/.exec(n);
    if (!m?.[1]) continue;
    const id = m[1];
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(join(dir, n), 'utf8'));
    } catch (e) {
      out.push({ id, version: '?', corrupt: `not JSON: ${(e as Error).message}` });
      continue;
    }
    const env = raw as { version?: unknown; state?: unknown };
    const parsed = FollowerState.safeParse(env.state);
    if (typeof env.version !== 'number') out.push({ id, version: '?', corrupt: 'no version' });
    else if (!parsed.success) out.push({ id, version: String(env.version), corrupt: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    else if (parsed.data.id !== id) out.push({ id, version: String(env.version), corrupt: `id ${parsed.data.id} in ${n}` });
    else out.push({ id, version: String(env.version), state: parsed.data });
  }
  return out;
};

const fingerprintDir = (dir: string, h: ReturnType<typeof createHash>): void => {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    h.update(`${p}\0`);
    if (e.isDirectory()) fingerprintDir(p, h);
    else h.update(readFileSync(p));
  }
};

export type LocalModel = { world: World; stateDir: string };

/** A fresh world on the local driver: an empty state directory, the branches at their first commit. */
export const createLocalModelWorld = async (loaded: LoadedRegistry, figures: Figures): Promise<LocalModel> => {
  const stateDir = await mkdtemp(join(scratchRoot(), 'bf-model-local-'));
  await mkdir(join(stateDir, 'state'), { recursive: true });
  const clock = { t: T0 };
  const dispatcher = createModelDispatcher(() => clock.t);
  const rawStore = createLocalStateStore(stateDir);
  const rawArming = createLocalArmingStore(stateDir);
  const events = createLocalEventSink(stateDir);
  const armingFile = join(stateDir, 'arming.json');

  const driver: ModelDriver = {
    kind: 'local',
    ports: () => ({
      store: createLocalStateStore(stateDir),
      arming: createLocalArmingStore(stateDir),
      holds: createLocalMirrorHoldStore(stateDir),
      dispatcher,
      events: createLocalEventSink(stateDir),
      logs: { logs: async () => '' },
    }),
    runs: () =>
      [...dispatcher.runs.values()].map((r) => ({
        name: r.name,
        followerId: r.followerId,
        sha: r.sha,
        episode: r.episode,
        attempt: r.attempt,
        uid: `${r.name}#${r.serial}`,
        running: r.status === 'running',
        succeeded: r.status === 'succeeded',
      })),
    finishRun: async (name, ok) => dispatcher.finish(name, ok),
    async writeArming(a) {
      if (a.kind === 'malformed') {
        await writeFile(armingFile, '{"version": 7, "data": {"killSwitch": "{not json"}}\n');
        return;
      }
      if (a.kind === 'absent') {
        await rm(armingFile, { force: true });
        return;
      }
      const cur = await rawArming.read();
      await rawArming.write(armingOf(a, clock.t), cur.version);
    },
    readStates: () => readStatesSync(join(stateDir, 'state')),
    readEvents: async (id): Promise<Transition[]> => (await events.list(id)).map(({ id: _id, source: _source, ...t }) => t),
    async racingWrite(id) {
      const s = await rawStore.get(id);
      if (!s || !('state' in s)) return false;
      await rawStore.update(s.state, s.version);
      return true;
    },
    async fingerprint() {
      const h = createHash('sha256');
      fingerprintDir(stateDir, h);
      h.update(JSON.stringify([...dispatcher.runs.values()]));
      return h.digest('hex');
    },
    settle: async () => {},
    faultsSeen: () => 0,
    clearFaults: () => {},
    close: () => rm(stateDir, { recursive: true, force: true }),
  };

  const mirror = new Mirror(MODEL_FOLLOWERS.map((f) => ({ repo: f.repo, branch: f.branch })));
  const targets = new Targets();
  // web starts deployed at its branch head, api with nothing deployed, tools at an old sha.
  for (const f of MODEL_FOLLOWERS) {
    const head = mirror.branchOf(f.repo, f.branch)?.head ?? null;
    targets.set(f.id, f.id === 'web' ? head : f.id === 'api' ? null : 'f'.repeat(40));
  }
  const initial: ArmingModel = { kind: 'ok', killSwitch: false, allow: MODEL_FOLLOWERS.map((f) => f.id) };
  await driver.writeArming(initial);
  const world = new World({ driver, loaded, mirror, targets, notes: new Notifications(), clock, figures }, initial);
  return { world, stateDir };
};
