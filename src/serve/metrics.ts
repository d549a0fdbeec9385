import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { followerMetrics, type HistogramSeries, type MetricFamily } from '../core/metrics.ts';
import { tickMetrics } from '../core/tick-metrics.ts';
import type { Route, ServeResponse } from './route.ts';
import type { Snapshot, SnapshotSource } from './snapshot.ts';

/**
 * A histogram whose buckets were counted elsewhere (in each follower's stored tally): prom-client
 * formats it like any other, but its values come from the state, not from `observe()` calls in
 * this process, so they survive restarts of `serve`.
 */
class StoredHistogram extends Histogram<string> {
  private readonly stored: Extract<MetricFamily, { type: 'histogram' }>;
  private readonly empty: Histogram<string>;
  constructor(reg: Registry, f: Extract<MetricFamily, { type: 'histogram' }>) {
    const config = { name: f.name, help: f.help, labelNames: [...f.labelNames], buckets: [...f.buckets] };
    super({ ...config, registers: [reg] });
    this.stored = f;
    // An unregistered twin with no observations: its answer carries name, help and type as
    // prom-client spells them, and the stored values go in its place.
    this.empty = new Histogram({ ...config, registers: [] });
  }
  override async get(): ReturnType<Histogram<string>['get']> {
    const { name, buckets, series } = this.stored;
    const values = series.flatMap((s) => [
      ...buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: s.cumulative[i] ?? 0 })),
      { metricName: `${name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count },
      { metricName: `${name}_sum`, labels: { ...s.labels }, value: s.sum },
      { metricName: `${name}_count`, labels: { ...s.labels }, value: s.count },
    ]);
    return { ...(await this.empty.get()), values };
  }
  /** What the registry asks a histogram for when it writes the text format. */
  getForPromString(): ReturnType<Histogram<string>['get']> {
    return this.get();
  }
}

/** The families in the Prometheus text format, through a registry of their own (nothing global). */
export const renderMetrics = async (families: readonly MetricFamily[]): Promise<{ contentType: string; body: string }> => {
  const reg = new Registry();
  for (const f of families) {
    if (f.type === 'histogram') {
      new StoredHistogram(reg, f);
    } else if (f.type === 'gauge') {
      const g = new Gauge({ name: f.name, help: f.help, labelNames: [...f.labelNames], registers: [reg] });
      for (const s of f.samples) g.set(s.labels, s.value);
    } else {
      const c = new Counter({ name: f.name, help: f.help, labelNames: [...f.labelNames], registers: [reg] });
      for (const s of f.samples) c.inc(s.labels, s.value);
    }
  }
  return { contentType: reg.contentType, body: await reg.metrics() };
};

/** The families of one snapshot: the followers', plus the read itself. */
export const snapshotFamilies = (s: Snapshot): MetricFamily[] => [
  ...followerMetrics(
    s.rows.map((r) => ({ id: r.id, state: s.states.get(r.id) ?? null, corrupt: s.corrupt.has(r.id), armed: s.armed.get(r.id) ?? false, maxAttempts: s.maxAttempts.get(r.id) ?? 0 })),
    s.at,
  ),
  {
    name: 'branch_follower_mirror_held_repositories',
    help: 'Repositories of the git mirror held by back-pressure (HTTP 429/503 with Retry-After): no tick reads them before the hold ends.',
    type: 'gauge',
    labelNames: [],
    samples: [{ labels: {}, value: s.mirror.held }],
  },
  ...(s.ticks ? tickMetrics(s.ticks, s.rows.flatMap((r) => (r.source.repo ? [r.source.repo] : []))) : []),
  {
    name: 'branch_follower_state_read_timestamp_seconds',
    help: 'When the state store was read for this answer (reads are shared for a second), in seconds since the Unix epoch.',
    type: 'gauge',
    labelNames: [],
    samples: [{ labels: {}, value: s.at / 1000 }],
  },
];

const gzipped = promisify(gzip);

/** Whether the client takes gzip (Prometheus asks for it): the text of 1,000 followers is 2 MB, gzipped about 1/30 of it. */
const takesGzip = (accept: string | string[] | undefined): boolean =>
  [accept ?? ''].flat().join(',').split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    return coding === 'gzip' && !params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });

type Rendered = { contentType: string; body: string; gzip: Promise<Buffer> | null };

/**
 * `GET /metrics`: the Prometheus text format, from the cached state read. The text (and its
 * gzip) is made once per read, so any number of scrapes within the TTL cost one LIST and one
 * rendering.
 */
export const metricsRoutes = (snapshots: SnapshotSource): Route[] => {
  const rendered = new WeakMap<Snapshot, Promise<Rendered>>();
  return [
    {
      method: 'GET',
      path: '/metrics',
      async handle(req): Promise<ServeResponse> {
        const s = await snapshots.get();
        let out = rendered.get(s);
        if (!out) {
          out = renderMetrics(snapshotFamilies(s)).then((r) => ({ ...r, gzip: null }));
          rendered.set(s, out);
        }
        const r = await out;
        if (!takesGzip(req.headers['accept-encoding'])) return { status: 200, headers: { 'content-type': r.contentType, vary: 'accept-encoding' }, body: r.body };
        r.gzip ??= gzipped(r.body);
        return { status: 200, headers: { 'content-type': r.contentType, 'content-encoding': 'gzip', vary: 'accept-encoding' }, body: await r.gzip };
      },
    },
  ];
};
