// Where the Kubernetes driver finds its credentials, in kubectl's order, and what it says when
// there are none.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chmod } from 'node:fs/promises';
import { makeClients } from '../../src/adapters/kubernetes/client.ts';
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
    expect(kc.server).toBe(api.url);
    const list = (await makeClients({ kc }).getJson('/api/v1/namespaces')) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((n) => n.metadata.name)).toContain('default');
  });

  it('falls back to KUBECONFIG, merging a path list with the first file winning', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await writeFile(a, kubeconfig([{ name: 'one', server: 'http://127.0.0.1:1' }], 'one'));
    await writeFile(b, kubeconfig([{ name: 'one', server: 'http://127.0.0.1:2' }, { name: 'two', server: api.url }], 'two'));
    const kc = loadKubeConfig({ env: { KUBECONFIG: [path.join(dir, 'missing'), a, b].join(path.delimiter), KUBERNETES_SERVICE_HOST: '10.0.0.1' } });
    expect(kc.context).toBe('one');
    expect(kc.server).toBe('http://127.0.0.1:1');
    expect(kc.contexts).toEqual(['one', 'two']);
  });

  it('selects --context, and names the contexts there are when it is unknown', async () => {
    const file = path.join(dir, 'config');
    await writeFile(file, kubeconfig([{ name: 'prod', server: 'http://127.0.0.1:1' }, { name: 'lab', server: api.url, namespace: 'bf' }], 'prod'));
    const kc = loadKubeConfig({ kubeconfig: file, context: 'lab' });
    expect(kc.server).toBe(api.url);
    expect(kc.namespace).toBe('bf');
    expect(() => loadKubeConfig({ kubeconfig: file, context: 'staging' })).toThrow('kubeconfig has no context "staging"; it has: prod, lab');
  });

  it('uses the pod service account when KUBERNETES_SERVICE_HOST is set', async () => {
    const sa = path.join(dir, 'sa');
    await mkdir(sa);
    await writeFile(path.join(sa, 'token'), 'sa-token');
    await writeFile(path.join(sa, 'ca.crt'), 'not really a cert');
    await writeFile(path.join(sa, 'namespace'), 'branch-follower\n');
    const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443', HOME: dir }, serviceAccountDir: sa });
    expect(kc.server).toBe('https://[fd00::1]:6443');
    expect(kc.credential).toEqual({ kind: 'token-file', file: path.join(sa, 'token') });
    expect(kc.namespace).toBe('branch-follower');
    // The kubelet rotates a projected token: each request reads the file again.
    expect(await kc.authorization()).toBe('Bearer sa-token');
    await writeFile(path.join(sa, 'token'), 'rotated\n');
    expect(await kc.authorization()).toBe('Bearer rotated');
    expect(() => loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, serviceAccountDir: path.join(dir, 'none') })).toThrow(/no service account token/);
  });

  it('falls back to ~/.kube/config', async () => {
    await mkdir(path.join(dir, '.kube'));
    await writeFile(path.join(dir, '.kube', 'config'), kubeconfig([{ name: 'home', server: api.url }], 'home'));
    expect(loadKubeConfig({ env: { HOME: dir } }).context).toBe('home');
  });

  it('names everything it tried when nothing is there', () => {
    expect(() => loadKubeConfig({ env: { HOME: dir } })).toThrow(
      `no Kubernetes credentials found; tried --kubeconfig (not given), KUBECONFIG (unset), in-cluster service account (KUBERNETES_SERVICE_HOST unset), ${path.join(dir, '.kube', 'config')} (does not exist)`,
    );
    expect(() => loadKubeConfig({ kubeconfig: path.join(dir, 'absent') })).toThrow(/absent \(from --kubeconfig\) does not exist/);
  });

  it('runs an exec credential plugin as kubectl does, and reuses its token until it expires', async () => {
    const count = path.join(dir, 'runs');
    const plugin = path.join(dir, 'plugin.sh');
    // A real executable: it sees KUBERNETES_EXEC_INFO and the env the kubeconfig gives it.
    await writeFile(
      plugin,
      [
        '#!/bin/sh',
        `echo run >> ${count}`,
        'case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) exit 3 ;; esac',
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$TOKEN_FROM_ENV"`,
        '',
      ].join('\n'),
    );
    await chmod(plugin, 0o755);
    const file = path.join(dir, 'config');
    await writeFile(
      file,
      [
        'apiVersion: v1',
        'clusters: [{name: c, cluster: {server: ' + api.url + '}}]',
        'users:',
        '- name: u',
        '  user:',
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        `      command: ./plugin.sh`,
        '      env: [{name: TOKEN_FROM_ENV, value: ' + api.token + '}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    // A relative command resolves against the kubeconfig's directory, as kubectl's does.
    const kc = loadKubeConfig({ kubeconfig: file });
    expect(kc.credential).toEqual({ kind: 'exec', command: './plugin.sh' });
    const c = makeClients({ kc });
    await c.getJson('/api/v1/namespaces');
    await c.getJson('/api/v1/namespaces');
    expect((await import('node:fs')).readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('says which file and which entry is wrong, never what the file holds', async () => {
    const file = path.join(dir, 'config');
    await writeFile(file, 'apiVersion: v1\nclusters: [{name: c, cluster: {server: 7}}]\nusers: [{name: u, user: {token: s3cret-token}}]\n');
    expect(() => loadKubeConfig({ kubeconfig: file })).toThrow(`kubeconfig ${file} (from --kubeconfig): clusters.0.cluster.server: `);
    await writeFile(file, 'apiVersion: v1\nclusters: [{name: c, cluster: {server: "https://h", proxy-url: "http://p:3128"}}]\nusers: [{name: u, user: {token: s3cret-token}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
    expect(() => loadKubeConfig({ kubeconfig: file })).toThrow('kubeconfig cluster "c" sets proxy-url, which branch-follower does not support');
    await writeFile(file, 'apiVersion: v1\nclusters: [{name: c, cluster: {server: "https://h"}}]\nusers: [{name: u, user: {auth-provider: {name: oidc, config: {id-token: s3cret-token}}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n');
    expect(() => loadKubeConfig({ kubeconfig: file })).toThrow(/auth-provider "oidc", which branch-follower does not support; use the provider's exec credential plugin/);
    await writeFile(file, 'apiVersion: v1\nclusters: [{name: c, cluster: {server: "https://h", certificate-authority: ca.pem}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n');
    expect(() => loadKubeConfig({ kubeconfig: file })).toThrow(`kubeconfig cluster "c" certificate-authority ${path.join(dir, 'ca.pem')} is unreadable: ENOENT`);
    for (const bad of ['clusters: [{name: c, cluster: {server: 7}}]\nusers: [{name: u, user: {token: s3cret-token}}]\n']) {
      await writeFile(file, bad);
      expect(() => loadKubeConfig({ kubeconfig: file })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('s3cret') }));
    }
  });

  it('sends basic auth and a static token as the Authorization header', async () => {
    const file = path.join(dir, 'config');
    await writeFile(file, `apiVersion: v1\nclusters: [{name: c, cluster: {server: "${api.url}"}}]\nusers: [{name: b, user: {username: ada, password: "p:w"}}, {name: t, user: {token: tok}}]\ncontexts: [{name: b, context: {cluster: c, user: b}}, {name: t, context: {cluster: c, user: t}}]\ncurrent-context: b\n`);
    expect(await loadKubeConfig({ kubeconfig: file }).authorization()).toBe(`Basic ${Buffer.from('ada:p:w').toString('base64')}`);
    expect(await loadKubeConfig({ kubeconfig: file, context: 't' }).authorization()).toBe('Bearer tok');
  });
});
