// Arming with kubectl alone: the exact commands of k8s/README.md ("Arming by hand"), run with a
// real kubectl against the API-server double, then read back by the CLI as a subprocess. The
// plain form arms; a typo disarms every follower, and plan/status say what is wrong and where.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armingToData, DISARMED } from '../../src/core/arming.ts';
import { ARMING_CM, createK8sWorld, NAMESPACE, type K8sWorld } from '../support/k8s-world.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

/** The kubectl lines of the README's "Arming by hand" shell block, in order. */
const readmeCommands = (): string[] => {
  const md = readFileSync(join(ROOT, 'k8s', 'README.md'), 'utf8');
  const section = md.slice(md.indexOf('## Arming by hand'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((l) => l.startsWith('kubectl '));
};

type PlanDoc = { followers: { id: string; arming: { armed: boolean; gate?: string; reason?: string } | null }[]; arming: { state: string; where?: string; message?: string } };

describe.skipIf(!hasKubectl)('arming by hand with kubectl (k8s/README.md)', () => {
  let w: K8sWorld;
  const IDS = ['hwlab-jd01-v03', 'agentrun-jd01-v02', 'webapp-main'];
  const kubectl = async (line: string): Promise<void> => {
    // Exactly the README's line, through a shell as a person pastes it; only the kubeconfig is the
    // double's. Asynchronously: the double serves from this very process.
    await promisify(execFile)('sh', ['-c', line], { env: { ...process.env, KUBECONFIG: w.api.kubeconfigPath }, timeout: 60_000 });
  };
  const plan = async (): Promise<{ code: number; doc: PlanDoc; text: string }> => {
    const j = await w.cli(['plan', '-o', 'json']);
    const t = await w.cli(['plan']);
    expect(t.code, t.stderr).toBe(0);
    return { code: j.code, doc: JSON.parse(j.stdout) as PlanDoc, text: t.stdout };
  };
  const gates = (doc: PlanDoc): Record<string, string> =>
    Object.fromEntries(doc.followers.map((f) => [f.id, f.arming?.armed ? 'armed' : (f.arming?.gate ?? 'not shown')]));

  beforeAll(async () => {
    w = await createK8sWorld(IDS.map((id) => ({ id, repo: `acme/${id}`, branch: 'main', checks: ['trigger'] })), { api: { anonymousAuth: true } });
    // As `apply` leaves it: disarmed, in the CLI's audited form.
    w.api.store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ARMING_CM, namespace: NAMESPACE }, data: armingToData(DISARMED) });
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('the plain form written by the README commands arms exactly the listed followers, and the observer dispatches', async () => {
    const [release, allow, brake] = readmeCommands();
    expect(release).toContain('"killSwitch":"off"');
    expect(brake).toContain('"killSwitch":"on"');
    await kubectl(release ?? '');
    await kubectl(allow ?? '');
    const data = w.api.store.get('configmaps', NAMESPACE, ARMING_CM)?.['data'] as Record<string, string>;
    expect(data.killSwitch).toBe('off');
    expect(data.allowlist).toBe('hwlab-jd01-v03\nagentrun-jd01-v02\n');
    const p = await plan();
    expect(p.code).toBe(0);
    expect(gates(p.doc)).toEqual({ 'hwlab-jd01-v03': 'armed', 'agentrun-jd01-v02': 'armed', 'webapp-main': 'allowlist' });
    expect(p.text).not.toContain('arming:');
    const s = await w.cli(['status']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).not.toContain('arming');
    // Armed for real: a new commit is dispatched for an allowlisted follower, not for the other.
    for (const id of IDS) w.setTarget(id, await w.git.commit(`acme/${id}`, 'main'));
    await w.tick('observer');
    await w.git.commit('acme/hwlab-jd01-v03', 'main');
    await w.git.commit('acme/webapp-main', 'main');
    const t = await w.tick('observer');
    const line = (id: string) => t.followers.find((f) => f.id === id);
    expect(line('hwlab-jd01-v03')?.dispatched, JSON.stringify(t.followers)).toBeTruthy();
    expect(line('webapp-main')?.dispatched).toBeFalsy();
    expect(line('webapp-main')?.reason).toContain('not on the allowlist');
    await kubectl(brake ?? '');
    expect(gates((await plan()).doc)['hwlab-jd01-v03']).toBe('kill-switch');
    await kubectl(release ?? '');
  });

  it('a typo disarms every follower, and plan and status say exactly what and where', async () => {
    const cases: { patch: Record<string, string>; where: string; message: string }[] = [
      { patch: { allowlist: 'hwlab-jd01-v03\nweb_app\n' }, where: `configmap ${NAMESPACE}/${ARMING_CM}: data.allowlist line 2`, message: '"web_app" is not a follower id' },
      { patch: { allowlist: 'hwlab-jd01-v03\n', killSwitch: 'of' }, where: `configmap ${NAMESPACE}/${ARMING_CM}: data.killSwitch`, message: '"of" is not "on" or "off"' },
    ];
    for (const c of cases) {
      await kubectl(`kubectl -n ${NAMESPACE} patch configmap ${ARMING_CM} --type merge -p '${JSON.stringify({ data: c.patch })}'`);
      const p = await plan();
      expect(p.code).toBe(0);
      expect(p.doc.arming).toMatchObject({ state: 'malformed', where: c.where });
      expect(p.doc.arming.message).toContain(c.message);
      expect(Object.values(gates(p.doc))).toEqual(['arming-malformed', 'arming-malformed', 'arming-malformed']);
      expect(p.text).toMatch(/^hwlab-jd01-v03 .* malformed$/m);
      expect(p.text).toContain(`arming: arming data malformed at ${c.where}: ${c.message}`);
      const s = await w.cli(['status']);
      expect(s.stderr).toContain(`arming: arming data malformed at ${c.where}: ${c.message}`);
      // Disarmed for real: a new commit is not dispatched.
      await w.git.commit('acme/agentrun-jd01-v02', 'main');
      const t = await w.tick('observer');
      expect(t.followers.every((f) => !f.dispatched), JSON.stringify(t.followers)).toBe(true);
      expect(t.followers.find((f) => f.id === 'agentrun-jd01-v02')?.reason).toContain('malformed');
      await kubectl(`kubectl -n ${NAMESPACE} patch configmap ${ARMING_CM} --type merge -p '{"data":{"killSwitch":"off","allowlist":"agentrun-jd01-v02"}}'`);
    }
  });
});
