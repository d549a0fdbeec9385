// One installation of the controller on the real cluster, as an operator makes it: a registry
// directory (registry + owning config) written here, `branch-follower apply --confirm --wait`
// from outside, and what the operator adds by hand: the target-reader Role in the targets'
// namespace, and the deploy account the followers' runner names.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { targetReaderRole } from '../../../src/adapters/kubernetes/manifests.ts';
import { IMAGE, applyObjects, cliOk } from './cluster.ts';
import type { Mirror } from './git-mirror.ts';

export const CONTROLLER_REPO = 'ci/branch-follower';
export const DEPLOYED = 'example.dev/deployed-sha';
/** The deploy refuses a sha named here: how the suite makes a real deploy fail. */
export const REFUSE = 'example.dev/refuse-sha';
export const DEPLOYER = 'bf-deployer';

/**
 * A real deploy command: as the runner's ServiceAccount, it reads its target Deployment through
 * the API (TLS checked against the mounted CA), refuses the sha the target's REFUSE annotation
 * names, else stamps the sha it deploys into the DEPLOYED annotation. Argv, no shell.
 */
const DEPLOY_SCRIPT = `
const https = require('node:https'), fs = require('node:fs');
const sa = '/var/run/secrets/kubernetes.io/serviceaccount/';
const token = fs.readFileSync(sa + 'token', 'utf8'), ca = fs.readFileSync(sa + 'ca.crt');
const { TARGET_NAMESPACE: ns, TARGET_NAME: name, BRANCH_FOLLOWER_SHA: sha, DEPLOY_NOTE: note } = process.env;
const call = (method, body) => new Promise((ok, no) => {
  const req = https.request({ host: 'kubernetes.default.svc', path: '/apis/apps/v1/namespaces/' + ns + '/deployments/' + name, method, ca,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/merge-patch+json' } }, (res) => {
    let text = ''; res.on('data', (c) => (text += c));
    res.on('end', () => (res.statusCode < 300 ? ok(JSON.parse(text)) : no(new Error(method + ' ' + res.statusCode + ' ' + text.slice(0, 300)))));
  });
  req.on('error', no); req.end(body);
});
(async () => {
  console.log('deploying ' + sha + ' to ' + ns + '/' + name + ' (' + note + ')');
  const live = await call('GET');
  if ((live.metadata.annotations || {})['${REFUSE}'] === sha) { console.error('refused: ${REFUSE} names ' + sha); process.exit(3); }
  await call('PATCH', JSON.stringify({ metadata: { annotations: { '${DEPLOYED}': sha } } }));
  console.log('deployed ' + sha);
})().catch((e) => { console.error(e.message); process.exit(1); });
`.trim();

export type AppDef = { id: string; repo: string; branch: string };

export type Install = { dir: string; registry: string; namespace: string; appsNamespace: string };

export const writeRegistry = async (o: {
  namespace: string;
  appsNamespace: string;
  mirror: Mirror;
  apps: readonly AppDef[];
  /** Budgets for every follower. */
  budgets?: Record<string, number>;
  /** Target reader per app: the Deployment (with the deploy runner), or a ConfigMap (no dispatch expected). */
  target?: 'deployment' | 'configmap';
  /** The CronJobs' schedules (default: every minute). */
  schedules?: { observer: string; closer: string };
  /** controller.serve: `branch-follower serve` deployed, its push secret in the variable named here. */
  serve?: { secretEnv: string };
}): Promise<Install> => {
  const dir = await mkdtemp(join(tmpdir(), 'bf-cluster-config-'));
  await mkdir(dir, { recursive: true });
  const target = o.target ?? 'deployment';
  const registry = {
    controller: {
      namespace: o.namespace,
      driver: 'kubernetes',
      gitMirror: { readUrl: o.mirror.readUrl },
      source: { repo: CONTROLLER_REPO, ref: 'main' },
      schedules: o.schedules ?? { observer: '* * * * *', closer: '* * * * *' },
      defaults: { budgets: { triggerSeconds: 180, closeoutSeconds: 600, maxAttempts: 2, ...o.budgets } },
      image: IMAGE,
      ...(o.serve ? { serve: { enabled: true, push: { secretEnv: o.serve.secretEnv } } } : {}),
    },
    followers: o.apps.map((a) => ({
      id: a.id,
      adapter: 'generic',
      source: { configRef: `apps.yaml#apps.${a.id}.source` },
      target: { configRef: `apps.yaml#apps.${a.id}.target` },
      command: ['node', '-e', DEPLOY_SCRIPT],
      checks: ['trigger', 'target'],
    })),
  };
  const apps = Object.fromEntries(
    o.apps.map((a) => [
      a.id,
      {
        source: { repo: a.repo, branch: a.branch },
        target:
          target === 'deployment'
            ? {
                reader: 'k8s-annotation',
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                namespace: o.appsNamespace,
                name: a.id,
                annotation: DEPLOYED,
                runner: {
                  serviceAccountName: DEPLOYER,
                  env: {
                    TARGET_NAMESPACE: { value: o.appsNamespace },
                    TARGET_NAME: { value: a.id },
                    DEPLOY_NOTE: { secretRef: { name: 'bf-deploy-settings', key: 'note' } },
                  },
                },
              }
            : { reader: 'k8s-annotation', apiVersion: 'v1', kind: 'ConfigMap', namespace: o.namespace, name: `target-${a.id}`, annotation: DEPLOYED },
      },
    ]),
  );
  const path = join(dir, 'cicd-branch-followers.yaml');
  await writeFile(path, stringify(registry, { lineWidth: 0 }));
  await writeFile(join(dir, 'apps.yaml'), stringify({ apps }, { lineWidth: 0 }));
  return { dir, registry: path, namespace: o.namespace, appsNamespace: o.appsNamespace };
};

/**
 * The operator's own additions first (so the first scheduled tick already finds its target
 * readable; `extra`: more of them, such as serve's push Secret), then `apply --confirm --wait`
 * from outside.
 */
export const install = async (inst: Install, apps: readonly AppDef[], extra: readonly object[] = []): Promise<string> => {
  const [readerRole, readerBinding] = targetReaderRole(inst.appsNamespace, inst.namespace);
  await applyObjects([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: inst.namespace } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: inst.appsNamespace } },
    readerRole,
    readerBinding,
    // The runner's account: in the controller's namespace, allowed to read and stamp its targets, nothing else.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DEPLOYER, namespace: inst.namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: DEPLOYER, namespace: inst.appsNamespace },
      rules: [{ apiGroups: ['apps'], resources: ['deployments'], resourceNames: apps.map((a) => a.id), verbs: ['get', 'patch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: DEPLOYER, namespace: inst.appsNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: DEPLOYER },
      subjects: [{ kind: 'ServiceAccount', name: DEPLOYER, namespace: inst.namespace }],
    },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bf-deploy-settings', namespace: inst.namespace }, stringData: { note: 'note from a Secret' } },
    ...apps.map((a) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: a.id, namespace: inst.appsNamespace, labels: { app: a.id } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: a.id } },
        template: { metadata: { labels: { app: a.id } }, spec: { containers: [{ name: 'app', image: 'docker.io/local/busybox:1', imagePullPolicy: 'Never' }] } },
      },
    })),
    ...extra,
  ]);
  return cliOk(inst.registry, ['apply', '--confirm', '--wait']);
};
