// A tick killed after the write that won a transition and before it announced it: a later tick
// delivers the announcement from the outbox, so there is exactly one event and one
// notification (one key) in the end. The real loops over each driver's real stores: the local
// state directory, and the Kubernetes driver over HTTP to the API-server double (whose fault
// injection also fails the Event create). Crashes come from the model's tap: every call of the
// crashed tick fails from then on, like a dead process.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { eventKey, OUTBOX_GRACE_SECONDS } from '../../src/core/outbox.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';
import { Figures } from '../support/model-figures.ts';
import { createK8sModelWorld, type K8sModelDriver } from '../support/model-k8s-driver.ts';
import { createLocalModelWorld, scratchRoot } from '../support/model-local-driver.ts';
import { T0, writeModelRegistry, type World } from '../support/model-world.ts';
import type { CrashPlan } from '../support/model-tap.ts';

let dir: string;
let loaded: LoadedRegistry;
let api: ApiServerDouble;
let kc: KubeConnection;
const clockRef = { current: { t: T0 } };

beforeAll(async () => {
  dir = await mkdtemp(join(scratchRoot(), 'bf-outbox-registry-'));
  loaded = await writeModelRegistry(dir);
  api = await startApiServerDouble({ now: () => new Date(clockRef.current.t), managedFields: false });
  kc = api.connection();
});
afterAll(async () => {
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

const worlds: Record<'local' | 'kubernetes', () => Promise<World>> = {
  local: async () => (await createLocalModelWorld(loaded, new Figures('local'))).world,
  kubernetes: () => createK8sModelWorld(api, kc, clockRef, loaded, new Figures('kubernetes')),
};

/** Brings follower 0 to a run that the closer will find Succeeded. */
const runToSuccess = async (world: World): Promise<string> => {
  const f = world.follower(0);
  await world.changeArming({ kind: 'all' });
  await world.tick('observer', null, null);
  const branch = world.mirror.branchOf(f.repo, f.branch);
  if (!branch) throw new Error('no branch for the follower');
  world.mirror.push(branch);
  await world.tick('observer', null, null);
  expect(await world.finishFollowerRun(0, true)).toBe(true);
  return f.id;
};

const storedState = (world: World, id: string) => {
  const s = world.driver.readStates().find((x) => x.id === id);
  if (!s || 'corrupt' in s) throw new Error(`no state for ${id}`);
  return s.state;
};

for (const driver of ['local', 'kubernetes'] as const) {
  describe(`the outbox across a crash (${driver} driver)`, () => {
    const cases: { name: string; crash: CrashPlan; eventsFail?: boolean }[] = [
      { name: 'killed before its first events.emit', crash: { call: 'events.emit', nth: 1, when: 'before' } },
      { name: 'killed before its first notifier.notify (the event went out)', crash: { call: 'notifier.notify', nth: 1, when: 'before' } },
      { name: 'killed after its notification went out, before removing it from the outbox', crash: { call: 'notifier.notify', nth: 1, when: 'after' } },
      ...(driver === 'kubernetes' ? [{ name: 'failed by the API server on its Event create (500), then killed before notifier.notify', crash: { call: 'notifier.notify', nth: 1, when: 'before' } as CrashPlan, eventsFail: true }] : []),
    ];
    for (const c of cases) {
      it(`a closer that won Succeeded and was ${c.name}: a later tick delivers it; one event and one notification in the end`, async () => {
        const world = await worlds[driver]();
        try {
          const id = await runToSuccess(world);
          const sentBefore = world.notes.sent.length;
          if (c.eventsFail) (world.driver as K8sModelDriver).inject({ kind: '500', resource: 'events', verb: 'create', times: 20, retryAfter: 0 });
          await world.tick('closer', c.crash, null);
          const state = storedState(world, id);
          expect(state.phase).toBe('Succeeded');
          const succeeded = state.history.at(-1);
          if (!succeeded) throw new Error('no transition');
          const key = eventKey(id, succeeded);
          // The transition's announcements were written with it, in the same write.
          expect(state.outbox?.items.map((i) => i.kind)).toEqual(['event', 'notification']);
          const ours = () => world.notes.sent.slice(sentBefore).filter((n) => n.id === id && n.phase === 'Succeeded');
          const events = async () => (await world.driver.readEvents(id)).filter((t) => eventKey(id, t) === key);
          // A tick within the grace leaves the dead tick's items alone (a live one would still be delivering them).
          await world.tick('observer', null, null);
          expect(storedState(world, id).outbox?.items.length ?? 0).toBeGreaterThan(0);
          // Any later tick delivers what it left once the grace is over (the observer here); an
          // API server that still fails the Event create only delays it.
          for (let round = 0; round < 4 && storedState(world, id).outbox; round++) {
            world.clock.t += (OUTBOX_GRACE_SECONDS + 1) * 1000;
            await world.tick('observer', null, null);
          }
          expect(storedState(world, id).outbox).toBeUndefined();
          expect(await events()).toHaveLength(1);
          // Exactly one notification by key; sent twice only when the dead tick had sent it already.
          expect(new Set(ours().map((n) => n.idempotencyKey))).toEqual(new Set([`${succeeded.run}/Succeeded`]));
          expect(ours()).toHaveLength(c.crash.when === 'after' ? 2 : 1);
        } finally {
          await world.driver.close();
        }
      });
    }
  });
}
