import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { homedir } from 'node:os';
import path from 'node:path';
import { isIPv6 } from 'node:net';
import { CORE_SCHEMA, load } from 'js-yaml';
import { z } from 'zod';
import { NoCredentialsError } from './credentials.ts';

/**
 * Where the driver's credentials come from, in kubectl's order: an explicit file, KUBECONFIG
 * (a path list, merged), the pod's service account when running in a cluster, then
 * ~/.kube/config. Read from the given environment, not process.env, so it can be tested.
 *
 * A kubeconfig is read here, not by @kubernetes/client-node: loading that package (its generated
 * API, undici, js-yaml, openid-client) cost a tick ~50 MiB of RSS and most of its start-up
 * (docs/performance.md, change 10). What kubectl's kubeconfig holds is supported as kubectl reads
 * it (https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/): a CA file or data or
 * insecure-skip-tls-verify, tls-server-name, a token or token file, a client certificate and key
 * (file or data), basic auth, and exec credential plugins
 * (client.authentication.k8s.io ExecCredential). Not supported, with an error that says so:
 * `auth-provider` (removed from kubectl for gcp and azure; use the provider's exec plugin) and
 * `proxy-url`.
 */

export type LoadKubeConfigOptions = {
  kubeconfig?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the in-cluster service account files live (tests point it elsewhere). */
  serviceAccountDir?: string;
};

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How a request proves who it is. */
export type Credential =
  | { kind: 'none' }
  | { kind: 'token' }
  /** Re-read for every request: the kubelet rotates a projected service account token. */
  | { kind: 'token-file'; file: string }
  | { kind: 'basic' }
  | { kind: 'client-certificate' }
  | { kind: 'exec'; command: string };

/** A kubeconfig resolved to one context: where the API server is and how to talk to it. */
export type KubeConnection = {
  /** The current context's name. */
  readonly context: string;
  /** Every context the kubeconfig defines, in order. */
  readonly contexts: readonly string[];
  /** The API server's base URL, `https://host:port` (no trailing slash). */
  readonly server: string;
  /** The context's namespace, when it sets one. */
  readonly namespace: string | undefined;
  readonly credential: Credential;
  /** The connection pool, with the TLS settings of the server and of a client certificate. */
  agent(): Promise<Agent>;
  /** The Authorization header value of the next request, or undefined. */
  authorization(): Promise<string | undefined>;
};

const ClusterSchema = z.looseObject({
  server: z.string().min(1),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
  'proxy-url': z.string().optional(),
});

const ExecSchema = z.looseObject({
  command: z.string().min(1),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
  apiVersion: z.string().optional(),
  installHint: z.string().optional(),
  provideClusterInfo: z.boolean().optional(),
});

const UserSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: ExecSchema.optional(),
  'auth-provider': z.looseObject({ name: z.string() }).optional(),
});

const ContextSchema = z.looseObject({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() });

const KubeconfigSchema = z.looseObject({
  clusters: z.array(z.object({ name: z.string(), cluster: ClusterSchema })).nullish(),
  users: z.array(z.object({ name: z.string(), user: UserSchema.nullish() })).nullish(),
  contexts: z.array(z.object({ name: z.string(), context: ContextSchema })).nullish(),
  'current-context': z.string().optional(),
});

type Cluster = z.infer<typeof ClusterSchema>;
type User = z.infer<typeof UserSchema>;
type Context = z.infer<typeof ContextSchema>;
type Named<T> = { name: string; value: T; dir: string };

/** One kubeconfig file's entries, each with the directory its relative paths resolve against (kubectl's rule). */
type Loaded = { clusters: Named<Cluster>[]; users: Named<User>[]; contexts: Named<Context>[]; current: string | undefined };

/** A kubeconfig that cannot be used; says which file and which entry, never its contents. */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

const fromFile = (file: string, what: string): Loaded => {
  if (!existsSync(file)) throw new KubeconfigError(`kubeconfig ${file} (${what}) does not exist`);
  let doc: unknown;
  try {
    doc = load(readFileSync(file, 'utf8'), { schema: CORE_SCHEMA });
  } catch (e) {
    throw new KubeconfigError(`kubeconfig ${file} (${what}) is unreadable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  const r = KubeconfigSchema.safeParse(doc ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new KubeconfigError(`kubeconfig ${file} (${what}): ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const dir = path.dirname(file);
  return {
    clusters: (r.data.clusters ?? []).map((c) => ({ name: c.name, value: c.cluster, dir })),
    users: (r.data.users ?? []).map((u) => ({ name: u.name, value: u.user ?? {}, dir })),
    contexts: (r.data.contexts ?? []).map((c) => ({ name: c.name, value: c.context, dir })),
    current: r.data['current-context'] || undefined,
  };
};

/** kubectl's merge of a KUBECONFIG path list: the first file to set something wins, later files only add. */
const merge = (loaded: readonly Loaded[]): Loaded => {
  const first = <T>(lists: Named<T>[][]): Named<T>[] => {
    const seen = new Map<string, Named<T>>();
    for (const l of lists) for (const x of l) if (!seen.has(x.name)) seen.set(x.name, x);
    return [...seen.values()];
  };
  return {
    clusters: first(loaded.map((l) => l.clusters)),
    users: first(loaded.map((l) => l.users)),
    contexts: first(loaded.map((l) => l.contexts)),
    current: loaded.map((l) => l.current).find((c) => c),
  };
};

const fromPathList = (list: string): Loaded => {
  const files = list.split(path.delimiter).filter((f) => f !== '');
  const present = files.filter((f) => existsSync(f));
  if (present.length === 0) throw new KubeconfigError(`KUBECONFIG=${list}: none of its files exist`);
  return merge(present.map((f) => fromFile(f, 'from KUBECONFIG')));
};

const inCluster = (env: NodeJS.ProcessEnv, dir: string): Loaded => {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const tokenFile = path.join(dir, 'token');
  if (!existsSync(tokenFile)) {
    throw new KubeconfigError(`in-cluster (KUBERNETES_SERVICE_HOST=${host}): no service account token at ${tokenFile}; is automountServiceAccountToken on for this pod?`);
  }
  const nsFile = path.join(dir, 'namespace');
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
  return {
    clusters: [{ name: 'in-cluster', value: { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, 'certificate-authority': path.join(dir, 'ca.crt') }, dir }],
    users: [{ name: 'in-cluster', value: { tokenFile }, dir }],
    contexts: [{ name: 'in-cluster', value: { cluster: 'in-cluster', user: 'in-cluster', ...(namespace ? { namespace } : {}) }, dir }],
    current: 'in-cluster',
  };
};

const readPem = (file: string, dir: string, what: string): Buffer => {
  const p = path.resolve(dir, file);
  try {
    return readFileSync(p);
  } catch (e) {
    throw new KubeconfigError(`kubeconfig ${what} ${p} is unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
};

const pemOf = (data: string | undefined, file: string | undefined, dir: string, what: string): Buffer | undefined =>
  data ? Buffer.from(data, 'base64') : file ? readPem(file, dir, what) : undefined;

/** What an exec plugin answers (client.authentication.k8s.io/v1 and v1beta1 ExecCredential). */
const ExecCredentialSchema = z.looseObject({
  status: z.looseObject({
    token: z.string().optional(),
    clientCertificateData: z.string().optional(),
    clientKeyData: z.string().optional(),
    expirationTimestamp: z.string().optional(),
  }),
});
type ExecAnswer = z.infer<typeof ExecCredentialSchema>['status'];

/** Runs an exec credential plugin as kubectl does (KUBERNETES_EXEC_INFO, non-interactive); reuses its answer until it expires. */
const execPlugin = (exec: z.infer<typeof ExecSchema>, user: string, dir: string, env: NodeJS.ProcessEnv, now: () => number): (() => Promise<ExecAnswer>) => {
  // client-go's rule: a command with a path separator is relative to the kubeconfig's directory; a bare name is looked up on PATH.
  const command = exec.command.includes('/') ? path.resolve(dir, exec.command) : exec.command;
  let cached: { answer: ExecAnswer; until: number } | null = null;
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  return async () => {
    if (cached && now() < cached.until) return cached.answer;
    const info = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        command,
        exec.args ?? [],
        { env: { ...env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: info }, timeout: 60_000, maxBuffer: 1 << 20 },
        (err, out) => {
          if (err) {
            const hint = exec.installHint ? `; ${exec.installHint.trim()}` : '';
            reject(new KubeconfigError(`kubeconfig user "${user}": exec credential plugin ${exec.command} failed (${(err as NodeJS.ErrnoException).code ?? `exit ${err.code ?? '?'}`})${hint}`));
          } else resolve(out);
        },
      );
    });
    let doc: unknown;
    try {
      doc = JSON.parse(stdout);
    } catch {
      throw new KubeconfigError(`kubeconfig user "${user}": exec credential plugin ${exec.command} did not answer with JSON`);
    }
    const r = ExecCredentialSchema.safeParse(doc);
    if (!r.success || (!r.data.status.token && !(r.data.status.clientCertificateData && r.data.status.clientKeyData))) {
      throw new KubeconfigError(`kubeconfig user "${user}": exec credential plugin ${exec.command} answered no token and no client certificate`);
    }
    const expires = r.data.status.expirationTimestamp ? Date.parse(r.data.status.expirationTimestamp) : Number.POSITIVE_INFINITY;
    // A minute early, so a long tick does not send a token that expires on the way.
    cached = { answer: r.data.status, until: Number.isFinite(expires) ? expires - 60_000 : Number.POSITIVE_INFINITY };
    return r.data.status;
  };
};

const resolveContext = (loaded: Loaded, env: NodeJS.ProcessEnv, contextName: string | undefined): KubeConnection => {
  const contexts = loaded.contexts.map((c) => c.name);
  if (contextName !== undefined && !contexts.includes(contextName)) {
    throw new KubeconfigError(`kubeconfig has no context "${contextName}"; it has: ${contexts.length ? contexts.join(', ') : '(none)'}`);
  }
  const name = contextName ?? loaded.current;
  const ctx = loaded.contexts.find((c) => c.name === name);
  if (!name || !ctx) throw new KubeconfigError('kubeconfig sets no current context; pass --context NAME');
  const cluster = loaded.clusters.find((c) => c.name === ctx.value.cluster);
  if (!cluster) throw new KubeconfigError(`kubeconfig context "${name}" names a cluster the kubeconfig does not define`);
  const userEntry = ctx.value.user ? loaded.users.find((u) => u.name === ctx.value.user) : undefined;
  if (ctx.value.user && !userEntry) throw new KubeconfigError(`kubeconfig context "${name}" names a user the kubeconfig does not define`);
  const c = cluster.value;
  if (c['proxy-url']) throw new KubeconfigError(`kubeconfig cluster "${cluster.name}" sets proxy-url, which branch-follower does not support; reach the API server directly`);
  const u: User = userEntry?.value ?? {};
  const userName = userEntry?.name ?? '';
  if (u['auth-provider']) {
    throw new KubeconfigError(`kubeconfig user "${userName}" uses auth-provider "${u['auth-provider'].name}", which branch-follower does not support; use the provider's exec credential plugin`);
  }
  let server: URL;
  try {
    server = new URL(c.server);
  } catch {
    throw new KubeconfigError(`kubeconfig cluster "${cluster.name}": server is not a URL`);
  }
  const ca = pemOf(c['certificate-authority-data'], c['certificate-authority'], cluster.dir, `cluster "${cluster.name}" certificate-authority`);
  const cert = pemOf(u['client-certificate-data'], u['client-certificate'], userEntry?.dir ?? '', `user "${userName}" client-certificate`);
  const key = pemOf(u['client-key-data'], u['client-key'], userEntry?.dir ?? '', `user "${userName}" client-key`);
  const exec = u.exec ? execPlugin(u.exec, userName, userEntry?.dir ?? '', env, Date.now) : null;
  const tls = { ca, cert, key, rejectUnauthorized: c['insecure-skip-tls-verify'] !== true, ...(c['tls-server-name'] ? { servername: c['tls-server-name'] } : {}) };
  // getBuiltinModule: see http/request.ts for why these are not imported.
  const makeAgent = (extra: { cert?: Buffer; key?: Buffer } = {}): Agent =>
    server.protocol === 'https:'
      ? new (process.getBuiltinModule('node:https').Agent)({ keepAlive: true, ...tls, ...extra })
      : new (process.getBuiltinModule('node:http').Agent)({ keepAlive: true });
  let agent: { agent: Agent; certData: string | undefined } | null = null;
  const tokenFile = u.tokenFile ? path.resolve(userEntry?.dir ?? '', u.tokenFile) : undefined;
  const credential: Credential = exec
    ? { kind: 'exec', command: u.exec!.command }
    : u.token
      ? { kind: 'token' }
      : tokenFile
        ? { kind: 'token-file', file: tokenFile }
        : cert && key
          ? { kind: 'client-certificate' }
          : u.username !== undefined
            ? { kind: 'basic' }
            : { kind: 'none' };
  return {
    context: name,
    contexts,
    server: server.href.replace(/\/+$/, ''),
    namespace: ctx.value.namespace || undefined,
    credential,
    async agent() {
      // An exec plugin may answer with a client certificate, which then belongs to the connection.
      const answer = exec ? await exec() : null;
      const certData = answer?.clientCertificateData;
      if (agent === null || agent.certData !== certData) {
        agent?.agent.destroy();
        agent = { agent: certData && answer?.clientKeyData ? makeAgent({ cert: Buffer.from(certData), key: Buffer.from(answer.clientKeyData) }) : makeAgent(), certData };
      }
      return agent.agent;
    },
    async authorization() {
      if (exec) {
        const answer = await exec();
        if (answer.token) return `Bearer ${answer.token}`;
      }
      if (u.token) return `Bearer ${u.token}`;
      if (tokenFile) {
        try {
          return `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`;
        } catch (e) {
          throw new KubeconfigError(`kubeconfig user "${userName}" tokenFile ${tokenFile} is unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
        }
      }
      if (u.username !== undefined) return `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`).toString('base64')}`;
      return undefined;
    },
  };
};

export const loadKubeConfig = (o: LoadKubeConfigOptions = {}): KubeConnection => {
  const env = o.env ?? process.env;
  const tried: string[] = [];
  let loaded: Loaded | null = null;
  if (o.kubeconfig) {
    loaded = fromFile(path.resolve(o.kubeconfig), 'from --kubeconfig');
  } else if (env.KUBECONFIG) {
    loaded = fromPathList(env.KUBECONFIG);
  } else {
    tried.push('--kubeconfig (not given)', 'KUBECONFIG (unset)');
    if (env.KUBERNETES_SERVICE_HOST) {
      loaded = inCluster(env, o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    } else {
      tried.push('in-cluster service account (KUBERNETES_SERVICE_HOST unset)');
      const home = env.HOME || homedir();
      const file = path.join(home, '.kube', 'config');
      if (existsSync(file)) loaded = fromFile(file, 'the default');
      else tried.push(`${file} (does not exist)`);
    }
  }
  if (!loaded) throw new NoCredentialsError(`no Kubernetes credentials found; tried ${tried.join(', ')}. Pass --kubeconfig PATH or set KUBECONFIG.`);
  return resolveContext(loaded, env, o.context);
};
