import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { ArmingStore, Dispatcher, EventSink, LogReader, MirrorHoldStore, PipelineReader, StateStore, TargetReader, TickLog, WriterProbe } from '../ports.ts';
import { createKubernetesTickLog } from './tick-log.ts';
import type { ProcessIdentity } from '../local/writer.ts';
import { createKubernetesWriterProbe } from './writer.ts';
import { createKubernetesArmingStore } from './arming-store.ts';
import { createKubernetesMirrorHoldStore } from './mirror-hold-store.ts';
import type { KubeCallOptions } from './client.ts';
import { createKubernetesDispatcher } from './dispatcher.ts';
import { createKubernetesEventSink } from './events.ts';
import { loadKubeConfig, type KubeConnection } from './kubeconfig.ts';
import { createKubernetesLogReader } from './logs.ts';
import { createKubernetesPipelineReader } from './pipelines.ts';
import { createKubernetesStateStore, createStateListing } from './state-store.ts';
import { createKubernetesTargetReader } from './targets.ts';

/** Everything the loops need on Kubernetes, from one kubeconfig, for the composition root to wire. */

export type KubernetesDriverOptions = KubeCallOptions & {
  kubeconfig?: string;
  context?: string;
  /** The controller's namespace: state, arming, dispatch Jobs and events live there. */
  namespace: string;
  /** The image dispatch Jobs run the trigger argv in. */
  image: string;
  /** Where the kubeconfig is looked up (KUBECONFIG, KUBERNETES_SERVICE_HOST, HOME); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** An already loaded configuration; kubeconfig, context and env are then ignored. */
  kc?: KubeConnection;
  serviceAccountName?: string;
  ttlSecondsAfterFinished?: number;
  resources?: V1ResourceRequirements;
  /** This process, the writer of the dispatches it writes ahead when it runs outside a pod. */
  me?: ProcessIdentity;
};

export type KubernetesDriver = {
  kc: KubeConnection;
  store: StateStore;
  arming: ArmingStore;
  holds: MirrorHoldStore;
  dispatcher: Dispatcher;
  pipelines: PipelineReader;
  /** k8s-annotation targets only: hand it to the generic target reader as its `k8s` option. */
  targets: TargetReader;
  events: EventSink;
  logs: LogReader;
  writers: WriterProbe;
  ticks: TickLog;
};

export const createKubernetesDriver = (o: KubernetesDriverOptions): KubernetesDriver => {
  const kc =
    o.kc ??
    loadKubeConfig({
      ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
      ...(o.context !== undefined ? { context: o.context } : {}),
      ...(o.env !== undefined ? { env: o.env } : {}),
    });
  const access = {
    kc,
    ...(o.deadline !== undefined ? { deadline: o.deadline } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.sleep ? { sleep: o.sleep } : {}),
    ...(o.random ? { random: o.random } : {}),
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.listPage !== undefined ? { listPage: o.listPage } : {}),
    ...(o.onRetry ? { onRetry: o.onRetry } : {}),
  };
  const namespace = o.namespace;
  // States and mirror holds come from one LIST, shared while it is in flight.
  const listing = createStateListing({ ...access, namespace });
  return {
    kc,
    store: createKubernetesStateStore({ ...access, namespace, listing }),
    arming: createKubernetesArmingStore({ ...access, namespace }),
    holds: createKubernetesMirrorHoldStore({ ...access, namespace, listing }),
    dispatcher: createKubernetesDispatcher({
      ...access,
      namespace,
      image: o.image,
      ...(o.serviceAccountName !== undefined ? { serviceAccountName: o.serviceAccountName } : {}),
      ...(o.ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished: o.ttlSecondsAfterFinished } : {}),
      ...(o.resources !== undefined ? { resources: o.resources } : {}),
    }),
    pipelines: createKubernetesPipelineReader(access),
    targets: createKubernetesTargetReader(access),
    events: createKubernetesEventSink({ ...access, namespace }),
    logs: createKubernetesLogReader({ ...access, namespace }),
    ticks: createKubernetesTickLog({ ...access, namespace }),
    writers: createKubernetesWriterProbe({ ...access, namespace, env: o.env ?? process.env, me: o.me ?? { host: 'unknown', pid: process.pid, bootId: null } }),
  };
};
