// `GET /metrics` over real HTTP, from states stored on the API-server double: values against a
// known state, `promtool check metrics` on what is scraped, and the cost of scraping at scale
// counted in LIST requests (the clock the routes see is moved, so nothing here times anything).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { PHASES } from '../../src/core/phases.ts';
import { encodeSummary, summarizeTick } from '../../src/core/tick-metrics.ts';
import type { KubeObject } from '../support/apiserver-double.ts';
import { TICKS_TTL_MS } from '../../src/serve/snapshot.ts';
import { createServeWorld, roundRobinFollowers, SERVE_NAMESPACE, SERVE_T0, type ServeWorld } from '../support/serve-world.ts';

const run = promisify(execFile);

/** Where Debian's `prometheus` package puts promtool; CI installs it (.ci/run). */
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** `name{labels} value` lines as a map from `name{labels}` to the value. */
const samples = (text: string): Map<string, number> =>
  new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const i = l.lastIndexOf(' ');
        return [l.slice(0, i), Number(l.slice(i + 1))] as const;
      }),
  );

const stateLists = (w: ServeWorld): number =>
  w.api?.requests.count((r) => r.verb === 'list' && r.resource === 'configmaps' && r.query.includes('labelSelector')) ?? 0;

/** A tick pod that ended, as the kubelet reports it: its summary (or anything else) as its container's termination message. */
const tickPod = (uid: string, loop: 'observer' | 'closer', message: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `branch-follower-${loop}-${uid.slice(-5)}`, namespace: SERVE_NAMESPACE, uid, labels: componentLabels(loop) },
  spec: { containers: [{ name: 'tick', image: 'img:1' }] },
  status: { phase: 'Succeeded', containerStatuses: [{ name: 'tick', state: { terminated: { exitCode: 0, reason: 'Completed', containerID: `containerd://${uid}`, message } } }] },
});

const facts = { threw: false, corrupt: false, followerError: false, stoppedAtDeadline: false, mirrorUnreadable: false, blocked: false, reads: [] };

describe('GET /metrics', () => {
  let w: ServeWorld;
  beforeAll(async () => {
    w = await createServeWorld(roundRobinFollowers(11), { driver: 'kubernetes' });
    // Three ticks that ended (two observers, one closer) and a pod whose message is not a summary.
    const put = (o: KubeObject): void => void w.api?.store.put('pods', o);
    put(tickPod('0a000000-0000-4000-8000-000000000001', 'observer', encodeSummary(summarizeTick({ ...facts, loop: 'observer', at: SERVE_T0 - 120_000, seconds: 0.8, reads: [['acme/repo-0', 'ok', 0.2], ['acme/repo-1', 'ok', 0.3]] }))));
    put(tickPod('0a000000-0000-4000-8000-000000000002', 'observer', encodeSummary(summarizeTick({ ...facts, loop: 'observer', at: SERVE_T0 - 60_000, seconds: 21, mirrorUnreadable: true, reads: [['acme/repo-0', 'ok', 0.25], ['acme/repo-1', 'unreachable', 20]] }))));
    put(tickPod('0a000000-0000-4000-8000-000000000003', 'closer', encodeSummary(summarizeTick({ ...facts, loop: 'closer', at: SERVE_T0 - 30_000, seconds: 0.3, blocked: true }))));
    put(tickPod('0a000000-0000-4000-8000-000000000004', 'closer', 'Error: the kubelet could not read the message'));
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('answers the Prometheus text format with the values of the stored states', async () => {
    const r = await fetch(`${w.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    // fetch asks for gzip, as Prometheus does; a client that does not gets the plain text, the same.
    expect(r.headers.get('content-encoding')).toBe('gzip');
    const text = await r.text();
    const plain = await fetch(`${w.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(text);
    const m = samples(text);
    // One series per phase and follower; the one of its phase is 1.
    for (const [i, phase] of PHASES.entries()) {
      const id = `app-${String(i).padStart(4, '0')}`;
      for (const p of PHASES) expect(m.get(`branch_follower_phase{follower="${id}",phase="${p}"}`), `${id} ${p}`).toBe(p === phase ? 1 : 0);
    }
    // The follower with no stored state: Observed, no counts, no ages.
    expect(m.get('branch_follower_phase{follower="app-0010",phase="Observed"}')).toBe(1);
    expect(m.get('branch_follower_runs_total{follower="app-0010",result="succeeded"}')).toBe(0);
    expect(m.has('branch_follower_observed_sha_age_seconds{follower="app-0010"}')).toBe(false);
    // The fixture's tally (serve-world.ts): 4 dispatches, 2 succeeded with lead times 2 × 200 s.
    const id = 'app-0005'; // Succeeded two minutes before SERVE_T0, one more success on top of the tally.
    expect(m.get(`branch_follower_dispatches_total{follower="${id}"}`)).toBe(5);
    expect(m.get(`branch_follower_runs_total{follower="${id}",result="succeeded"}`)).toBe(3);
    expect(m.get(`branch_follower_runs_total{follower="${id}",result="failed"}`)).toBe(1);
    expect(m.get(`branch_follower_runs_total{follower="${id}",result="superseded"}`)).toBe(1);
    expect(m.get(`branch_follower_last_success_timestamp_seconds{follower="${id}"}`)).toBe((SERVE_T0 - 120_000) / 1000);
    // Lead times: two of 200 s from the tally (≤ 300 s), one of 28 min (observed 30 min before, succeeded 2 min before).
    expect(m.get(`branch_follower_lead_time_seconds_count{follower="${id}"}`)).toBe(3);
    expect(m.get(`branch_follower_lead_time_seconds_sum{follower="${id}"}`)).toBe(400 + 28 * 60);
    expect(m.get(`branch_follower_lead_time_seconds_bucket{follower="${id}",le="300"}`)).toBe(2);
    expect(m.get(`branch_follower_lead_time_seconds_bucket{follower="${id}",le="1800"}`)).toBe(3);
    expect(m.get(`branch_follower_lead_time_seconds_bucket{follower="${id}",le="+Inf"}`)).toBe(3);
    expect(m.get(`branch_follower_succeeded_sha_age_seconds{follower="${id}"}`)).toBe(120);
    // Blocked (app-0008): its kind, counted and current.
    expect(m.get('branch_follower_blocked_reason{follower="app-0008",kind="source-missing"}')).toBe(1);
    expect(m.get('branch_follower_blocked_total{follower="app-0008",kind="source-missing"}')).toBe(1);
    expect(m.has('branch_follower_blocked_reason{follower="app-0007",kind="source-missing"}')).toBe(false);
    // In flight (app-0003, Triggering): attempt 1 of 2; disarmed everywhere (the default).
    expect(m.get('branch_follower_attempts{follower="app-0003"}')).toBe(1);
    expect(m.get('branch_follower_attempts_allowed{follower="app-0003"}')).toBe(2);
    expect(m.get('branch_follower_armed{follower="app-0003"}')).toBe(0);
    expect(m.get('branch_follower_state_read_timestamp_seconds')).toBe(SERVE_T0 / 1000);
    // The ticks, from the tick pods' termination messages.
    expect(m.get('branch_follower_ticks_total{loop="observer",outcome="ok"}')).toBe(1);
    expect(m.get('branch_follower_ticks_total{loop="observer",outcome="mirror-unreadable"}')).toBe(1);
    expect(m.get('branch_follower_ticks_total{loop="closer",outcome="blocked"}')).toBe(1);
    expect(m.get('branch_follower_ticks_total{loop="closer",outcome="ok"}')).toBe(0);
    expect(m.get('branch_follower_tick_summaries_unreadable_total')).toBe(1);
    expect(m.get('branch_follower_tick_duration_seconds_count{loop="observer"}')).toBe(2);
    expect(m.get('branch_follower_tick_duration_seconds_sum{loop="observer"}')).toBeCloseTo(21.8, 6);
    expect(m.get('branch_follower_tick_duration_seconds_bucket{loop="observer",le="1"}')).toBe(1);
    expect(m.get('branch_follower_tick_duration_seconds_bucket{loop="observer",le="30"}')).toBe(2);
    expect(m.get('branch_follower_last_tick_timestamp_seconds{loop="closer"}')).toBe((SERVE_T0 - 30_000) / 1000);
    // Per repository: reads by outcome, and the last one's outcome and duration.
    expect(m.get('branch_follower_repository_reads_total{repository="acme/repo-1",outcome="ok"}')).toBe(1);
    expect(m.get('branch_follower_repository_reads_total{repository="acme/repo-1",outcome="unreachable"}')).toBe(1);
    expect(m.get('branch_follower_repository_last_read_outcome{repository="acme/repo-1",outcome="unreachable"}')).toBe(1);
    expect(m.get('branch_follower_repository_last_read_outcome{repository="acme/repo-1",outcome="ok"}')).toBe(0);
    expect(m.get('branch_follower_repository_last_read_duration_seconds{repository="acme/repo-1"}')).toBe(20);
    expect(m.get('branch_follower_repository_last_read_duration_seconds{repository="acme/repo-0"}')).toBe(0.25);
    expect(m.get('branch_follower_repository_last_read_timestamp_seconds{repository="acme/repo-0"}')).toBe((SERVE_T0 - 60_000) / 1000);
    // A repository no follower reads has no series.
    expect([...m.keys()].filter((k) => k.includes('repository="acme/repo-50"'))).toEqual([]);
  });

  it('passes promtool check metrics', async (ctx) => {
    if (!PROMTOOL) {
      // CI installs Debian's prometheus package: there, a missing promtool is a failure, not a skip.
      if (process.env.CI === 'true') throw new Error('promtool is missing: .ci/run installs it with the prometheus package');
      return ctx.skip();
    }
    const text = await (await fetch(`${w.url}/metrics`)).text();
    const child = execFile(PROMTOOL, ['check', 'metrics']);
    const out = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    child.stdin?.end(text);
    const r = await out;
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
    // And it does find fault where there is one: a counter without _total.
    const bad = execFile(PROMTOOL, ['check', 'metrics']);
    const badOut = new Promise<string>((resolve) => {
      let s = '';
      bad.stdout?.on('data', (b: Buffer) => (s += b.toString()));
      bad.stderr?.on('data', (b: Buffer) => (s += b.toString()));
      bad.on('close', () => resolve(s));
    });
    bad.stdin?.end('# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs 1\n');
    expect(await badOut).toMatch(/_total/);
  });
});

describe('GET /metrics at N = 1000', () => {
  let w: ServeWorld;
  beforeAll(async () => {
    w = await createServeWorld(roundRobinFollowers(1000), { driver: 'kubernetes' });
  }, 120_000);
  afterAll(async () => {
    await w?.cleanup();
  });

  it('100 requests a second cost at most one LIST of the states a second', async () => {
    w.api?.requests.reset();
    const seconds = 5;
    let answered = 0;
    for (let s = 0; s < seconds; s++) {
      // Ten waves of ten concurrent requests, 100 ms apart on the routes' clock. A real scraper
      // GETs; HEAD runs the same handler without moving 2 MB each, so most waves use it.
      for (let wave = 0; wave < 10; wave++) {
        w.clock.now = SERVE_T0 + s * 1000 + wave * 100;
        const rs = await Promise.all(Array.from({ length: 10 }, (_, k) => fetch(`${w.url}/metrics`, { method: wave === 0 && k === 0 ? 'GET' : 'HEAD' })));
        for (const r of rs) {
          expect(r.status).toBe(200);
          await r.arrayBuffer();
          answered++;
        }
      }
    }
    expect(answered).toBe(100 * seconds);
    expect(stateLists(w)).toBe(seconds);
    // The arming data is read with the states, no more often.
    expect(w.api?.requests.count((r) => r.verb === 'get' && r.resource === 'configmaps' && r.name === 'branch-follower-arming')).toBeLessThanOrEqual(seconds);
    // The tick pods (the tick metrics' summaries) are listed at most once a TICKS_TTL_MS (15 s).
    expect(w.api?.requests.count((r) => r.verb === 'list' && r.resource === 'pods')).toBeLessThanOrEqual(Math.ceil((seconds * 1000) / TICKS_TTL_MS));
    // Only reads (no tick pod ended, so the totals are not written), all in the controller namespace.
    const made = (w.api?.requests.all() ?? []).filter((r) => r.verb !== 'discovery');
    const kinds = new Set(made.map((r) => `${r.verb} ${r.resource} ${r.namespace}`));
    for (const k of kinds) expect(['get configmaps branch-follower', 'list configmaps branch-follower', 'list pods branch-follower']).toContain(k);
  }, 300_000);

  it('past the TTL one request starts one new read, and the requests meanwhile are answered from the last one', async () => {
    w.api?.requests.reset();
    const before = w.clock.now;
    w.clock.now += 60_000;
    const rs = await Promise.all(Array.from({ length: 20 }, () => fetch(`${w.url}/metrics`, { method: 'HEAD' })));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    // The read started by the first of them lands; until then the answers carry the last one.
    let readAt = 0;
    for (let i = 0; i < 600 && readAt !== w.clock.now / 1000; i++) {
      const m = samples(await (await fetch(`${w.url}/metrics`)).text());
      readAt = m.get('branch_follower_state_read_timestamp_seconds') ?? 0;
      expect(readAt <= before / 1000 || readAt === w.clock.now / 1000, String(readAt)).toBe(true);
      if (readAt !== w.clock.now / 1000) await new Promise((r) => setTimeout(r, 50));
    }
    expect(readAt).toBe(w.clock.now / 1000);
    expect(stateLists(w)).toBe(1);
  }, 120_000);
});
