// The model-based fault suite on the local driver: random sequences of observer and closer ticks
// (alone, overlapping, crashing before or after any adapter call), pushes, force-pushes, branch
// deletions, run outcomes, time, arming changes mid-tick, mirror and target outages and dry-run
// ticks, over the real loops and the local driver's real stores. See docs/reliability.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { LoadedRegistry } from '../../src/adapters/config/registry-file.ts';
import { WEIGHTS, weighted, worldCommands, type Model } from '../support/model-commands.ts';
import { Figures, faultRuns, replay } from '../support/model-figures.ts';
import { createLocalModelWorld, scratchRoot } from '../support/model-local-driver.ts';
import { writeModelRegistry } from '../support/model-world.ts';

const RUNS = faultRuns('local');
let dir: string;
let loaded: LoadedRegistry;
const figures = new Figures('local');

beforeAll(async () => {
  dir = await mkdtemp(join(scratchRoot(), 'bf-model-registry-'));
  loaded = await writeModelRegistry(dir);
});

afterAll(async () => {
  await figures.publish();
  await rm(dir, { recursive: true, force: true });
});

describe('model-based fault suite on the local driver', () => {
  it(
    `keeps every invariant after every step of ${RUNS} random sequences, and converges once faults stop`,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(weighted(worldCommands(), WEIGHTS), { maxCommands: 50, size: 'max' }), async (cmds) => {
          const { world } = await createLocalModelWorld(loaded, figures);
          figures.sequences++;
          try {
            const model: Model = { flavour: 'local' };
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
