import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PHASES } from '../../src/core/phases.ts';
import { StatusDoc } from '../../src/core/status-view.ts';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';

const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };
const B = { id: 'agentrun-jd01-v02', repo: 'pikasTech/agentrun', branch: 'v0.2' };
const C = { id: 'web-probe-sentinel-master', repo: 'pikasTech/unidesk', branch: 'master' };

let world: World | null = null;
afterEach(async () => {
  await world?.cleanup();
  world = null;
});

const phase = async (w: World, id: string) => (await w.row(id)).phase;

describe('local driver, end to end through the CLI', () => {
  for (const transport of ['file', 'daemon', 'http'] as const) {
    it(`moves through every phase of a normal run over ${transport}`, async () => {
      const w = (world = await createWorld([A], { transport }));
      const first = await w.git.commit(A.repo, A.branch);
      await w.setTarget(A.id, first);
      const seen = new Set<string>();
      const note = async () => seen.add(await phase(w, A.id));

      expect((await w.cli(['status'])).code).toBe(0);
      await note(); // Observed: no state yet
      expect((await w.cli(['tick', 'observer'])).code).toBe(0);
      await note(); // Noop
      const second = await w.git.commit(A.repo, A.branch);
      await w.cli(['tick', 'observer']);
      await note(); // Skipped: ships disabled
      expect((await w.row(A.id)).reason).toContain('disarmed');
      await w.armAll();
      const dry = await w.cli(['run-once', '--all', '--dry-run']);
      expect(dry.stdout).toContain('PendingTrigger');
      seen.add('PendingTrigger');
      await w.holdDeploys(A.id, true);
      await w.cli(['tick', 'observer']);
      await note(); // Triggering
      await w.holdDeploys(A.id, false);
      await tickUntil(w, async () => (await note(), seen.has('Succeeded')));
      const row = await w.row(A.id);
      expect(row.lastSucceededSha).toBe(second);
      expect(row.lastTriggeredSha).toBe(second);
      expect(row.targetSha).toBe(second);
      expect(await w.invocations()).toEqual([`${A.id} ${second} 1`]);
      for (const p of ['Observed', 'Noop', 'Skipped', 'PendingTrigger', 'Triggering', 'Succeeded']) expect(seen).toContain(p);
      const events = await w.cli(['events', '--follower', A.id, '-o', 'json']);
      const tos = (JSON.parse(events.stdout) as { events: { to: string }[] }).events.map((e) => e.to);
      expect(tos).toEqual(expect.arrayContaining(['Noop', 'Skipped', 'PendingTrigger', 'Triggering', 'Succeeded']));
    });
  }

  it('shows ClosingOut while the target catches up, then Succeeded', async () => {
    const w = (world = await createWorld([A], { budgets: { closeoutSeconds: 120 } }));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.cli(['tick', 'observer']);
    const sha = await w.git.commit(A.repo, A.branch);
    // This deploy "succeeds" but leaves the target behind; the closer must wait in ClosingOut.
    await w.writeRegistry((reg) => {
      const f = (reg.followers as { command: string[] }[])[0];
      if (f) f.command = ['true'];
    });
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await phase(w, A.id)) === 'ClosingOut');
    expect((await w.row(A.id)).reason).toContain('waiting for');
    await w.setTarget(A.id, sha);
    await w.cli(['tick', 'closer']);
    expect(await phase(w, A.id)).toBe('Succeeded');
  });

  it('supersedes a run in flight: waits for its dispatch, dispatches the newest at once, skips the shas between', async () => {
    const w = (world = await createWorld([A]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.holdDeploys(A.id, true);
    const old = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    expect(await phase(w, A.id)).toBe('Triggering');
    const between = await w.git.commit(A.repo, A.branch);
    const newest = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    expect(await phase(w, A.id)).toBe('Superseded');
    await w.cli(['tick', 'closer']);
    expect(await phase(w, A.id)).toBe('Superseded');
    await w.holdDeploys(A.id, false);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === newest);
    const ran = await w.invocations();
    expect(ran).toEqual([`${A.id} ${old} 1`, `${A.id} ${newest} 1`]);
    expect(ran.join('\n')).not.toContain(between);
  });

  it('onSupersede cancel stops the old dispatch and dispatches the newest in the same tick', async () => {
    const w = (world = await createWorld([{ ...A, onSupersede: 'cancel' }]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.holdDeploys(A.id, true);
    const old = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    const oldRun = (await w.row(A.id)).inFlight?.name;
    expect(oldRun).toBeDefined();
    const newest = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    const row = await w.row(A.id);
    expect(row.inFlight?.sha).toBe(newest);
    const exit = JSON.parse(await readFile(join(w.stateDir, 'runs', String(oldRun), 'exit.json'), 'utf8')) as { cancelled: boolean };
    expect(exit.cancelled).toBe(true);
    await w.holdDeploys(A.id, false);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === newest);
    expect((await w.invocations()).map((l) => l.split(' ')[1])).toEqual([old, newest]);
  });

  it('retries a failure within maxAttempts, then Blocks; a new commit clears it', async () => {
    const w = (world = await createWorld([A]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.failDeploys(A.id, true);
    const bad = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await phase(w, A.id)) === 'Blocked');
    const blocked = await w.row(A.id);
    expect(blocked.reason).toContain('attempts exhausted');
    expect(blocked.reason).toContain('unblock:');
    expect(await w.invocations()).toEqual([`${A.id} ${bad} 1`, `${A.id} ${bad} 2`]);
    const events = JSON.parse((await w.cli(['events', '--follower', A.id, '-o', 'json'])).stdout) as { events: { to: string }[] };
    expect(events.events.map((e) => e.to)).toContain('Failed');
    // More ticks never retry the blocked sha.
    await w.cli(['tick', 'observer']);
    await w.cli(['tick', 'closer']);
    expect(await w.invocations()).toHaveLength(2);
    const waited = await w.cli(['run-once', '--follower', A.id, '--confirm', '--wait', '--poll-seconds', '0.2']);
    expect(waited.code).toBe(1);
    await w.failDeploys(A.id, false);
    const fixed = await w.git.commit(A.repo, A.branch);
    const ok = await w.cli(['run-once', '--follower', A.id, '--confirm', '--wait', '--poll-seconds', '0.2']);
    expect(ok.code).toBe(0);
    expect((await w.row(A.id)).lastSucceededSha).toBe(fixed);
  });

  it('Skipped names each gate: kill switch, allowlist; the brake never stops a run in flight', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.cli(['kill-switch', 'off', '--confirm', '--reason', 'test']);
    await w.cli(['arm', '--follower', A.id, '--confirm', '--reason', 'test']);
    await w.git.commit(B.repo, B.branch);
    await w.cli(['tick', 'observer']);
    const b = await w.row(B.id);
    expect(b.phase).toBe('Skipped');
    expect(b.reason).toContain('not on the allowlist');
    expect(b.next).toContain(`branch-follower arm --follower ${B.id} --reason "<why>" --confirm`);
    // Arming without --confirm changes nothing.
    const unconfirmed = await w.cli(['arm', '--follower', B.id, '--reason', 'test']);
    expect(unconfirmed.stdout).toContain('nothing changed');
    await w.cli(['tick', 'observer']);
    expect(await phase(w, B.id)).toBe('Skipped');

    await w.holdDeploys(A.id, true);
    const a = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    expect(await phase(w, A.id)).toBe('Triggering');
    expect((await w.cli(['kill-switch', 'on', '--reason', 'incident'])).code).toBe(0);
    await w.cli(['tick', 'closer']);
    expect(await phase(w, A.id)).toBe('Triggering');
    await w.holdDeploys(A.id, false);
    await tickUntil(w, async () => (await phase(w, A.id)) === 'Succeeded');
    expect((await w.row(A.id)).lastSucceededSha).toBe(a);
    await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    const braked = await w.row(A.id);
    expect(braked.phase).toBe('Skipped');
    expect(braked.reason).toContain('kill switch is on');
    expect(await w.invocations()).toHaveLength(1);
  });

  it('follows a force-push back to an older sha', async () => {
    const w = (world = await createWorld([A]));
    const base = await w.git.commit(A.repo, A.branch);
    await w.setTarget(A.id, base);
    await w.armAll();
    const next = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === next);
    await w.git.forcePush(A.repo, A.branch, base);
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === base);
    expect((await w.row(A.id)).targetSha).toBe(base);
    expect(await w.invocations()).toEqual([`${A.id} ${next} 1`, `${A.id} ${base} 1`]);
  });

  it('blocks on a deleted branch, and a new commit clears it', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.armAll();
    await w.git.deleteBranch(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    const a = await w.row(A.id);
    expect(a.phase).toBe('Blocked');
    expect(a.reason).toContain('missing on the git mirror');
    expect(await phase(w, B.id)).toBe('Noop');
    const back = await w.git.commit(A.repo, A.branch);
    await w.cli(['tick', 'observer']);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === back);
  });

  it('an unreachable mirror leaves the state as it was, with a reason', async () => {
    const w = (world = await createWorld([A], { transport: 'daemon' }));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.cli(['tick', 'observer']);
    const before = await w.row(A.id);
    await w.writeRegistry((reg) => {
      (reg.controller as { gitMirror: { readUrl: string } }).gitMirror.readUrl = 'git://127.0.0.1:1/';
    });
    await w.cli(['tick', 'observer']);
    const after = await w.row(A.id);
    expect(after.phase).toBe(before.phase);
    expect(after.source.observedSha).toBe(before.source.observedSha);
    expect(after.reason).toContain('unreachable');
  });

  it('two observer ticks racing dispatch once', async () => {
    const w = (world = await createWorld([A, B, C]));
    for (const f of [A, B, C]) await w.setTarget(f.id, await w.git.commit(f.repo, f.branch));
    await w.armAll();
    const shas = [await w.git.commit(A.repo, A.branch), await w.git.commit(B.repo, B.branch), await w.git.commit(C.repo, C.branch)];
    await Promise.all([w.cli(['tick', 'observer']), w.cli(['tick', 'observer']), w.cli(['tick', 'observer'])]);
    await tickUntil(w, async () => (await w.statusJson()).every((r) => r.phase === 'Succeeded'));
    const ran = (await w.invocations()).sort();
    expect(ran).toEqual([`${A.id} ${shas[0]} 1`, `${B.id} ${shas[1]} 1`, `${C.id} ${shas[2]} 1`].sort());
  });

  it('run-once --all --dry-run leaves the state dir byte-for-byte unchanged and runs no command', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.armAll();
    await w.cli(['tick', 'observer']);
    await w.git.commit(A.repo, A.branch);
    await w.git.commit(B.repo, B.branch);
    const before = await w.snapshotState();
    const r = await w.cli(['run-once', '--all', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dispatch bf-');
    const live = await w.cli(['status', '--live']);
    expect(live.stdout).toContain('PendingTrigger');
    expect(await w.snapshotState()).toEqual(before);
    expect(await w.invocations()).toEqual([]);
  });

  it('a dirty work tree with a different HEAD in the current directory changes nothing in the output', async () => {
    const w = (world = await createWorld([A]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.cli(['tick', 'observer']);
    const clean = await w.cli(['status', '--live', '-o', 'json']);
    const tree = join(w.git.root, 'dirty');
    await mkdir(tree, { recursive: true });
    await w.git.createWorkTree(tree, { branch: A.branch, dirty: true });
    const dirty = await w.cli(['status', '--live', '-o', 'json'], { cwd: tree, env: { GIT_DIR: join(tree, '.git') } });
    expect(dirty.stdout).toBe(clean.stdout);
  });

  it('status -o json carries exactly the fields of the status contract', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.git.commit(B.repo, B.branch);
    await w.cli(['tick', 'observer']);
    const r = await w.cli(['status', '-o', 'json']);
    const doc = StatusDoc.parse(JSON.parse(r.stdout));
    expect(Object.keys(doc.followers[0] ?? {}).sort()).toEqual(
      ['id', 'phase', 'adapter', 'source', 'targetSha', 'lastTriggeredSha', 'lastSucceededSha', 'inFlight', 'budget', 'reason', 'next'].sort(),
    );
    for (const row of doc.followers) expect(PHASES).toContain(row.phase);
    const yaml = await w.cli(['status', '-o', 'yaml']);
    expect(yaml.stdout).toContain('followers:');
  });

  it('bad input names the file and the path, exits 2 and writes nothing', async () => {
    const w = (world = await createWorld([A]));
    await w.git.commit(A.repo, A.branch);
    const cases: [string, (reg: Record<string, unknown>) => void, RegExp][] = [
      ['unknown key', (reg) => ((reg.followers as Record<string, unknown>[])[0]!.namespace = 'x'), /followers\[0\]\.namespace: unknown key "namespace"/],
      ['duplicate id', (reg) => (reg.followers as unknown[]).push((reg.followers as unknown[])[0]), /followers\[1\]\.id: duplicate follower id/],
      ['invalid id', (reg) => ((reg.followers as Record<string, unknown>[])[0]!.id = 'Not_DNS'), /followers\[0\]\.id:/],
      ['empty argv', (reg) => ((reg.followers as Record<string, unknown>[])[0]!.command = []), /followers\[0\]\.command: the trigger argv must not be empty/],
      ['unknown adapter', (reg) => ((reg.followers as Record<string, unknown>[])[0]!.adapter = 'nope'), /followers\[0\]\.adapter:/],
    ];
    for (const [name, mutate, pattern] of cases) {
      await w.writeRegistry(mutate);
      const r = await w.cli(['tick', 'observer']);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(/cicd-branch-followers\.yaml: /);
      expect(r.stderr, name).toMatch(pattern);
      expect((await w.snapshotState()).size, name).toBe(0);
    }
    await writeFile(join(w.configDir, 'cicd-branch-followers.yaml'), 'controller: [unclosed\n');
    const malformed = await w.cli(['status']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/cicd-branch-followers\.yaml: line \d+, column \d+/);
    expect((await w.cli(['tick', 'bogus'])).code).toBe(2);
    expect((await w.cli(['status', '--no-such-flag'])).code).toBe(2);
  });

  it('an unresolvable configRef blocks that follower only, naming file and path', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.writeRegistry((reg) => {
      (reg.followers as { target: { configRef: string } }[])[0]!.target.configRef = 'lanes.yaml#lanes.nowhere.target';
    });
    await w.cli(['tick', 'observer']);
    const a = await w.row(A.id);
    expect(a.phase).toBe('Blocked');
    expect(a.reason).toContain('lanes.yaml#lanes.nowhere');
    expect(await phase(w, B.id)).toBe('Noop');
  });

  it('a corrupt state file is reported with exit 2 and left as it is', async () => {
    const w = (world = await createWorld([A, B]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.cli(['tick', 'observer']);
    const file = join(w.stateDir, 'state', `${A.id}.json`);
    await writeFile(file, '{"version": 3, "state": {"phase": "Exploded"}}');
    const r = await w.cli(['tick', 'observer']);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain(`${A.id}.json`);
    const snap = await w.snapshotState();
    expect(snap.get(`state/${A.id}.json`)).toBe('{"version": 3, "state": {"phase": "Exploded"}}');
    expect(await phase(w, B.id)).toBe('Noop');
    expect((await w.cli(['status'])).code).toBe(2);
  });

  it('a closer tick prunes runs past the registry\'s retention to tombstones; a dry run prunes nothing', async () => {
    const w = (world = await createWorld([A]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.cli(['tick', 'observer']);
    const sha = await w.git.commit(A.repo, A.branch);
    await tickUntil(w, async () => (await phase(w, A.id)) === 'Succeeded');
    const runsDir = join(w.stateDir, 'runs');
    const [name] = await readdir(runsDir);
    if (!name) throw new Error('no run directory');
    // The default retention (7 days) kept it; 0.00002 days (under two seconds) will not.
    expect(await readdir(join(runsDir, name))).toContain('log');
    await w.writeRegistry((reg) => {
      (reg.controller as { local: Record<string, unknown> }).local = { stateDir: 'state', runRetentionDays: 0.00002 };
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect((await w.cli(['run-once', '--all', '--dry-run'])).code).toBe(0);
    expect(await readdir(join(runsDir, name))).toContain('log');
    const r = await w.cli(['tick', 'closer']);
    expect(r.code).toBe(0);
    expect(r.stderr + r.stdout).toContain(`pruned 1 run(s) past the retention, keeping their tombstones: ${name}`);
    expect((await readdir(join(runsDir, name))).sort()).toEqual(['exit.json', 'pruned.json', 'run.json']);
    expect((await w.cli(['logs', '--follower', A.id])).stdout).toContain('pruned after the run retention');
    // The tombstone keeps the name: more ticks never run that sha again.
    await w.cli(['tick', 'observer']);
    await w.cli(['tick', 'closer']);
    expect(await w.invocations()).toEqual([`${A.id} ${sha} 1`]);
  });

  it('a dispatch written ahead by a tick that has since exited is taken over by the next tick, not 300 s later', async () => {
    const w = (world = await createWorld([A]));
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    await w.cli(['tick', 'observer']);
    const old = await w.git.commit(A.repo, A.branch);
    // The run directory cannot be made: the tick writes the dispatch ahead, fails to make it, exits.
    const runs = join(w.stateDir, 'runs');
    await writeFile(runs, 'not a directory');
    const failed = await w.cli(['tick', 'observer']);
    expect(failed.code).toBe(1);
    const left = JSON.parse(await readFile(join(w.stateDir, 'state', `${A.id}.json`), 'utf8')) as { state: { pending: { sha: string; writer?: { kind: string; pid: number } } } };
    expect(left.state.pending).toMatchObject({ sha: old, writer: { kind: 'process' } });
    await rm(runs);
    const newest = await w.git.commit(A.repo, A.branch);
    // The writer's pid has exited (it was the CLI process above): the next tick does not wait.
    const r = await w.cli(['tick', 'observer']);
    expect(r.code, r.stderr).toBe(0);
    expect(await phase(w, A.id)).toBe('Triggering');
    await tickUntil(w, async () => (await phase(w, A.id)) === 'Succeeded');
    expect(await w.invocations()).toEqual([`${A.id} ${newest} 1`]);
  });
});
