import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';
import { webhookReceiver as receiver } from '../support/webhook-receiver.ts';

const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };

let world: World | null = null;
let server: Server | null = null;
afterEach(async () => {
  await world?.cleanup();
  world = null;
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = null;
});

describe('webhook notifications through the loops', () => {
  it('fire once per (follower, run, phase) on Succeeded, Failed and Blocked, even with racing ticks', async () => {
    const hook = await receiver();
    server = hook.server;
    const w = (world = await createWorld([A]));
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).notify = { webhookUrlEnv: 'BF_TEST_HOOK' };
    });
    const env = { BF_TEST_HOOK: hook.url };
    const tickBoth = async () => {
      // Two closers and two observers at once: only the compare-and-swap winner may notify.
      await Promise.all([w.cli(['tick', 'closer'], { env }), w.cli(['tick', 'closer'], { env })]);
      await Promise.all([w.cli(['tick', 'observer'], { env }), w.cli(['tick', 'observer'], { env })]);
    };
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    const good = await w.git.commit(A.repo, A.branch);
    await tickBoth();
    for (let i = 0; i < 30 && (await w.row(A.id)).lastSucceededSha !== good; i++) await tickBoth();
    await w.failDeploys(A.id, true);
    const bad = await w.git.commit(A.repo, A.branch);
    for (let i = 0; i < 30 && (await w.row(A.id)).phase !== 'Blocked'; i++) await tickBoth();
    for (let i = 0; i < 3; i++) await tickBoth(); // a Blocked follower is not re-announced

    const keys = hook.got.map((g) => g.text.match(/(Succeeded|Failed|Blocked)/)?.[1] ?? '?');
    expect(keys.sort()).toEqual(['Blocked', 'Failed', 'Succeeded']);
    expect(hook.got.find((g) => g.text.includes('Succeeded'))?.text).toContain(good.slice(0, 12));
    expect(hook.got.find((g) => g.text.includes('Blocked'))?.text).toContain(bad.slice(0, 12));
  });

  it('a failing endpoint never fails the tick', async () => {
    const hook = await receiver(500);
    server = hook.server;
    const w = (world = await createWorld([A]));
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).notify = { webhookUrlEnv: 'BF_TEST_HOOK' };
    });
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    const sha = await w.git.commit(A.repo, A.branch);
    const env = { BF_TEST_HOOK: hook.url };
    expect((await w.cli(['tick', 'observer'], { env })).code).toBe(0);
    await tickUntil(w, async () => (await w.row(A.id)).phase === 'Triggering' || (await w.row(A.id)).lastSucceededSha === sha);
    for (let i = 0; i < 20 && (await w.row(A.id)).lastSucceededSha !== sha; i++) {
      expect((await w.cli(['tick', 'closer'], { env })).code).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await w.row(A.id)).lastSucceededSha).toBe(sha);
    expect(hook.got.length).toBeGreaterThanOrEqual(1);
  });
});
