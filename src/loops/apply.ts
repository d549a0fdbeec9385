import { applyManifests, diffManifests, ensureArming, inServedVersions, servedCronJobVersion, waitForCronJobs, type DiffEntry } from '../adapters/kubernetes/apply.ts';
import { cronJobName, LOOPS, readRegistryFiles, renderManifests } from '../adapters/kubernetes/manifests.ts';
import type { KubernetesDriver } from '../adapters/kubernetes/driver.ts';
import type { LoadedRegistry } from '../adapters/config/registry-file.ts';
import type { KubernetesObject } from '@kubernetes/client-node';

/** The controller's manifests rendered from the registry (and the owning configs beside it). */
export const controllerManifests = async (loaded: LoadedRegistry, namespace: string): Promise<KubernetesObject[]> => {
  const registry = { ...loaded.registry, controller: { ...loaded.registry.controller, namespace } };
  return renderManifests(registry, { registryFiles: await readRegistryFiles(loaded.path) });
};

const refText = (d: { kind: string; name: string; namespace?: string }): string => `${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name}`;

export const renderDiff = (entries: readonly DiffEntry[]): string =>
  entries
    .map((d) => [`${d.action.padEnd(9)} ${refText(d)}`, ...d.diff.map((l) => `          ${l}`)].join('\n'))
    .join('\n');

export type ApplyOutcome = { text: string; changed: number };

/**
 * Server-side applies the controller's manifests with one field manager, creates the arming
 * ConfigMap disarmed only when it is absent (never overwriting a person's arming), and with
 * `wait` returns once both CronJobs exist and are not suspended.
 */
export const applyController = async (
  drv: KubernetesDriver,
  loaded: LoadedRegistry,
  namespace: string,
  o: { wait: boolean; timeoutMs: number },
): Promise<ApplyOutcome> => {
  const cronJobs = await servedCronJobVersion(drv.kc);
  const objects = inServedVersions(await controllerManifests(loaded, namespace), cronJobs);
  const diff = await diffManifests(drv.kc, objects);
  await applyManifests(drv.kc, objects);
  const arming = await ensureArming(drv.kc, namespace);
  const lines = [renderDiff(diff), `arming ConfigMap: ${arming === 'created' ? 'created disarmed (kill switch on, empty allowlist)' : 'present, left as it is'}`];
  if (o.wait) {
    await waitForCronJobs(drv.kc, namespace, LOOPS.map(cronJobName), { timeoutMs: o.timeoutMs, apiVersion: cronJobs });
    lines.push(`CronJobs (${cronJobs}) ${LOOPS.map(cronJobName).join(', ')} exist and are not suspended`);
  }
  return { text: lines.join('\n'), changed: diff.filter((d) => d.action !== 'unchanged').length };
};

export const planManifests = async (drv: KubernetesDriver, loaded: LoadedRegistry, namespace: string): Promise<DiffEntry[]> =>
  diffManifests(drv.kc, inServedVersions(await controllerManifests(loaded, namespace), await servedCronJobVersion(drv.kc)));
