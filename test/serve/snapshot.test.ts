// The one state read every read-only route shares: how a failing state store is asked (once a
// TTL, not once a request) and what the routes answer meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServeWorld, roundRobinFollowers, SERVE_T0, type ServeWorld } from '../support/serve-world.ts';

describe('the cached state read', () => {
  let w: ServeWorld;
  let lists = 0;
  let failing = true;
  beforeAll(async () => {
    w = await createServeWorld(roundRobinFollowers(2), { driver: 'local' });
    const store = w.ctx.ports.store;
    w.ctx.ports.store = {
      ...store,
      list: async () => {
        lists++;
        if (failing) throw new Error('state store down: secret-detail');
        return store.list();
      },
    };
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('a failed first read answers 500 without detail and is tried again only once the TTL passed', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${w.url}/metrics`);
      expect(r.status).toBe(500);
      expect(await r.text()).not.toContain('secret');
    }
    expect((await fetch(`${w.url}/`)).status).toBe(500);
    expect(lists).toBe(1);
    failing = false;
    w.clock.now = SERVE_T0 + 999;
    expect((await fetch(`${w.url}/metrics`)).status).toBe(500);
    expect(lists).toBe(1);
    w.clock.now = SERVE_T0 + 1000;
    expect((await fetch(`${w.url}/metrics`)).status).toBe(200);
    expect(lists).toBe(2);
  });

  it('once a read succeeded, a failing store leaves the last read served, its time telling its age', async () => {
    failing = true;
    w.clock.now = SERVE_T0 + 5000;
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${w.url}/metrics`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain(`branch_follower_state_read_timestamp_seconds ${(SERVE_T0 + 1000) / 1000}`);
    }
    expect((await fetch(`${w.url}/`)).status).toBe(200);
    expect(lists).toBe(3);
  });
});
