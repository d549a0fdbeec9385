// `branch-follower serve --driver local` as a subprocess: /metrics and the pages from the state
// directory, and a state written by a tick shows on the next read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStateStore } from '../../src/adapters/local/state-store.ts';
import { transition } from '../../src/core/state.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { createServeWorld, roundRobinFollowers, type ServeWorld } from '../support/serve-world.ts';

describe('branch-follower serve --driver local', () => {
  let w: ServeWorld;
  let s: ServeProcess;
  beforeAll(async () => {
    w = await createServeWorld(roundRobinFollowers(4), { driver: 'local' });
    s = await startServe(['--registry', w.registryPath, '--driver', 'local', '--state-dir', w.stateDir], { cwd: w.dir });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    await w?.cleanup();
  });

  it('serves the metrics and the pages of the state directory, and a new state on a later read', async () => {
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toContain('branch_follower_phase{follower="app-0001",phase="Noop"} 1');
    expect(metrics).toContain('branch_follower_dispatches_total{follower="app-0003"} 5');
    const index = await (await fetch(`${s.url}/`)).text();
    for (const id of ['app-0000', 'app-0001', 'app-0002', 'app-0003']) expect(index).toContain(`href="/followers/${id}"`);
    const one = await fetch(`${s.url}/followers/app-0002`);
    expect(one.status).toBe(200);
    expect(await one.text()).toContain('PendingTrigger');

    // A tick moves app-0001 from Noop to Skipped; the server reads it once its last read is a second old.
    const store = createLocalStateStore(w.stateDir);
    const got = await store.get('app-0001');
    if (!got || !('state' in got)) throw new Error('no state for app-0001');
    await store.update(transition(got.state, 'Skipped', 'disarmed: kill switch is on', Date.now()), got.version);
    let seen = '';
    for (let i = 0; i < 100 && !seen.includes('branch_follower_phase{follower="app-0001",phase="Skipped"} 1'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await (await fetch(`${s.url}/metrics`)).text();
    }
    expect(seen).toContain('branch_follower_phase{follower="app-0001",phase="Skipped"} 1');
    expect(seen).toContain('branch_follower_phase{follower="app-0001",phase="Noop"} 0');
    expect(await s.stop()).toBe(0);
  }, 120_000);
});
