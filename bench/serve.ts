// `node bench/serve.ts [--n 1000] [--rate 100] [--seconds 10]`: `GET /metrics` of `serve` at
// scale. N followers' states on the API-server double (every phase), scraped `rate` times a
// second for `seconds` seconds on the wall clock. Prints the state LISTs the server made (the
// goal: at most one a second), the latency of the answers, and what one refresh of the cache
// costs (a LIST, the status view, prom-client's rendering).
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { renderMetrics, snapshotFamilies } from '../src/serve/metrics.ts';
import { cachedSnapshots } from '../src/serve/snapshot.ts';
import { createServeWorld, roundRobinFollowers } from '../test/support/serve-world.ts';

const { values } = parseArgs({ options: { n: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } } });
const n = Number(values.n ?? 1000);
const rate = Number(values.rate ?? 100);
const seconds = Number(values.seconds ?? 10);

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) * 10) / 10;
};

/** One scrape as Prometheus makes it (gzip accepted); the body is counted, not decoded, so the load generator stays cheap. */
const scrape = (url: string): Promise<{ status: number; bytes: number }> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on('error', reject);
    req.end();
  });

const w = await createServeWorld(roundRobinFollowers(n), { driver: 'kubernetes', realClock: true });
try {
  // One refresh, part by part, after a warm-up (client-node and zod compile on first use).
  const refresh = async () => {
    const t0 = performance.now();
    const snap = await cachedSnapshots(w.ctx, 0).get();
    const t1 = performance.now();
    const text = await renderMetrics(snapshotFamilies(snap));
    return { readMs: t1 - t0, renderMs: performance.now() - t1, bytes: Buffer.byteLength(text.body) };
  };
  await refresh();
  const parts = [];
  for (let i = 0; i < 5; i++) parts.push(await refresh());

  await scrape(w.url);
  const lists = () => w.api?.requests.count((r) => r.verb === 'list' && r.resource === 'configmaps' && r.query.includes('labelSelector')) ?? 0;
  const before = lists();
  const latencies: number[] = [];
  let gzipBytes = 0;
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      (async () => {
        const t = performance.now();
        const r = await scrape(w.url);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        gzipBytes = r.bytes;
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(inFlight);
  const wallSeconds = (performance.now() - started) / 1000;
  const made = lists() - before;
  console.log(
    JSON.stringify(
      {
        followers: n,
        requests: rate * seconds,
        offeredRatePerSecond: rate,
        wallSeconds: Math.round(wallSeconds * 10) / 10,
        stateLists: made,
        stateListsPerSecond: Math.round((made / wallSeconds) * 100) / 100,
        responseBytes: parts[0]?.bytes,
        gzipBytes,
        latencyMs: { p50: quantile(latencies, 0.5), p90: quantile(latencies, 0.9), p99: quantile(latencies, 0.99), max: quantile(latencies, 1) },
        refreshMs: { readMedian: quantile(parts.map((p) => p.readMs), 0.5), renderMedian: quantile(parts.map((p) => p.renderMs), 0.5) },
      },
      null,
      2,
    ),
  );
} finally {
  await w.cleanup();
}
