/** The Kubernetes driver: everything the loops need on a cluster, over the REST API (rest.ts). */
export { createKubernetesDriver, type KubernetesDriver, type KubernetesDriverOptions } from './driver.ts';
export { loadKubeConfig, type LoadKubeConfigOptions } from './kubeconfig.ts';
export { withRetries, type RetryOptions } from './retry.ts';
export { makeClients, type KubeAccess, type KubeCallOptions, type KubeClients } from './client.ts';
export { createKubernetesStateStore, stateConfigMapName } from './state-store.ts';
export { createKubernetesArmingStore } from './arming-store.ts';
export { createKubernetesDispatcher } from './dispatcher.ts';
export { createKubernetesPipelineReader } from './pipelines.ts';
export { createKubernetesTargetReader } from './targets.ts';
export { createKubernetesEventSink } from './events.ts';
export { createKubernetesLogReader } from './logs.ts';
export { applyManifests, diffManifests, ensureArming, waitForCronJobs, type ApplyResult, type DiffEntry } from './apply.ts';
export { describeError } from './errors.ts';
