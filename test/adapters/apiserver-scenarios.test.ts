// The Kubernetes semantics of test/support/apiserver-scenarios.ts against the API-server double,
// once as a current server and once as a 1.20 one (CronJob only in batch/v1beta1, like the
// cluster suite's realk8s node). test/cluster/apiserver-scenarios.test.ts runs the same bodies
// against a real kube-apiserver.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe } from 'vitest';
import { CRONJOB_V1, CRONJOB_V1BETA1, startApiServerDouble, type ApiServerDouble, type ApiServerDoubleOptions } from '../support/apiserver-double.ts';
import { defineApiServerScenarios, type ScenarioServer } from '../support/apiserver-scenarios.ts';

const servers: [string, ApiServerDoubleOptions][] = [
  ['a current server', {}],
  ['a 1.20 server', { resources: [CRONJOB_V1BETA1], without: [CRONJOB_V1] }],
];

describe.each(servers)('the API-server double as %s', (_name, options) => {
  let api: ApiServerDouble | null = null;
  let count = 0;
  let server: ScenarioServer | null = null;
  beforeAll(async () => {
    // Strict namespaces, as a real server: every test creates its own through the API.
    const started = await startApiServerDouble({ ...options, strictNamespaces: true });
    api = started;
    const kc = started.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    server = {
      kind: 'double',
      kc,
      conn: started.connection(),
      namespace: async () => {
        const name = `scenario-${++count}`;
        await core.createNamespace({ body: { metadata: { name } } });
        return name;
      },
    };
  });
  afterAll(async () => {
    await api?.close();
  });
  defineApiServerScenarios(() => {
    if (!server) throw new Error('the double is only running inside the suite');
    return server;
  });
});
