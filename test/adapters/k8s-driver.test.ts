// The whole driver from a kubeconfig path, exercised port by port, with every request the API
// server saw checked against the controller's Role (its own namespace) and the target-reader
// Role (target namespaces): the driver must never need a permission rbac.ts does not grant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISARMED } from '../../src/core/arming.ts';
import { runName } from '../../src/core/run-name.ts';
import { initialState, transition } from '../../src/core/state.ts';
import { createKubernetesDriver } from '../../src/adapters/kubernetes/driver.ts';
import { ROLE_RULES, TARGET_READER_RULES, allows } from '../../src/adapters/kubernetes/rbac.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const SHA = '0123456789abcdef0123456789abcdef01234567';
let api: ApiServerDouble;

beforeAll(async () => {
  api = await startApiServerDouble();
});
afterAll(async () => {
  await api.close();
});

describe('createKubernetesDriver', () => {
  it('serves every port from a kubeconfig, within the RBAC rules', async () => {
    const namespace = 'branch-follower';
    const target = 'hwlab';
    const d = createKubernetesDriver({ kubeconfig: api.kubeconfigPath, namespace, image: 'img:1', env: {}, sleep: async () => {} });
    expect(d.kc.server).toBe(api.url);
    api.requests.reset();

    const s0 = initialState('alpha', T0);
    const v0 = await d.store.create(s0);
    await d.store.update(transition(s0, 'Noop', 'at target', T0 + 1), v0);
    expect((await d.store.list()).map((s) => s.id)).toEqual(['alpha']);
    expect(await d.store.get('alpha')).toHaveProperty('state.phase', 'Noop');

    const a = await d.arming.read();
    await d.arming.write(DISARMED, a.version);
    expect((await d.arming.read()).read.kind).toBe('ok');

    const name = runName('alpha', SHA, 1, 1);
    const req = { followerId: 'alpha', sha: SHA, episode: 1, attempt: 1, name, argv: ['deploy'], repo: 'o/r', branch: 'main', budgets: { triggerSeconds: 60, closeoutSeconds: 600, maxAttempts: 2 } };
    await d.dispatcher.dispatch(req);
    expect((await d.dispatcher.dispatch(req)).adopted).toBe(true);
    expect((await d.dispatcher.statuses([name])).get(name)?.result).toBe('PENDING');
    expect(await d.logs.logs('alpha', null)).toContain(`no pods for Job ${namespace}/${name}`);
    await d.dispatcher.cancel(name);

    await d.events.emit('alpha', [{ at: '2026-01-01T00:00:00.000Z', from: 'Observed', to: 'Noop', sha: SHA, attempt: null, reason: 'at target' }]);
    expect(await d.events.list('alpha')).toHaveLength(1);

    api.store.put('deployments', { metadata: { name: 'web', namespace: target, annotations: { 'x/sha': SHA } }, spec: {} });
    const targets = await d.targets.readMany([{ key: 'alpha', spec: { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'Deployment', namespace: target, name: 'web', annotation: 'x/sha' } }]);
    expect(targets.get('alpha')).toEqual({ kind: 'ok', sha: SHA });
    const pipes = await d.pipelines.readMany([{ key: 'alpha', spec: { namespace: target, labels: { app: 'web' }, shaLabel: 'x/sha' }, sha: SHA }]);
    expect(pipes.get('alpha')?.result).toBe('NONE');

    const seen = api.requests.all().filter((r) => r.verb !== 'discovery');
    expect(seen.length).toBeGreaterThan(15);
    const denied = seen.filter((r) => {
      const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
      const rules = r.namespace === namespace ? ROLE_RULES : TARGET_READER_RULES;
      return !allows(rules, r.group, resource, r.verb);
    });
    expect(denied.map((r) => `${r.verb} ${r.group}/${r.resource} in ${r.namespace}`)).toEqual([]);
  });
});
