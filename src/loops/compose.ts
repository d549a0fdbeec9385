import { resolve } from 'node:path';
import { createGitRefReader } from '../adapters/git/ref-reader.ts';
import { createLocalArmingStore } from '../adapters/local/arming-store.ts';
import { createLocalDispatcher } from '../adapters/local/dispatcher.ts';
import { createLocalHousekeeper } from '../adapters/local/housekeeping.ts';
import { createLocalTickLog } from '../adapters/local/tick-log.ts';
import { createLocalWriterProbe, thisProcess } from '../adapters/local/writer.ts';
import { createLocalEventSink } from '../adapters/local/events.ts';
import { createLocalLogReader } from '../adapters/local/logs.ts';
import { createLocalMirrorHoldStore } from '../adapters/local/mirror-hold-store.ts';
import { createLocalStateStore } from '../adapters/local/state-store.ts';
import { createWebhookNotifier } from '../adapters/notify/webhook.ts';
import type { PipelineReader, TargetReader } from '../adapters/ports.ts';
import { createTargetReader } from '../adapters/targets/target-reader.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type { KubernetesDriver } from '../adapters/kubernetes/driver.ts';
import type { LoopContext, Ports } from './context.ts';
import { guardWrites } from './dry-run.ts';
import { redactPorts } from './redact-ports.ts';
import { createRedactor, type Redactor } from '../adapters/redaction.ts';

export type ComposeOptions = {
  loaded: LoadedRegistry;
  driver?: 'local' | 'kubernetes';
  dryRun: boolean;
  /** Overrides the registry's local.stateDir (relative to the registry). */
  stateDir?: string;
  log: (line: string) => void;
  deadlineSeconds?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  kubeconfig?: string;
  context?: string;
  /** Overrides the registry's controller.namespace (-n). */
  namespace?: string;
  /** Where the registry's secrets are recorded for redaction (the CLI's, which its output passes through); default a fresh one. */
  redactor?: Redactor;
};

/** Where the git mirror's credentials can come from: the proxies git and fetch are given (`http://user:pass@proxy`). */
const MIRROR_SECRET_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'] as const;

/**
 * The values of every secret the installation uses, read from the environment: the notifier's
 * webhook URL (its token is in the URL) and the mirror's proxy credentials. Redacted wherever
 * text leaves the process.
 */
export const secretValues = (loaded: LoadedRegistry, env: NodeJS.ProcessEnv): (string | undefined)[] => {
  const webhookEnv = loaded.registry.controller.notify?.webhookUrlEnv;
  const proxyPasswords = MIRROR_SECRET_VARS.map((k) => env[k]).map((v) => (v && URL.canParse(v) ? decodeURIComponent(new URL(v).password) || undefined : undefined));
  return [webhookEnv ? env[webhookEnv] : undefined, ...proxyPasswords];
};

/** Whether Kubernetes is reachable by configuration: the kubernetes driver, or a kubeconfig given to the local one. */
const wantsCluster = (o: ComposeOptions, driver: 'local' | 'kubernetes', env: NodeJS.ProcessEnv): boolean =>
  driver === 'kubernetes' || !!o.kubeconfig || !!o.context || !!env.KUBECONFIG || !!env.KUBERNETES_SERVICE_HOST;

export const namespaceOf = (o: Pick<ComposeOptions, 'loaded' | 'namespace'>): string => o.namespace ?? o.loaded.registry.controller.namespace;

export type ClusterOptions = Pick<ComposeOptions, 'loaded' | 'kubeconfig' | 'context' | 'namespace'>;

/** Loaded on demand: local ticks never need it. */
export const kubernetesDriver = async (o: ClusterOptions, env: NodeJS.ProcessEnv, deadline: number | null): Promise<KubernetesDriver> =>
  (await import('../adapters/kubernetes/driver.ts')).createKubernetesDriver({
    kubeconfig: o.kubeconfig,
    context: o.context,
    namespace: namespaceOf(o),
    image: o.loaded.registry.controller.image,
    env,
    me: await thisProcess(),
    ...(deadline !== null ? { deadline } : {}),
  });

export const localStateDir = (loaded: LoadedRegistry, override?: string): string =>
  resolve(loaded.dir, override ?? loaded.registry.controller.local.stateDir);

/** Tekton PipelineRuns live in a cluster; without one the pipeline check cannot pass. */
const noCluster: PipelineReader = {
  async readMany(requests) {
    return new Map(requests.map((r) => [r.key, { result: 'FAILURE' as const, detail: 'the pipeline check needs the kubernetes driver (no Tekton on the local driver)' }]));
  },
};

/** The composition root: the only place adapters are chosen and wired. */
export const compose = async (o: ComposeOptions): Promise<LoopContext> => {
  const env = o.env ?? process.env;
  const driver = o.driver ?? o.loaded.registry.controller.driver;
  const now = o.now ?? (() => Date.now());
  const deadline = o.deadlineSeconds ? now() + o.deadlineSeconds * 1000 : null;
  const webhookEnv = o.loaded.registry.controller.notify?.webhookUrlEnv;
  const redactor = o.redactor ?? createRedactor();
  redactor.add(secretValues(o.loaded, env));
  const log = (line: string): void => o.log(redactor.redact(line));
  // Kubernetes is reached lazily: a local tick whose followers never read the cluster needs no kubeconfig.
  let kube: Promise<KubernetesDriver> | null = null;
  const k8s = (): Promise<KubernetesDriver> => (kube ??= kubernetesDriver(o, env, deadline));
  const cluster = wantsCluster(o, driver, env);
  const clusterTargets: TargetReader = { readMany: async (r) => (await k8s()).targets.readMany(r) };
  const clusterPipelines: PipelineReader = { readMany: async (r) => (await k8s()).pipelines.readMany(r) };
  const common = {
    targets: createTargetReader({ cwd: o.loaded.dir, ...(cluster ? { k8s: clusterTargets } : {}) }),
    pipelines: cluster ? clusterPipelines : noCluster,
    refs: createGitRefReader({ readUrl: o.loaded.registry.controller.gitMirror.readUrl }),
    notifier: createWebhookNotifier({ url: webhookEnv ? env[webhookEnv] : undefined, log }),
  };
  let ports: Ports;
  if (driver === 'kubernetes') {
    const d = await k8s();
    ports = { ...common, store: d.store, arming: d.arming, holds: d.holds, dispatcher: d.dispatcher, events: d.events, logs: d.logs, writers: d.writers, ticks: d.ticks };
  } else {
    const stateDir = localStateDir(o.loaded, o.stateDir);
    ports = {
      ...common,
      store: createLocalStateStore(stateDir),
      arming: createLocalArmingStore(stateDir),
      holds: createLocalMirrorHoldStore(stateDir),
      // The webhook URL is a secret of the controller's, not the deploy command's.
      dispatcher: createLocalDispatcher({ stateDir, cwd: o.loaded.dir, env: webhookEnv ? { ...env, [webhookEnv]: undefined } : env }),
      events: createLocalEventSink(stateDir),
      logs: createLocalLogReader(stateDir),
      writers: createLocalWriterProbe(await thisProcess()),
      ticks: createLocalTickLog(stateDir),
      housekeeper: createLocalHousekeeper({ stateDir, retentionDays: o.loaded.registry.controller.local.runRetentionDays }),
    };
  }
  const clean = redactPorts(ports, redactor);
  return { loaded: o.loaded, ports: o.dryRun ? guardWrites(clean) : clean, now, log, dryRun: o.dryRun, deadline };
};
