// The Kubernetes semantics of test/support/apiserver-scenarios.ts against the real kube-apiserver
// KUBECONFIG names: the same test bodies the API-server double passes in `npm test`
// (test/adapters/apiserver-scenarios.test.ts). A failure here that passes there means the double
// is wrong: fix the double.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/adapters/kubernetes/kubeconfig.ts';
import { afterAll, beforeAll, describe } from 'vitest';
import { defineApiServerScenarios, type ScenarioServer } from '../support/apiserver-scenarios.ts';
import { deleteNamespaces, requireKubeconfig } from './support/cluster.ts';

describe('the real kube-apiserver', () => {
  const created: string[] = [];
  const run = Date.now().toString(36);
  let server: ScenarioServer | null = null;
  beforeAll(() => {
    const kc = new KubeConfig();
    kc.loadFromFile(requireKubeconfig());
    const core = kc.makeApiClient(CoreV1Api);
    server = {
      kind: 'real',
      kc,
      conn: loadKubeConfig({ kubeconfig: requireKubeconfig() }),
      namespace: async () => {
        const name = `bf-ci-api-${run}-${created.length + 1}`;
        await core.createNamespace({ body: { metadata: { name } } });
        created.push(name);
        return name;
      },
    };
  });
  afterAll(async () => {
    if (process.env['BF_CLUSTER_KEEP'] !== '1') await deleteNamespaces(created);
  });
  defineApiServerScenarios(() => {
    if (!server) throw new Error('the real server is only named inside the suite');
    return server;
  });
});
