import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { isIPv6 } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { NoCredentialsError } from './credentials.ts';

/**
 * Where the driver's credentials come from, in kubectl's order: an explicit file, KUBECONFIG
 * (a path list, merged), the pod's service account when running in a cluster, then
 * ~/.kube/config. Read from the given environment, not process.env, so it can be tested.
 */

export type LoadKubeConfigOptions = {
  kubeconfig?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the in-cluster service account files live (tests point it elsewhere). */
  serviceAccountDir?: string;
};

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const fromFile = (file: string, what: string): KubeConfig => {
  const kc = new KubeConfig();
  if (!existsSync(file)) throw new Error(`kubeconfig ${file} (${what}) does not exist`);
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw new Error(`kubeconfig ${file} (${what}) is unreadable: ${(e as Error).message}`);
  }
  return kc;
};

const fromPathList = (list: string): KubeConfig => {
  const files = list.split(path.delimiter).filter((f) => f !== '');
  const present = files.filter((f) => existsSync(f));
  if (present.length === 0) throw new Error(`KUBECONFIG=${list}: none of its files exist`);
  const loaded = present.map((f) => fromFile(f, 'from KUBECONFIG'));
  // kubectl's rule: the first file to set something wins, so later files only add.
  const first = <T extends { name: string }>(lists: (readonly T[])[]): T[] => {
    const seen = new Map<string, T>();
    for (const l of lists) for (const x of l) if (!seen.has(x.name)) seen.set(x.name, x);
    return [...seen.values()];
  };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: first(loaded.map((k) => k.getClusters())),
    users: first(loaded.map((k) => k.getUsers())),
    contexts: first(loaded.map((k) => k.getContexts())),
    currentContext: loaded.map((k) => k.getCurrentContext()).find((c) => c) ?? '',
  });
  return kc;
};

const inCluster = (env: NodeJS.ProcessEnv, dir: string): KubeConfig => {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const tokenFile = path.join(dir, 'token');
  if (!existsSync(tokenFile)) {
    throw new Error(`in-cluster (KUBERNETES_SERVICE_HOST=${host}): no service account token at ${tokenFile}; is automountServiceAccountToken on for this pod?`);
  }
  const nsFile = path.join(dir, 'namespace');
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: path.join(dir, 'ca.crt'), skipTLSVerify: false }],
    // tokenFile re-reads the projected token, which the kubelet rotates.
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', ...(namespace ? { namespace } : {}) }],
    currentContext: 'in-cluster',
  });
  return kc;
};

export const loadKubeConfig = (o: LoadKubeConfigOptions = {}): KubeConfig => {
  const env = o.env ?? process.env;
  const tried: string[] = [];
  let kc: KubeConfig | null = null;
  if (o.kubeconfig) {
    kc = fromFile(path.resolve(o.kubeconfig), 'from --kubeconfig');
  } else if (env.KUBECONFIG) {
    kc = fromPathList(env.KUBECONFIG);
  } else {
    tried.push('--kubeconfig (not given)', 'KUBECONFIG (unset)');
    if (env.KUBERNETES_SERVICE_HOST) {
      kc = inCluster(env, o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    } else {
      tried.push('in-cluster service account (KUBERNETES_SERVICE_HOST unset)');
      const home = env.HOME || homedir();
      const file = path.join(home, '.kube', 'config');
      if (existsSync(file)) kc = fromFile(file, 'the default');
      else tried.push(`${file} (does not exist)`);
    }
  }
  if (!kc) throw new NoCredentialsError(`no Kubernetes credentials found; tried ${tried.join(', ')}. Pass --kubeconfig PATH or set KUBECONFIG.`);

  if (o.context) {
    if (!kc.getContextObject(o.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(`kubeconfig has no context "${o.context}"; it has: ${known.length ? known.join(', ') : '(none)'}`);
    }
    kc.setCurrentContext(o.context);
  }
  const current = kc.getCurrentContext();
  if (!current || !kc.getContextObject(current)) throw new Error('kubeconfig sets no current context; pass --context NAME');
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig context "${current}" names a cluster the kubeconfig does not define`);
  return kc;
};
