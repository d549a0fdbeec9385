// The web-probe seed's CronJob target read on the real cluster. The seed's owning config names a
// CronJob, which the adapter declares as batch/v1; a 1.20 server serves CronJob only as
// batch/v1beta1, so the Kubernetes target reader must read it in the served version (found by
// discovery, as `apply` does) or the follower sees "target unreadable" forever.
import { join } from 'node:path';
import { loadKubeConfig, type KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedCronJobVersion } from '../../src/adapters/kubernetes/apply.ts';
import { createKubernetesTargetReader } from '../../src/adapters/kubernetes/targets.ts';
import { createOwningConfigs } from '../../src/adapters/config/owning-configs.ts';
import { loadRegistry } from '../../src/adapters/config/registry-file.ts';
import { resolveFollowers } from '../../src/adapters/followers/resolve.ts';
import type { TargetSpec } from '../../src/core/target-spec.ts';
import { ROOT, applyObjects, deleteNamespaces, requireKubeconfig } from './support/cluster.ts';

const NS = 'bf-ci-seed-targets';
const SENTINEL = 'web-probe-sentinel-master';
const SHA = 'c0ffee'.padEnd(40, '0');

describe('the web-probe seed\'s CronJob target on the real cluster', () => {
  let kc: KubeConnection;
  beforeAll(async () => {
    kc = loadKubeConfig({ kubeconfig: requireKubeconfig() });
    await deleteNamespaces([NS]);
  });
  afterAll(async () => {
    if (process.env['BF_CLUSTER_KEEP'] !== '1') await deleteNamespaces([NS]);
  });

  it('is read in the served CronJob version, with the annotation the sentinel publishes', async () => {
    const loaded = await loadRegistry(join(ROOT, 'config', 'cicd-branch-followers.yaml'));
    const resolved = (await resolveFollowers(loaded.registry, createOwningConfigs(loaded.dir))).get(SENTINEL);
    if (!resolved?.ok) throw new Error(`the shipped ${SENTINEL} does not resolve`);
    const shipped = resolved.spec.target;
    if (shipped.reader !== 'k8s-annotation') throw new Error(`${SENTINEL} has a ${shipped.reader} target`);
    expect(shipped).toMatchObject({ apiVersion: 'batch/v1', kind: 'CronJob' });
    // The shipped target, moved into the suite's namespace.
    const target: TargetSpec = { ...shipped, namespace: NS };
    const served = await servedCronJobVersion(kc);
    await applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      {
        apiVersion: served,
        kind: 'CronJob',
        metadata: { name: shipped.name, namespace: NS, annotations: { [shipped.annotation]: SHA } },
        spec: {
          schedule: '*/15 * * * *',
          suspend: true,
          jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'probe', image: 'docker.io/local/busybox:1', imagePullPolicy: 'Never' }] } } } },
        },
      },
    ]);
    const reader = createKubernetesTargetReader({ kc });
    const got = await reader.readMany([
      { key: 'sentinel', spec: target },
      { key: 'absent', spec: { ...target, name: 'no-such-sentinel' } },
    ]);
    expect(got.get('sentinel')).toEqual({ kind: 'ok', sha: SHA });
    expect(got.get('absent')).toEqual({ kind: 'unreadable', message: `CronJob ${NS}/no-such-sentinel not found` });
  });
});
