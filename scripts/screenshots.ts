// `npm run screenshots`: the status page and a follower page of `branch-follower serve`, drawn by
// headless Chromium (Debian's chromium through playwright-core) and written to docs/images/. The
// states are the three seed followers of config/ in a made-up but typical moment; look at the
// PNGs before committing them.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { fixtureState, createSeedServeWorld, SERVE_T0, shaOf } from '../test/support/serve-world.ts';

const OUT = join(import.meta.dirname, '..', 'docs', 'images');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const states = [
  fixtureState('hwlab-jd01-v03', 'ClosingOut', { index: 1, reason: `waiting on check target: Deployment hwlab/hwlab-v03 reports ${shaOf(1).slice(0, 12)}, not ${shaOf(1001).slice(0, 12)}` }),
  fixtureState('agentrun-jd01-v02', 'Succeeded', { index: 2, reason: `every check passed for ${shaOf(1002).slice(0, 12)}: trigger, pipeline, target` }),
  fixtureState('web-probe-sentinel-master', 'Blocked', {
    index: 3,
    reason:
      'source branch pikasTech/unidesk@master is missing on the git mirror; unblock: restore the branch on the mirror (a new commit clears this), or point the source configRef at an existing branch',
  }),
];

await mkdir(OUT, { recursive: true });
const world = await createSeedServeWorld(states, {
  driver: 'local',
  now: SERVE_T0,
  arming: { killSwitch: { on: false, by: 'alice', at: '2026-03-01T09:00:00.000Z', reason: 'rollout week' }, allowlist: states.map((s) => ({ id: s.id, by: 'alice', at: '2026-03-01T09:00:00.000Z', reason: 'rollout week' })) },
});
const browser = await chromium.launch({ executablePath: CHROMIUM });
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 640 }, deviceScaleFactor: 1 });
  await page.goto(`${world.url}/`);
  await page.screenshot({ path: join(OUT, 'status-table.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${world.url}/followers/hwlab-jd01-v03`);
  await page.screenshot({ path: join(OUT, 'status-follower.png'), fullPage: true });
  console.log(`wrote ${join(OUT, 'status-table.png')} and ${join(OUT, 'status-follower.png')}`);
} finally {
  await browser.close();
  await world.cleanup();
}
