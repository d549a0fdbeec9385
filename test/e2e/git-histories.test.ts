// Real git histories end to end through the CLI: SHA-256 mirrors on both drivers and all three
// transports, a mirror whose object format changes under its followers, every branch name git
// accepts, and a mirror that asks for back-pressure.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runName } from '../../src/core/run-name.ts';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';
import { LABEL_SHA, NAMESPACE, createK8sWorld, tickUntil as k8sTickUntil, type K8sWorld } from '../support/k8s-world.ts';

const SHA256 = /^[0-9a-f]{64}$/;

let worlds: (World | K8sWorld)[] = [];
afterEach(async () => {
  await Promise.all(worlds.map((w) => w.cleanup()));
  worlds = [];
});
const local = async (...args: Parameters<typeof createWorld>): Promise<World> => {
  const w = await createWorld(...args);
  worlds.push(w);
  return w;
};
const k8s = async (...args: Parameters<typeof createK8sWorld>): Promise<K8sWorld> => {
  const w = await createK8sWorld(...args);
  worlds.push(w);
  return w;
};

describe('SHA-256 mirrors (git init --bare --object-format=sha256)', () => {
  const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };

  for (const transport of ['file', 'daemon', 'http'] as const) {
    it(`local driver over ${transport}: dispatches, closes out and reports the 64-hex sha in status and events`, async () => {
      const w = await local([A], { transport, objectFormat: 'sha256' });
      await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
      await w.armAll();
      expect((await w.cli(['tick', 'observer'])).code).toBe(0);
      expect((await w.row(A.id)).phase).toBe('Noop');
      const sha = await w.git.commit(A.repo, A.branch);
      expect(sha).toMatch(SHA256);
      await tickUntil(w, async () => (await w.row(A.id)).phase === 'Succeeded');
      const row = await w.row(A.id);
      expect(row).toMatchObject({ lastSucceededSha: sha, lastTriggeredSha: sha, targetSha: sha, source: { observedSha: sha } });
      expect(await w.invocations()).toEqual([`${A.id} ${sha} 1`]);
      const events = JSON.parse((await w.cli(['events', '--follower', A.id, '-o', 'json'])).stdout) as { events: { to: string; sha: string | null }[] };
      expect(events.events.find((e) => e.to === 'Succeeded')?.sha).toBe(sha);
      const wide = await w.cli(['status', '-o', 'wide']);
      expect(wide.stdout).toContain(sha);
    });
  }

  it('kubernetes driver: the Job name fits 63 characters, its label selects, the annotation holds the full sha; the PipelineRun is found by both', async () => {
    const F = { id: 'alpha', repo: 'pikasTech/HWLAB', branch: 'v0.3', checks: ['trigger', 'pipeline', 'target'] };
    const w = await k8s([F], { objectFormat: 'sha256' });
    w.setTarget(F.id, await w.git.commit(F.repo, F.branch));
    w.armDirect();
    const sha = await w.git.commit(F.repo, F.branch);
    expect(sha).toMatch(SHA256);
    // A run of another SHA-256 commit that shares the first 63 digits must never count for this one.
    const twin = `${sha.slice(0, 63)}${sha.endsWith('0') ? '1' : '0'}`;
    w.setPipelineRun(F.id, twin, 'False');
    const trig = await w.tick('observer');
    expect(trig.code, trig.stderr).toBe(0);
    const [job] = w.jobs(F.id);
    expect(job?.metadata?.name).toBe(runName(F.id, sha, 1, 1));
    expect(job?.metadata?.labels?.[LABEL_SHA]).toBe(sha.slice(0, 63));
    expect(job?.metadata?.annotations?.[LABEL_SHA]).toBe(sha);
    w.finishJob(job?.metadata?.name ?? '', { ok: true, deploy: true });
    const waiting = await w.tick('closer');
    expect(waiting.followers[0]?.phase).toBe('ClosingOut');
    expect(waiting.followers[0]?.reason).toContain('pipeline');
    w.setPipelineRun(F.id, sha, 'True');
    await k8sTickUntil(w, async () => (await w.row(F.id)).phase === 'Succeeded');
    expect(w.storedState(F.id)).toMatchObject({ lastSucceededSha: sha, targetSha: sha });
    const events = w.api.store.list('events', NAMESPACE).filter((e) => e['reason'] === 'Succeeded');
    expect(events[0]?.metadata?.annotations?.['branch-follower.dev/sha']).toBe(sha);
  });

  it('a mirror whose object format changes under a follower blocks it with that reason, not a configRef one', async () => {
    const w = await local([A], { transport: 'http' });
    const old = await w.git.commit(A.repo, A.branch);
    await w.setTarget(A.id, old);
    await w.armAll();
    await w.cli(['tick', 'observer']);
    expect((await w.row(A.id)).phase).toBe('Noop');
    await w.git.replaceBareRepo(A.repo, { objectFormat: 'sha256' });
    const converted = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    const row = await w.row(A.id);
    expect(row.phase).toBe('Blocked');
    expect(row.reason).toMatch(/object format changed under this follower: it followed SHA-1 ids .* the mirror now answers SHA-256/);
    expect(row.reason).toContain('unblock:');
    expect(row.reason).not.toContain('configRef');
    expect(row.source.observedSha).toBe(old);
    expect(converted).toMatch(SHA256);
    expect(await w.invocations()).toEqual([]);
    // Another commit in the new format does not clear it: only a person does.
    await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    expect((await w.row(A.id)).phase).toBe('Blocked');
    expect(await w.invocations()).toEqual([]);
  });
});

describe('every branch name git accepts, never leaking unescaped', () => {
  // Each valid for git and invalid as something the controller makes: a Kubernetes name (upper
  // case, unicode, "/", "+", "#"), a label value (longer than 63, unicode), a ConfigMap key and a
  // file name ("/", unicode), and shell syntax that must stay one argv element.
  const F = [
    { id: 'uni', repo: 'acme/app', branch: 'Release/Ünï+x#1' },
    { id: 'long', repo: 'acme/app', branch: `feat@x_y.z/${'ü'.repeat(70)}` },
    { id: 'shell', repo: 'acme/app', branch: 'x/$(touch${IFS}pwned)`id`;a|b&c' },
  ];

  it('local driver over http: each follows its branch, the deploy gets the name exactly, no file is named after it', async () => {
    const w = await local(F, { transport: 'http' });
    // The deploy records the branch it was given (quoted: the shell here is the test's, not the controller's).
    await w.writeRegistry((reg) => {
      for (const f of reg.followers as { command: string[] }[]) f.command = ['sh', '-c', 'printf %s "$BRANCH_FOLLOWER_BRANCH" > "branch-$BRANCH_FOLLOWER_ID.txt" && exec ./deploy.sh'];
    });
    const shas: Record<string, string> = {};
    for (const f of F) shas[f.id] = await w.git.commit(f.repo, f.branch);
    await w.armAll();
    await tickUntil(w, async () => (await w.statusJson()).every((r) => r.phase === 'Succeeded'));
    for (const f of F) {
      const row = await w.row(f.id);
      expect(row.source).toEqual({ repo: f.repo, branch: f.branch, observedSha: shas[f.id] });
      expect(row.lastSucceededSha).toBe(shas[f.id]);
      expect(await readFile(join(w.configDir, `branch-${f.id}.txt`), 'utf8')).toBe(f.branch);
    }
    expect((await w.invocations()).sort()).toEqual(F.map((f) => `${f.id} ${shas[f.id]} 1`).sort());
    // Nothing ran the branch name as shell, and no file of the state is named after a branch.
    await expect(readFile(join(w.configDir, 'pwned'))).rejects.toThrow();
    await expect(readFile(join(w.dir, 'pwned'))).rejects.toThrow();
    const files = [...(await w.snapshotState()).keys()];
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) for (const f of F) for (const part of f.branch.split('/').filter((p) => p.length > 3)) expect(file).not.toContain(part);
    for (const file of files) expect(file).toMatch(/^[A-Za-z0-9._/-]+$/);
  });

  it('kubernetes driver: every object the API server validates (Job and ConfigMap names, labels, keys) is accepted; the branch is only in the pod env', async () => {
    const w = await k8s(F.map((f) => ({ ...f, checks: ['trigger', 'target'] })));
    const shas: Record<string, string> = {};
    for (const f of F) {
      shas[f.id] = await w.git.commit(f.repo, f.branch);
      w.setTarget(f.id, null);
    }
    w.armDirect();
    const t = await w.tick('observer');
    expect(t.code, t.stderr).toBe(0);
    for (const f of F) {
      const line = t.followers.find((l) => l.id === f.id);
      expect(line?.phase, line?.reason).toBe('Triggering');
      expect(line?.error).toBeNull();
      const [job] = w.jobs(f.id);
      expect(job?.metadata?.name).toBe(runName(f.id, shas[f.id] ?? '', 1, 1));
      const env = (job?.['spec'] as { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } }).template.spec.containers[0]?.env ?? [];
      expect(env).toContainEqual({ name: 'BRANCH_FOLLOWER_BRANCH', value: f.branch });
      const labelsAndKeys = [...Object.entries(job?.metadata?.labels ?? {}).flat(), ...Object.keys(w.stateConfigMap(f.id)?.['data'] as object)];
      for (const v of labelsAndKeys) expect(v).not.toContain(f.branch.split('/')[0]);
    }
    // The API server refused nothing the controller wrote.
    expect(w.api.requests.all().filter((r) => r.status === 422)).toEqual([]);
    w.settleJobs({ ok: true, deploy: true });
    await k8sTickUntil(w, async () => (await w.statusJson()).every((r) => r.phase === 'Succeeded'));
    for (const f of F) expect(w.storedState(f.id)?.lastSucceededSha).toBe(shas[f.id]);
  });
});

describe('mirror back-pressure: a 429 or 503 with Retry-After', () => {
  const A = { id: 'app-main', repo: 'acme/app', branch: 'main' };
  const B = { id: 'lib-main', repo: 'acme/lib', branch: 'main' };
  const HOLD_SECONDS = 20;

  it('local driver over http: no tick reads the repository before that time; its followers keep their phase, with the reason and time; status counts it', async () => {
    let throttling = false;
    const w = await local([A, B], { transport: 'http', http: { throttle: (p) => (throttling && p.includes('/acme/app.git/') ? { status: 429, retryAfter: String(HOLD_SECONDS) } : null) } });
    const appReads = (): number => w.http!.requests.filter((r) => r.path.includes('/acme/app.git/')).length;
    for (const f of [A, B]) await w.setTarget(f.id, await w.git.commit(f.repo, f.branch));
    await w.armAll();
    await w.cli(['tick', 'observer']);
    expect((await w.statusJson()).map((r) => r.phase)).toEqual(['Noop', 'Noop']);

    throttling = true;
    const next = await w.git.commit(A.repo, A.branch);
    const before = Date.now();
    const readsBefore = appReads();
    await w.cli(['tick', 'observer']);
    const row = await w.row(A.id);
    // A held mirror decides nothing: the follower stays what it was (Noop), only its reason says why.
    expect(row.phase).toBe('Noop');
    const until = /not read again before (\S+) /.exec(row.reason)?.[1] ?? '';
    expect(Date.parse(until)).toBeGreaterThanOrEqual(before + (HOLD_SECONDS - 1) * 1000);
    expect(row.reason).toContain('HTTP 429');
    expect((await w.row(B.id)).phase).toBe('Noop');
    const asked = appReads();
    // One request, answered 429: the v2 capabilities GET.
    expect(asked - readsBefore).toBe(1);

    // Every later tick, a live status and a run-once leave the repository alone until then.
    throttling = false;
    await w.cli(['tick', 'observer']);
    await w.cli(['tick', 'closer']);
    await w.cli(['status', '--live']);
    await w.cli(['run-once', '--all', '--dry-run']);
    const status = JSON.parse((await w.cli(['status', '-o', 'json'])).stdout) as { mirror: { held: number; holds: { repo: string; until: string }[] } };
    // (HOLD_SECONDS is far longer than these five CLI runs take, even on a loaded machine.)
    expect(appReads()).toBe(asked);
    expect(status.mirror).toMatchObject({ held: 1, holds: [{ repo: A.repo, until }] });
    expect((await w.cli(['status'])).stdout).toContain(`git mirror back-pressure: 1 repository held\n  ${A.repo}: not read before ${until}`);
    expect(await w.invocations()).toEqual([]);
    // After it, the next tick reads it and deploys the new commit.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(until) - Date.now() + 100)));
    await tickUntil(w, async () => (await w.row(A.id)).phase === 'Succeeded');
    expect(await w.invocations()).toEqual([`${A.id} ${next} 1`]);
    expect(appReads()).toBeGreaterThan(asked);
    expect((JSON.parse((await w.cli(['status', '-o', 'json'])).stdout) as { mirror: { held: number } }).mirror.held).toBe(0);
  });

  it('kubernetes driver: the hold lives in a ConfigMap of the controller namespace and later ticks honour it', async () => {
    let throttling = true;
    const w = (await k8s([{ ...A, checks: ['trigger'] }], { http: { throttle: (p) => (throttling && p.includes('/acme/app.git/') ? { status: 503, retryAfter: String(HOLD_SECONDS * 6) } : null) } })) as K8sWorld & { http: { requests: { path: string }[] } };
    await w.git.commit(A.repo, A.branch);
    w.armDirect();
    const t1 = await w.tick('observer');
    expect(t1.code, t1.stderr).toBe(0);
    expect(t1.followers[0]?.phase).toBe('Observed');
    expect(t1.followers[0]?.reason).toMatch(/git mirror back-pressure: not read again before \S+ .*HTTP 503/);
    const cm = w.api.store.get('configmaps', NAMESPACE, 'branch-follower-mirror-holds');
    const holds = JSON.parse((cm?.['data'] as Record<string, string>)['holds.json'] ?? '{}') as { holds: Record<string, { until: string }> };
    expect(Object.keys(holds.holds)).toEqual([A.repo]);
    throttling = false;
    const reads = w.http.requests.length;
    await w.tick('observer');
    await w.tick('observer');
    expect(w.http.requests.length).toBe(reads);
    expect(w.jobs()).toEqual([]);
    const status = JSON.parse((await w.cli(['status', '-o', 'json'])).stdout) as { mirror: { held: number } };
    expect(status.mirror.held).toBe(1);
  });
});
