// `status -w` on the Kubernetes driver: a watch on the state ConfigMaps shows a transition made
// by a concurrent tick at once, with polling set far beyond the test's reach (an hour).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/cli-world.ts';
import { createK8sWorld, type K8sWorld } from '../support/k8s-world.ts';

const F = { id: 'webapp-main', repo: 'acme/webapp', branch: 'main', checks: ['trigger'] };

describe('status -w on Kubernetes', () => {
  let w: K8sWorld;
  beforeAll(async () => {
    w = await createK8sWorld([F]);
    w.armDirect();
    w.setTarget(F.id, await w.git.commit(F.repo, F.branch));
    await w.tick('observer');
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('re-renders on a state ConfigMap change through a watch, not a poll; Ctrl-C exits 0', async () => {
    const before = (await w.row(F.id)).phase;
    const child = spawn(process.execPath, [CLI, 'status', '-w', '--interval-seconds', '3600', '--registry', w.registryPath, '--kubeconfig', w.api.kubeconfigPath], {
      cwd: w.configDir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const views = (): string[] => out.split(/^--- .*$/m).filter((v) => v.trim());
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(cond(), `${what}; stdout:\n${out}\nstderr:\n${err}`).toBe(true);
    };
    await until(() => views().length === 1, 'the first view');
    expect(views()[0]).toMatch(new RegExp(`^${F.id} +${before} `, 'm'));
    // Let the watch open before the change (it is a wake-up only; the first view came from a read).
    await until(() => w.api.requests.count({ verb: 'watch', resource: 'configmaps' }) > 0, 'a watch request');
    await w.git.commit(F.repo, F.branch);
    const t = await w.tick('observer');
    expect(t.code, t.stderr).toBe(0);
    const after = (await w.row(F.id)).phase;
    expect(after).not.toBe(before);
    await until(() => views().length >= 2 && new RegExp(`^${F.id} +${after} `, 'm').test(views().at(-1) ?? ''), `a view with ${after}`);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
