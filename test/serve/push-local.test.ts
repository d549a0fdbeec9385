// The push receiver on the local driver, through real HTTP to `branch-follower serve` as a
// subprocess, on real git: each forge's signed push deploys exactly once with no tick run by the
// test (the receiver wakes the observer, and the run's exit wakes the closer); duplicates
// coalesce; unfollowed pushes and bad requests change nothing; with the receiver down the
// schedule still deploys; a poke racing a scheduled tick dispatches once.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorld, type World } from '../support/cli-world.ts';
import { FORGE_KINDS, forgePush, sendHook } from '../support/forge-hooks.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';

const SECRET = 'test-push-secret';
const WEB = { id: 'web-main', repo: 'acme/web', branch: 'main' };
const API = { id: 'api-dev', repo: 'acme/api', branch: 'dev' };

/** Polls `cond` every 100 ms, at most `polls` times (a bound on waiting, not a timing assertion). */
const eventually = async (cond: () => Promise<boolean>, polls = 600): Promise<void> => {
  for (let i = 0; i < polls; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not reached');
};

describe('POST /hooks/push on the local driver', () => {
  let w: World;
  let serve: ServeProcess;
  const ran = async (sha: string): Promise<number> => (await w.invocations()).filter((l) => l.split(' ')[1] === sha).length;

  beforeAll(async () => {
    w = await createWorld([WEB, API]);
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).serve = { enabled: true, push: { secretEnv: 'BF_PUSH_SECRET' } };
    });
    await w.setTarget(WEB.id, await w.git.commit(WEB.repo, WEB.branch));
    await w.setTarget(API.id, await w.git.commit(API.repo, API.branch));
    await w.armAll();
    // The first tick records the followers deployed, so a push is the only thing left to act on.
    expect((await w.cli(['tick', 'observer'])).code).toBe(0);
    serve = await startServe(['--registry', `${w.configDir}/cicd-branch-followers.yaml`], { cwd: w.dir, env: { BF_PUSH_SECRET: SECRET } });
  });
  afterAll(async () => {
    await serve?.stop();
    await w?.cleanup();
  });

  for (const forge of FORGE_KINDS) {
    it(`${forge}: a signed push deploys exactly once and closes out Succeeded, with no tick run by hand`, async () => {
      const sha = await w.git.commit(WEB.repo, WEB.branch);
      const r = await sendHook(serve.url, forgePush(forge, { ...WEB, after: sha, secret: SECRET }));
      expect([r.status, r.text]).toEqual([202, 'observer woken for web-main\n']);
      await eventually(async () => (await w.row(WEB.id)).phase === 'Succeeded' && (await w.row(WEB.id)).lastSucceededSha === sha);
      expect(await ran(sha)).toBe(1);
    });
  }

  it('20 duplicated deliveries of one push (and 20 more under fresh delivery ids) dispatch once, in a few ticks', async () => {
    const sha = await w.git.commit(WEB.repo, WEB.branch);
    const before = serve.stderr().split('\n').filter((l) => l.startsWith('serve: observer web-main:')).length;
    const same = forgePush('github', { ...WEB, after: sha, secret: SECRET, delivery: 'dup-1' });
    const replies = await Promise.all(Array.from({ length: 20 }, () => sendHook(serve.url, same)));
    expect(replies.filter((x) => x.status === 202)).toHaveLength(1);
    expect(replies.filter((x) => x.status === 200 && x.text === 'delivery already received\n')).toHaveLength(19);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => sendHook(serve.url, forgePush('gitea', { ...WEB, after: sha, secret: SECRET }))));
    expect(fresh.every((x) => x.status === 202)).toBe(true);
    await eventually(async () => (await w.row(WEB.id)).lastSucceededSha === sha);
    expect(await ran(sha)).toBe(1);
    const ticks = serve.stderr().split('\n').filter((l) => l.startsWith('serve: observer web-main:')).length - before;
    // 21 pokes: one tick running and at most one waiting at any time, so a handful of ticks at most.
    expect(ticks).toBeGreaterThanOrEqual(1);
    expect(ticks).toBeLessThanOrEqual(4);
  });

  it('a push to a branch or repository no follower follows is acknowledged and changes nothing', async () => {
    const before = await w.snapshotState();
    const other = await w.git.commit(WEB.repo, 'feature/x');
    for (const hook of [forgePush('github', { repo: WEB.repo, branch: 'feature/x', after: other, secret: SECRET }), forgePush('gitlab', { repo: 'someone/else', branch: 'main', after: other, secret: SECRET })]) {
      const r = await sendHook(serve.url, hook);
      expect([r.status, r.text]).toEqual([200, 'ignored: no follower follows this repository and branch\n']);
    }
    expect(await ran(other)).toBe(0);
    expect(await w.snapshotState()).toEqual(before);
  });

  it('bad input gets its 4xx (or 202 for a non-push event) and no effect; the log never echoes the payload', async () => {
    const before = await w.snapshotState();
    const sha = await w.git.commit(API.repo, API.branch);
    const good = forgePush('github', { ...API, after: sha, secret: SECRET });
    const bad = async (headers: Record<string, string>, body: string | Buffer): Promise<number> => (await fetch(`${serve.url}/hooks/push`, { method: 'POST', headers, body })).status;
    const { 'x-hub-signature-256': _sig, ...unsigned } = good.headers;
    expect(await bad(unsigned, good.body)).toBe(401);
    expect(await bad({ ...good.headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, good.body)).toBe(401);
    // The right signature over other bytes (a body changed in transit).
    expect(await bad(good.headers, good.body.replace('"dev"', '"DEV"'))).toBe(401);
    expect(await bad(forgePush('gitlab', { ...API, after: sha, secret: 'wrong' }).headers, good.body)).toBe(401);
    const issue = forgePush('github', { ...API, after: sha, secret: SECRET, event: 'issues' });
    expect(await sendHook(serve.url, issue)).toEqual({ status: 202, text: 'ignored: not a push event\n' });
    const notJson = '{"ref": refs/heads/dev SECRET-PAYLOAD-TEXT';
    expect(await bad({ ...unsigned, 'x-hub-signature-256': `sha256=${(await import('../../src/serve/push-auth.ts')).signBody(notJson, SECRET)}` }, notJson)).toBe(400);
    const huge = Buffer.alloc(1024 * 1024 + 10, 32);
    expect(await bad(good.headers, huge)).toBe(413);
    expect(await ran(sha)).toBe(0);
    expect(await w.snapshotState()).toEqual(before);
    expect(serve.stderr()).not.toContain('SECRET-PAYLOAD-TEXT');
    expect(serve.stderr()).not.toContain(SECRET);
    // A replay of an accepted delivery: 200, no second poke.
    expect((await sendHook(serve.url, good)).status).toBe(202);
    expect(await sendHook(serve.url, good)).toEqual({ status: 200, text: 'delivery already received\n' });
    await eventually(async () => (await w.row(API.id)).lastSucceededSha === sha);
    expect(await ran(sha)).toBe(1);
  });

  it('a poke racing scheduled ticks dispatches once', async () => {
    const sha = await w.git.commit(WEB.repo, WEB.branch);
    const [hook] = await Promise.all([sendHook(serve.url, forgePush('github', { ...WEB, after: sha, secret: SECRET })), w.cli(['tick', 'observer']), w.cli(['tick', 'observer'])]);
    expect(hook.status).toBe(202);
    await eventually(async () => (await w.row(WEB.id)).lastSucceededSha === sha);
    expect(await ran(sha)).toBe(1);
  });

  it("the README's post-receive hook on the mirror, on a real git push, deploys the push once", async () => {
    const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const script = [...readme.matchAll(/```sh\n(#!\/bin\/sh\n# post-receive[\s\S]*?)```/g)][0]?.[1];
    expect(script, 'README carries the post-receive hook').toBeDefined();
    const hooks = join(w.git.mirrorRoot, `${WEB.repo}.git`, 'hooks');
    await writeFile(join(hooks, 'readme-post-receive'), script!, { mode: 0o755 });
    await writeFile(join(hooks, 'post-receive'), `#!/bin/sh\nexport BRANCH_FOLLOWER_PUSH_SECRET='${SECRET}' BRANCH_FOLLOWER_SERVE_URL='${serve.url}'\nexec "$(dirname "$0")/readme-post-receive"\n`, { mode: 0o755 });
    try {
      const sha = await w.git.commit(WEB.repo, WEB.branch);
      await eventually(async () => (await w.row(WEB.id)).lastSucceededSha === sha);
      expect(await ran(sha)).toBe(1);
      expect(serve.stderr()).toContain(`serve: push "acme/web" "refs/heads/main" ${sha.slice(0, 12)} (generic)`);
    } finally {
      await rm(join(hooks, 'post-receive'), { force: true });
    }
  });

  it('with the receiver down, a push is not lost: the schedule deploys it', async () => {
    expect(await serve.stop()).toBe(0);
    const sha = await w.git.commit(WEB.repo, WEB.branch);
    await expect(sendHook(serve.url, forgePush('github', { ...WEB, after: sha, secret: SECRET }))).rejects.toThrow();
    expect((await w.cli(['tick', 'observer'])).code).toBe(0);
    await eventually(async () => {
      await w.cli(['tick', 'closer']);
      return (await w.row(WEB.id)).lastSucceededSha === sha;
    }, 100);
    expect(await ran(sha)).toBe(1);
  });
});

describe('serve with controller.serve.push but no secret in its environment', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld([WEB]);
    await w.writeRegistry((reg) => {
      (reg.controller as Record<string, unknown>).serve = { enabled: true, push: { secretEnv: 'BF_PUSH_SECRET_UNSET' } };
    });
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('refuses to start (exit 2), naming the variable', async () => {
    const r = await w.cli(['serve', '--listen', '127.0.0.1:0'], { env: { BF_PUSH_SECRET_UNSET: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BF_PUSH_SECRET_UNSET');
  });

  it('without controller.serve.push there is no /hooks/push', async () => {
    await w.writeRegistry();
    const s = await startServe(['--registry', `${w.configDir}/cicd-branch-followers.yaml`], { cwd: w.dir });
    try {
      expect((await fetch(`${s.url}/hooks/push`, { method: 'POST', body: '{}' })).status).toBe(404);
    } finally {
      await s.stop();
    }
  });
});
