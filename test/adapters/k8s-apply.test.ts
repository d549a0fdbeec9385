// plan/apply against the API-server double: diff the rendered manifests with the live objects,
// server-side apply them in dependency order, create the arming ConfigMap only when absent, and
// wait for the CronJobs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseRegistry, type Registry } from '../../src/core/registry.ts';
import { DISARMED, armingToData } from '../../src/core/arming.ts';
import { applyManifests, applyOrder, diffManifests, ensureArming, inServedVersions, servedCronJobVersion, waitForCronJobs } from '../../src/adapters/kubernetes/apply.ts';
import { createKubernetesArmingStore } from '../../src/adapters/kubernetes/arming-store.ts';
import { REGISTRY_CONFIGMAP, REGISTRY_FILE, REGISTRY_PARSED_CONFIGMAP, cronJobName, renderManifests } from '../../src/adapters/kubernetes/manifests.ts';
import { CRONJOB_V1, CRONJOB_V1BETA1, startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';

let api: ApiServerDouble;
let nsCount = 0;
const freshNamespace = (): string => `bf-apply-${++nsCount}`;
const quick = { sleep: async () => {}, random: () => 0.5 };

beforeAll(async () => {
  api = await startApiServerDouble();
});
afterAll(async () => {
  await api.close();
});
afterEach(() => {
  api.faults.clear();
});

const registryDoc = (namespace: string, observer = '* * * * *') => ({
  controller: {
    namespace,
    driver: 'kubernetes',
    gitMirror: { readUrl: 'http://mirror.test/git' },
    source: { repo: 'example/controller', ref: 'main' },
    schedules: { observer, closer: '*/2 * * * *' },
    defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
    image: 'registry.test/bf:1',
  },
  followers: [],
});

const render = (namespace: string, files: Record<string, string> = { 'apps.yaml': 'apps: {}\n' }, observer?: string) => {
  const doc = registryDoc(namespace, observer);
  const r = parseRegistry(REGISTRY_FILE, doc);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const registry: Registry = r.value;
  return renderManifests(registry, { registryFiles: { [REGISTRY_FILE]: stringify(doc), ...files } });
};

describe('diffManifests and applyManifests', () => {
  it('plans create, applies in dependency order, then plans unchanged', async () => {
    const namespace = freshNamespace();
    const kc = api.connection();
    const objects = render(namespace);
    const before = await diffManifests(kc, objects, quick);
    expect(before.map((d) => `${d.action} ${d.kind}/${d.name}`)).toEqual([
      `create Namespace/${namespace}`,
      'create ServiceAccount/branch-follower',
      'create Role/branch-follower',
      'create RoleBinding/branch-follower',
      `create ConfigMap/${REGISTRY_CONFIGMAP}`,
      `create ConfigMap/${REGISTRY_PARSED_CONFIGMAP}`,
      `create CronJob/${cronJobName('observer')}`,
      `create CronJob/${cronJobName('closer')}`,
    ]);
    expect(api.requests.writes()).toBe(0);

    api.requests.reset();
    // Handed in scrambled: apply still puts the Namespace first and the CronJobs last.
    const scrambled = [...objects].reverse();
    const applied = await applyManifests(kc, scrambled, { ...quick, fieldManager: 'branch-follower' });
    expect(applied.map((a) => a.kind)).toEqual(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'ConfigMap', 'CronJob', 'CronJob']);
    const patches = api.requests.all({ verb: 'patch' });
    expect(patches.map((p) => p.resource)).toEqual(['namespaces', 'serviceaccounts', 'roles', 'rolebindings', 'configmaps', 'configmaps', 'cronjobs', 'cronjobs']);
    expect(patches.every((p) => p.contentType === 'application/apply-patch+yaml')).toBe(true);
    expect(patches.every((p) => new URLSearchParams(p.query).get('fieldManager') === 'branch-follower' && new URLSearchParams(p.query).get('force') === 'true')).toBe(true);
    expect(api.store.get('cronjobs', namespace, cronJobName('observer'))).toBeDefined();
    // The caller's objects were not changed by the client.
    expect(scrambled).toEqual([...render(namespace)].reverse());

    const after = await diffManifests(kc, objects, quick);
    expect(after.filter((d) => d.action !== 'unchanged')).toEqual([]);

    const rv = api.store.get('cronjobs', namespace, cronJobName('observer'))?.metadata?.resourceVersion;
    await applyManifests(kc, objects, quick);
    expect(api.store.get('cronjobs', namespace, cronJobName('observer'))?.metadata?.resourceVersion).toBe(rv);
  });

  it('shows what an update changes, removed ConfigMap keys included, and ignores server-managed fields', async () => {
    const namespace = freshNamespace();
    const kc = api.connection();
    await applyManifests(kc, render(namespace, { 'apps.yaml': 'apps:\n  main: 1\n', 'old.yaml': 'x: 1\n' }), quick);
    const next = render(namespace, { 'apps.yaml': 'apps:\n  main: 2\n' }, '*/5 * * * *');
    const diff = await diffManifests(kc, next, quick);
    const byName = new Map(diff.map((d) => [`${d.kind}/${d.name}`, d]));
    const observer = byName.get(`CronJob/${cronJobName('observer')}`);
    expect(observer?.action).toBe('update');
    expect(observer?.diff.slice(0, 2)).toEqual(['- spec.schedule: "* * * * *"', '+ spec.schedule: "*/5 * * * *"']);
    // old.yaml is no longer mounted either.
    expect(observer?.diff.slice(2)).toEqual([
      expect.stringMatching(/^- spec\.jobTemplate\.spec\.template\.spec\.volumes\[2\]\.configMap\.items: .*old\.yaml/),
      expect.not.stringContaining('old.yaml'),
    ]);
    const cm = byName.get(`ConfigMap/${REGISTRY_CONFIGMAP}`);
    expect(cm?.action).toBe('update');
    expect(cm?.diff).toEqual(expect.arrayContaining(['~ data.apps.yaml:', '-     main: 1', '+     main: 2', '- data.old.yaml: "x: 1\\n"']));
    // The closer mounts the same files; its schedule did not change.
    expect(byName.get(`CronJob/${cronJobName('closer')}`)?.diff.some((l) => l.includes('schedule'))).toBe(false);
    expect(byName.get('Role/branch-follower')?.action).toBe('unchanged');
    expect(byName.get(`Namespace/${namespace}`)?.action).toBe('unchanged');

    await applyManifests(kc, next, quick);
    expect(Object.keys((api.store.get('configmaps', namespace, REGISTRY_CONFIGMAP)?.['data'] ?? {}) as object)).not.toContain('old.yaml');
    expect((await diffManifests(kc, next, quick)).every((d) => d.action === 'unchanged')).toBe(true);
  });
});

describe('ensureArming', () => {
  it('creates the arming ConfigMap disarmed only when absent, and never overwrites an edited one', async () => {
    const namespace = freshNamespace();
    const kc = api.connection();
    expect(await ensureArming(kc, namespace, quick)).toBe('created');
    expect(api.store.get('configmaps', namespace, 'branch-follower-arming')?.['data']).toEqual(armingToData(DISARMED));

    const arming = createKubernetesArmingStore({ kc, namespace, ...quick });
    const read = await arming.read();
    const armed = { ...DISARMED, killSwitch: { on: false, by: 'ops', at: '2026-01-01T00:00:00.000Z', reason: 'go' } };
    await arming.write(armed, read.version);
    const rv = api.store.get('configmaps', namespace, 'branch-follower-arming')?.metadata?.resourceVersion;

    api.requests.reset();
    expect(await ensureArming(kc, namespace, quick)).toBe('present');
    await applyManifests(kc, render(namespace), quick);
    expect(api.requests.count({ resource: 'configmaps', name: 'branch-follower-arming', verb: ['create', 'update', 'patch'] })).toBe(0);
    expect(api.store.get('configmaps', namespace, 'branch-follower-arming')?.metadata?.resourceVersion).toBe(rv);
    expect((await arming.read()).read).toEqual({ kind: 'ok', arming: armed });
  });
});

describe('waitForCronJobs', () => {
  it('returns once both CronJobs exist unsuspended, and names what it waited for on timeout', async () => {
    const namespace = freshNamespace();
    const kc = api.connection();
    const names = [cronJobName('observer'), cronJobName('closer')];
    let t = 0;
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms), random: () => 0.5 };
    await expect(waitForCronJobs(kc, namespace, names, { ...clock, timeoutMs: 3_000, pollMs: 1_000 })).rejects.toThrow(
      `CronJobs in ${namespace} not ready after 3s: ${names[0]} (missing), ${names[1]} (missing)`,
    );
    await applyManifests(kc, render(namespace), quick);
    api.store.patch('cronjobs', namespace, names[1] ?? '', { spec: { suspend: true } });
    await expect(waitForCronJobs(kc, namespace, names, { ...clock, timeoutMs: 2_000, pollMs: 1_000 })).rejects.toThrow(`${names[1]} (suspended)`);

    // Resumed while it waits: it returns.
    let polls = 0;
    const resuming = {
      ...clock,
      sleep: async (ms: number) => {
        t += ms;
        polls += 1;
        if (polls === 2) api.store.patch('cronjobs', namespace, names[1] ?? '', { spec: { suspend: false } });
      },
    };
    await waitForCronJobs(kc, namespace, names, { ...resuming, timeoutMs: 60_000, pollMs: 1_000 });
    expect(polls).toBe(2);
  });

  it('orders objects by dependency, keeping the given order within a kind', () => {
    const o = (kind: string, name: string) => ({ apiVersion: 'v1', kind, metadata: { name } });
    expect(applyOrder([o('CronJob', 'a'), o('ConfigMap', 'b'), o('Deployment', 'c'), o('Namespace', 'd'), o('ConfigMap', 'e')]).map((x) => x.metadata?.name)).toEqual(['d', 'b', 'e', 'c', 'a']);
  });
});

describe('servedCronJobVersion', () => {
  const cases = [
    ['batch/v1 only (1.25+)', {}, 'batch/v1'],
    ['both (1.21-1.24)', { resources: [CRONJOB_V1BETA1] }, 'batch/v1'],
    ['batch/v1beta1 only (1.20)', { resources: [CRONJOB_V1BETA1], without: [CRONJOB_V1] }, 'batch/v1beta1'],
  ] as const;
  for (const [name, opts, want] of cases) {
    it(`finds ${want} on a server serving ${name}, with discovery reads only`, async () => {
      const server = await startApiServerDouble(opts);
      try {
        expect(await servedCronJobVersion(server.connection(), quick)).toBe(want);
        expect(server.requests.all().every((r) => r.verb === 'discovery' || r.method === 'GET')).toBe(true);
        expect(server.requests.writes()).toBe(0);
      } finally {
        await server.close();
      }
    });
  }

  it('says so when the server serves CronJob in neither version', async () => {
    const server = await startApiServerDouble({ without: [CRONJOB_V1] });
    try {
      await expect(servedCronJobVersion(server.connection(), quick)).rejects.toThrow(/serves CronJob in none of batch\/v1, batch\/v1beta1/);
    } finally {
      await server.close();
    }
  });

  it('rewrites only CronJobs, and only when the served version differs', () => {
    const objects = render('bf-served');
    const old = inServedVersions(objects, 'batch/v1beta1');
    expect(old.filter((o) => o.kind === 'CronJob').map((o) => o.apiVersion)).toEqual(['batch/v1beta1', 'batch/v1beta1']);
    expect(old.filter((o) => o.kind !== 'CronJob')).toEqual(objects.filter((o) => o.kind !== 'CronJob'));
    expect(inServedVersions(objects, 'batch/v1')).toEqual(objects);
  });
});
