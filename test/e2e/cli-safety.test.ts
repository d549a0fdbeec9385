// What a person does in a hurry must not act wrongly (issue 17, "Safety"), through the CLI as a
// subprocess: unknown follower ids are refused by every verb, `next:` hints act on the same
// installation, and arming or releasing the brake needs a reason.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, createWorld, type CliResult, type World } from '../support/cli-world.ts';

const A = { id: 'webapp-main', repo: 'acme/webapp', branch: 'main' };
const B = { id: 'worker-main', repo: 'acme/worker', branch: 'main' };

describe('safety', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld([A, B]);
    await w.armAll();
  });
  afterAll(async () => {
    await w.cleanup();
  });
  const arming = (): Promise<string> => readFile(join(w.stateDir, 'arming.json'), 'utf8');

  it('every verb that takes follower ids refuses an unknown one: exit 2, nothing changed, the real follower stays armed', async () => {
    const before = await w.snapshotState();
    for (const args of [
      ['disarm', '--follower', 'webapp-mian'],
      ['arm', '--follower', 'webapp-mian', '--confirm', '--reason', 'typo'],
      ['status', '--follower', 'webapp-mian'],
      ['run-once', '--follower', 'webapp-mian', '--confirm'],
      ['events', '--follower', 'webapp-mian'],
      ['logs', '--follower', 'webapp-mian'],
      ['retry', '--follower', 'webapp-mian', '--confirm', '--reason', 'typo'],
    ]) {
      const r = await w.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('unknown follower(s) webapp-mian');
      expect(r.stderr, args.join(' ')).toContain(`its followers: ${A.id}, ${B.id}`);
      expect(r.stdout, args.join(' ')).not.toContain('already');
    }
    expect(await w.snapshotState()).toEqual(before);
    expect(JSON.parse(JSON.parse(await arming()).data.allowlist).map((e: { id: string }) => e.id)).toEqual([A.id, B.id]);
  });

  it('a verb that acts on one follower refuses to run without --follower: exit 2, nothing changed', async () => {
    const before = await w.snapshotState();
    for (const args of [['arm', '--confirm', '--reason', 'x'], ['retry', '--confirm', '--reason', 'x'], ['events'], ['logs']]) {
      const r = await w.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`${args[0]} needs --follower ID`);
    }
    expect(await w.snapshotState()).toEqual(before);
  });

  it('arm and kill-switch off need a non-empty --reason; the brake stays instant without one', async () => {
    const before = await arming();
    for (const args of [
      ['arm', '--follower', A.id, '--confirm'],
      ['arm', '--follower', A.id, '--confirm', '--reason', '   '],
      ['arm', '--follower', A.id, '--confirm', '--reason', '<why>'],
      ['kill-switch', 'off', '--confirm'],
      ['kill-switch', 'off', '--confirm', '--reason', ''],
    ]) {
      const r = await w.cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('needs --reason TEXT');
    }
    expect(await arming()).toBe(before);
    const brake = await w.cli(['kill-switch', 'on']);
    expect(brake.code, brake.stderr).toBe(0);
    expect(brake.stdout).toContain('set: kill switch ON');
    const disarm = await w.cli(['disarm', '--follower', B.id]);
    expect(disarm.code, disarm.stderr).toBe(0);
    const release = await w.cli(['kill-switch', 'off', '--confirm', '--reason', 'incident over']);
    expect(release.code, release.stderr).toBe(0);
    expect(JSON.parse(JSON.parse(await arming()).data.killSwitch)).toMatchObject({ on: false, reason: 'incident over' });
    await w.cli(['arm', '--follower', B.id, '--confirm', '--reason', 'back']);
  });

  it('next: hints repeat the flags that chose the installation, with absolute paths, and run as printed', async () => {
    // Relative paths from the installation's directory, as a person types them there.
    const run = (args: readonly string[], cwd: string): Promise<CliResult> =>
      new Promise((resolve) =>
        execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
        ),
      );
    const registry = join(w.configDir, 'cicd-branch-followers.yaml');
    const flags = ['--registry', relative(w.dir, registry), '--driver', 'local', '--state-dir', relative(w.dir, w.stateDir)];
    const r = await run(['status', ...flags], w.dir);
    expect(r.code, r.stderr).toBe(0);
    const hints = r.stdout.split('\n').filter((l) => l.startsWith('  next: ')).map((l) => l.slice('  next: '.length));
    expect(hints.length).toBeGreaterThan(0);
    for (const h of hints) expect(h).toMatch(new RegExp(`^branch-follower .* --registry ${registry} --driver local --state-dir ${w.stateDir}( \\(.*\\))?$`));
    // Run as printed from anywhere else (here /): the same installation answers.
    const events = hints.find((h) => h.startsWith(`branch-follower events --follower ${A.id} `)) ?? '';
    expect(events).not.toBe('');
    const again = await run(events.split(' ').slice(1), '/');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^AT +FROM +TO/);
    // The Kubernetes flags are repeated too.
    const k = await run(['status', ...flags, '--kubeconfig', 'kc.yaml', '--context', 'prod', '-n', 'bf-prod'], w.dir);
    expect(k.code, k.stderr).toBe(0);
    const kh = k.stdout.split('\n').filter((l) => l.startsWith('  next: '));
    expect(kh.length).toBeGreaterThan(0);
    for (const h of kh) expect(h).toContain(`--kubeconfig ${join(w.dir, 'kc.yaml')} --context prod --namespace bf-prod`);
  });
});
