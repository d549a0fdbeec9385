// Where the Kubernetes driver finds its credentials, in kubectl's order, and what it says when
// there are none.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';

let dir: string;
let api: ApiServerDouble;

beforeAll(async () => {
  api = await startApiServerDouble();
});
afterAll(async () => {
  await api.close();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bf-kubeconfig-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const kubeconfig = (contexts: { name: string; server: string; namespace?: string }[], current: string): string =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...contexts.flatMap((c) => [`- name: ${c.name}`, '  cluster:', `    server: ${c.server}`, '    insecure-skip-tls-verify: true']),
    'users:',
    ...contexts.flatMap((c) => [`- name: ${c.name}`, '  user:', `    token: ${api.token}`]),
    'contexts:',
    ...contexts.flatMap((c) => [`- name: ${c.name}`, '  context:', `    cluster: ${c.name}`, `    user: ${c.name}`, ...(c.namespace ? [`    namespace: ${c.namespace}`] : [])]),
    `current-context: ${current}`,
    '',
  ].join('\n');

describe('loadKubeConfig', () => {
  it('takes an explicit path first, and the result talks to the server', async () => {
    const kc = loadKubeConfig({ kubeconfig: api.kubeconfigPath, env: { KUBECONFIG: '/nowhere', KUBERNETES_SERVICE_HOST: '10.0.0.1' } });
    expect(kc.getCurrentCluster()?.server).toBe(api.url);
    const list = await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('default');
  });

  it('falls back to KUBECONFIG, merging a path list with the first file winning', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await writeFile(a, kubeconfig([{ name: 'one', server: 'http://127.0.0.1:1' }], 'one'));
    await writeFile(b, kubeconfig([{ name: 'one', server: 'http://127.0.0.1:2' }, { name: 'two', server: api.url }], 'two'));
    const kc = loadKubeConfig({ env: { KUBECONFIG: [path.join(dir, 'missing'), a, b].join(path.delimiter), KUBERNETES_SERVICE_HOST: '10.0.0.1' } });
    expect(kc.getCurrentContext()).toBe('one');
    expect(kc.getCurrentCluster()?.server).toBe('http://127.0.0.1:1');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['one', 'two']);
  });

  it('selects --context, and names the contexts there are when it is unknown', async () => {
    const file = path.join(dir, 'config');
    await writeFile(file, kubeconfig([{ name: 'prod', server: 'http://127.0.0.1:1' }, { name: 'lab', server: api.url, namespace: 'bf' }], 'prod'));
    const kc = loadKubeConfig({ kubeconfig: file, context: 'lab' });
    expect(kc.getCurrentCluster()?.server).toBe(api.url);
    expect(() => loadKubeConfig({ kubeconfig: file, context: 'staging' })).toThrow('kubeconfig has no context "staging"; it has: prod, lab');
  });

  it('uses the pod service account when KUBERNETES_SERVICE_HOST is set', async () => {
    const sa = path.join(dir, 'sa');
    await mkdir(sa);
    await writeFile(path.join(sa, 'token'), 'sa-token');
    await writeFile(path.join(sa, 'ca.crt'), 'not really a cert');
    await writeFile(path.join(sa, 'namespace'), 'branch-follower\n');
    const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443', HOME: dir }, serviceAccountDir: sa });
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://[fd00::1]:6443', caFile: path.join(sa, 'ca.crt') });
    expect(kc.getCurrentUser()?.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: path.join(sa, 'token') } });
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('branch-follower');
    expect(() => loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, serviceAccountDir: path.join(dir, 'none') })).toThrow(/no service account token/);
  });

  it('falls back to ~/.kube/config', async () => {
    await mkdir(path.join(dir, '.kube'));
    await writeFile(path.join(dir, '.kube', 'config'), kubeconfig([{ name: 'home', server: api.url }], 'home'));
    expect(loadKubeConfig({ env: { HOME: dir } }).getCurrentContext()).toBe('home');
  });

  it('names everything it tried when nothing is there', () => {
    expect(() => loadKubeConfig({ env: { HOME: dir } })).toThrow(
      `no Kubernetes credentials found; tried --kubeconfig (not given), KUBECONFIG (unset), in-cluster service account (KUBERNETES_SERVICE_HOST unset), ${path.join(dir, '.kube', 'config')} (does not exist)`,
    );
    expect(() => loadKubeConfig({ kubeconfig: path.join(dir, 'absent') })).toThrow(/absent \(from --kubeconfig\) does not exist/);
  });
});
