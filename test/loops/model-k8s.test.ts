// The model-based fault suite on the Kubernetes driver: the real loops and the driver's real
// adapters over HTTP against the API-server double, with the model playing the Job controller
// and injecting API faults (409, 429 with Retry-After, 500/503, dropped connections before and
// after a write landed, slow and timed-out answers) besides crashes, races, pushes, outages and
// arming changes mid-tick. See docs/reliability.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConnection } from '../../src/adapters/kubernetes/kubeconfig.ts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';
import { WEIGHTS, weighted, worldCommands, type Model } from '../support/model-commands.ts';
import { Figures, faultRuns, replay } from '../support/model-figures.ts';
import { createK8sModelWorld, faultCommandArb } from '../support/model-k8s-driver.ts';
import { scratchRoot } from '../support/model-local-driver.ts';
import { T0, writeModelRegistry } from '../support/model-world.ts';

const RUNS = faultRuns('kubernetes');
const figures = new Figures('kubernetes');
const clockRef = { current: { t: T0 } };
let dir: string;
let loaded: LoadedRegistry;
let api: ApiServerDouble;
let kc: KubeConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(scratchRoot(), 'bf-model-registry-'));
  loaded = await writeModelRegistry(dir);
  api = await startApiServerDouble({ now: () => new Date(clockRef.current.t), managedFields: false });
  kc = api.connection();
});

afterAll(async () => {
  await figures.publish();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('model-based fault suite on the Kubernetes driver (API-server double)', () => {
  it(
    `keeps every invariant after every step of ${RUNS} random sequences under API faults, and converges once faults stop`,
    async () => {
      const commands = [...weighted(worldCommands(), WEIGHTS), faultCommandArb, faultCommandArb, faultCommandArb, faultCommandArb];
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), async (cmds) => {
          const world = await createK8sModelWorld(api, kc, clockRef, loaded, figures);
          figures.sequences++;
          try {
            const model: Model = { flavour: 'kubernetes' };
            await fc.asyncModelRun(() => ({ model, real: world }), cmds);
            await world.converge(20);
          } finally {
            await world.driver.close();
          }
        }),
        replay({ numRuns: RUNS }),
      );
    },
    30 * 60_000,
  );
});
