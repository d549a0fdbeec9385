// Issue 10, part 1: a sha the branch comes back to (a rollback, a revert by force-push) is a new
// run. Reproduced as an operator meets it: the local driver, the CLI as a subprocess, a real
// bare repository force-pushed back and forth, a real deploy script, a real webhook receiver.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorld, type World } from '../support/cli-world.ts';
import { webhookReceiver } from '../support/webhook-receiver.ts';

const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };

/** What each test started, stopped after it in reverse order. */
const started: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of started.splice(0).reverse()) await stop();
});
const world = async (maxAttempts: number): Promise<World> => {
  const w = await createWorld([A], { budgets: { maxAttempts } });
  started.push(() => w.cleanup());
  return w;
};

/** Dozens of CLI runs per test (four per racing round): generous on a shared 2-core machine. */
const E2E_TIMEOUT = 300_000;

type Event = { to: string; sha: string | null; attempt: number | null; run?: string | null; episode?: number };

describe('a sha that comes back is a new run (local driver, CLI, real git)', () => {
  it('A ok → B ok → force back to A → B → A: every visit deploys as attempt 1 under its own name, each Succeeded announced once', async () => {
    const hook = await webhookReceiver();
    started.push(() => new Promise((r) => hook.server.close(r)));
    const w = await world(2);
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).notify = { webhookUrlEnv: 'BF_TEST_HOOK' };
    });
    const env = { BF_TEST_HOOK: hook.url };
    // Two closers and two observers at once, every round: racing ticks must not repeat a notification.
    const tickBoth = async (): Promise<void> => {
      await Promise.all([w.cli(['tick', 'closer'], { env }), w.cli(['tick', 'closer'], { env })]);
      await Promise.all([w.cli(['tick', 'observer'], { env }), w.cli(['tick', 'observer'], { env })]);
    };
    const succeeded = async (sha: string): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        await tickBoth();
        const row = await w.row(A.id);
        if (row.phase === 'Succeeded' && row.lastSucceededSha === sha && row.targetSha === sha) return;
        if (row.phase === 'Blocked') throw new Error(`Blocked instead of deploying ${sha.slice(0, 12)} again: ${row.reason}`);
      }
      throw new Error(`${sha.slice(0, 12)} did not succeed: ${(await w.row(A.id)).reason}`);
    };

    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    const a = await w.git.commit(A.repo, A.branch);
    await succeeded(a);
    const b = await w.git.commit(A.repo, A.branch);
    await succeeded(b);
    await w.git.forcePush(A.repo, A.branch, a); // rollback
    await succeeded(a);
    await w.git.forcePush(A.repo, A.branch, b);
    await succeeded(b);
    await w.git.forcePush(A.repo, A.branch, a);
    await succeeded(a);
    // Idle rounds after the last visit: nothing more runs, nothing more is announced.
    for (let i = 0; i < 3; i++) await tickBoth();

    // Each visit ran the deploy once, as attempt 1 of a fresh budget; never "attempts exhausted".
    expect(await w.invocations()).toEqual([a, b, a, b, a].map((sha) => `${A.id} ${sha} 1`));
    const row = await w.row(A.id);
    expect(row).toMatchObject({ phase: 'Succeeded', lastSucceededSha: a, targetSha: a });

    // Five runs, five names: the run of an earlier visit is never the run of a later one.
    const events = (JSON.parse((await w.cli(['events', '--follower', A.id, '-o', 'json'])).stdout) as { events: Event[] }).events;
    const runs = events.filter((e) => e.to === 'Succeeded');
    expect(runs.map((e) => e.sha)).toEqual([a, b, a, b, a]);
    expect(runs.map((e) => e.attempt)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set(runs.map((e) => e.run)).size).toBe(5);
    for (const r of runs) expect(r.run).toMatch(/^bf-hwlab-jd01-v03-[0-9a-f]{12}-e\d+-a1$/);
    expect(events.some((e) => e.to === 'Blocked')).toBe(false);

    // Once per (follower, run, phase): the rollbacks are announced, nothing twice, and each
    // body and request carries the same stable key (run name + phase).
    expect(hook.got.map((h) => [h.body.phase, h.body.sha])).toEqual([a, b, a, b, a].map((sha) => ['Succeeded', sha]));
    expect(hook.got.map((h) => h.body.idempotencyKey)).toEqual(runs.map((r) => `${r.run}/Succeeded`));
    for (const h of hook.got) expect(h.idempotencyKey).toBe(h.body.idempotencyKey);
  }, E2E_TIMEOUT);

  it('a failed sha that the branch leaves and comes back to is tried again, with a fresh budget; within a visit it still ends Blocked', async () => {
    const w = await world(1);
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    const until = async (cond: () => Promise<boolean>): Promise<void> => {
      for (let i = 0; i < 40 && !(await cond()); i++) {
        await w.cli(['tick', 'closer']);
        await w.cli(['tick', 'observer']);
      }
      expect(await cond()).toBe(true);
    };
    await w.failDeploys(A.id, true);
    const bad = await w.git.commit(A.repo, A.branch);
    await until(async () => (await w.row(A.id)).phase === 'Blocked');
    expect((await w.row(A.id)).reason).toContain('attempts exhausted');
    await w.failDeploys(A.id, false);
    const good = await w.git.commit(A.repo, A.branch);
    await until(async () => (await w.row(A.id)).lastSucceededSha === good);
    // Someone moves the branch back on purpose (the fix for `bad` was outside the repository).
    await w.git.forcePush(A.repo, A.branch, bad);
    await until(async () => (await w.row(A.id)).lastSucceededSha === bad);
    expect(await w.invocations()).toEqual([`${A.id} ${bad} 1`, `${A.id} ${good} 1`, `${A.id} ${bad} 1`]);
  }, E2E_TIMEOUT);

  it('a state stored by the previous version (no episodes) is read as one visit and carried on', async () => {
    const w = await world(1);
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.failDeploys(A.id, true);
    const bad = await w.git.commit(A.repo, A.branch);
    for (let i = 0; i < 40 && (await w.row(A.id)).phase !== 'Blocked'; i++) {
      await w.cli(['tick', 'closer']);
      await w.cli(['tick', 'observer']);
    }
    // Rewrite the stored state as the previous version wrote it: no episode and no run anywhere.
    const file = join(w.stateDir, 'state', `${A.id}.json`);
    const strip = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'episode' && k !== 'run').map(([k, x]) => [k, strip(x)])) : v;
    const stored = JSON.parse(await readFile(file, 'utf8')) as unknown;
    await writeFile(file, `${JSON.stringify(strip(stored), null, 2)}\n`);
    expect(await readFile(file, 'utf8')).not.toContain('episode');

    // The same visit goes on: still Blocked (the tick exits 3: a person is needed), nothing
    // dispatched, status and events still read.
    expect((await w.cli(['tick', 'observer'])).code).toBe(3);
    expect(await w.row(A.id)).toMatchObject({ phase: 'Blocked', source: { observedSha: bad } });
    expect((await w.cli(['events', '--follower', A.id])).code).toBe(0);
    expect(await w.invocations()).toEqual([`${A.id} ${bad} 1`]);
    // A new commit starts the next visit, under a name no earlier run can have had.
    await w.failDeploys(A.id, false);
    const fixed = await w.git.commit(A.repo, A.branch);
    for (let i = 0; i < 40 && (await w.row(A.id)).lastSucceededSha !== fixed; i++) {
      await w.cli(['tick', 'closer']);
      await w.cli(['tick', 'observer']);
    }
    const row = await w.row(A.id);
    expect(row).toMatchObject({ phase: 'Succeeded', lastSucceededSha: fixed });
    const events = (JSON.parse((await w.cli(['events', '--follower', A.id, '-o', 'json'])).stdout) as { events: Event[] }).events;
    expect(events.filter((e) => e.to === 'Succeeded').map((e) => e.run)).toEqual([`bf-${A.id}-${fixed.slice(0, 12)}-e2-a1`]);
  }, E2E_TIMEOUT);
});
