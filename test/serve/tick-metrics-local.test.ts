// Tick metrics on the local driver, end to end: real ticks (the CLI as a subprocess) against a
// real git mirror fold their summaries into <stateDir>/tick-metrics.json under a lock, and
// `serve --driver local` exports them at /metrics. A tick whose mirror is gone is counted as such,
// with the repository's read; a totals file that fails its schema is left as it is and never
// changes a tick's outcome.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TICK_METRICS_FILE } from '../../src/adapters/local/tick-log.ts';
import { TickTotals } from '../../src/core/tick-metrics.ts';
import { createWorld, type World } from '../support/cli-world.ts';
import { startServe } from '../support/serve-process.ts';

const WEB = { id: 'web-main', repo: 'acme/web', branch: 'main' };
const API = { id: 'api-dev', repo: 'acme/api', branch: 'dev' };

const samples = (text: string): Map<string, number> =>
  new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))] as const),
  );

describe('tick metrics on the local driver', () => {
  let w: World;
  const totals = async (): Promise<TickTotals> => TickTotals.parse(JSON.parse(await readFile(join(w.stateDir, TICK_METRICS_FILE), 'utf8')));

  beforeAll(async () => {
    w = await createWorld([WEB, API]);
    await w.setTarget(WEB.id, await w.git.commit(WEB.repo, WEB.branch));
    await w.setTarget(API.id, await w.git.commit(API.repo, API.branch));
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('every tick counts once, by loop and outcome, with each repository\'s read', async () => {
    for (const loop of ['observer', 'observer', 'closer'] as const) expect((await w.cli(['tick', loop])).code).toBe(0);
    let t = await totals();
    expect(t.loops.observer.ticks.ok).toBe(2);
    expect(t.loops.closer.ticks.ok).toBe(1);
    expect(t.loops.observer.duration.count).toBe(2);
    for (const repo of [WEB.repo, API.repo]) {
      expect(t.repos[repo]?.reads.ok).toBe(2);
      expect(t.repos[repo]?.last.outcome).toBe('ok');
      expect(t.repos[repo]?.last.seconds).toBeGreaterThanOrEqual(0);
    }
    // The mirror loses a repository: the tick exits 4 and is counted as mirror-unreadable.
    const bare = join(w.git.root, 'mirror', `${API.repo}.git`);
    await rename(bare, `${bare}.gone`);
    try {
      expect((await w.cli(['tick', 'observer'])).code).toBe(4);
    } finally {
      await rename(`${bare}.gone`, bare);
    }
    t = await totals();
    expect(t.loops.observer.ticks['mirror-unreadable']).toBe(1);
    expect(t.repos[API.repo]?.reads.unreachable).toBe(1);
    expect(t.repos[API.repo]?.last.outcome).toBe('unreachable');
    expect(t.repos[WEB.repo]?.reads.ok).toBe(3);
  });

  it('serve --driver local exports them', async () => {
    const serve = await startServe(['--registry', `${w.configDir}/cicd-branch-followers.yaml`, '--driver', 'local'], { cwd: w.dir });
    try {
      const m = samples(await (await fetch(`${serve.url}/metrics`)).text());
      expect(m.get('branch_follower_ticks_total{loop="observer",outcome="ok"}')).toBe(2);
      expect(m.get('branch_follower_ticks_total{loop="observer",outcome="mirror-unreadable"}')).toBe(1);
      expect(m.get('branch_follower_ticks_total{loop="closer",outcome="ok"}')).toBe(1);
      expect(m.get(`branch_follower_repository_reads_total{repository="${API.repo}",outcome="unreachable"}`)).toBe(1);
      expect(m.get(`branch_follower_repository_last_read_outcome{repository="${API.repo}",outcome="unreachable"}`)).toBe(1);
      expect(m.get('branch_follower_tick_duration_seconds_count{loop="observer"}')).toBe(3);
    } finally {
      await serve.stop();
    }
  });

  it('a totals file that fails its schema is left for a person; the tick\'s outcome does not change', async () => {
    const file = join(w.stateDir, TICK_METRICS_FILE);
    const broken = '{"schemaVersion": 1, "loops": "SECRET-LOOKING-CONTENT"}\n';
    await writeFile(file, broken);
    const r = await w.cli(['tick', 'observer']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/metrics were not recorded: .*tick-metrics\.json: loops/);
    expect(r.stderr).not.toContain('SECRET-LOOKING-CONTENT');
    expect(await readFile(file, 'utf8')).toBe(broken);
  });
});
