// The Kubernetes tick log against the API-server double: a tick's summary goes to its
// termination message file (never created where there is none); `totals` folds the tick pods'
// summaries in memory and writes nothing; `collect` keeps them in the ConfigMap once, refolds on
// a conflict, and never lets a count fall when the ConfigMap is missing and pods go; a dry-run
// context refuses `collect`.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { componentLabels } from '../../src/adapters/kubernetes/labels.ts';
import { tickMetricsConfigMap } from '../../src/adapters/kubernetes/serve-manifests.ts';
import { createKubernetesTickLog, TICK_METRICS_CONFIGMAP, TICK_METRICS_KEY, writeTerminationMessage } from '../../src/adapters/kubernetes/tick-log.ts';
import { decodeSummary, summarizeTick, encodeSummary, type TickSummary } from '../../src/core/tick-metrics.ts';
import { DryRunWriteError, guardWrites } from '../../src/loops/dry-run.ts';
import type { Ports } from '../../src/loops/context.ts';
import type { KubeObject } from '../support/apiserver-double.ts';
import { useK8sSuite } from '../support/k8s-suite.ts';

const suite = useK8sSuite('bf-ticklog');
const { freshNamespace, access } = suite;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

const summary = (loop: 'observer' | 'closer', at: number): TickSummary =>
  summarizeTick({ loop, at, seconds: 0.5, threw: false, corrupt: false, followerError: false, stoppedAtDeadline: false, mirrorUnreadable: false, blocked: false, reads: loop === 'observer' ? [['acme/web', 'ok', 0.1]] : [] });

const tickPod = (namespace: string, n: number, s: TickSummary): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `tick-${n}`, namespace, uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, labels: componentLabels(s.loop) },
  spec: { containers: [{ name: 'tick', image: 'img:1' }] },
  status: { phase: 'Succeeded', containerStatuses: [{ name: 'tick', state: { terminated: { exitCode: 0, containerID: `containerd://${n}`, message: encodeSummary(s) } } }] },
});

const writes = (namespace: string): string[] =>
  suite.api.requests.all({ namespace }).filter((r) => r.method !== 'GET').map((r) => `${r.verb} ${r.resource}/${r.name ?? ''}`);

describe('the Kubernetes tick log', () => {
  it('writes a summary into an existing termination message file only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bf-termlog-'));
    try {
      const file = join(dir, 'termination-log');
      expect(await writeTerminationMessage(file, 'x')).toBe(false);
      await expect(readFile(file)).rejects.toThrow();
      await writeFile(file, 'an older, longer message');
      const s = summary('observer', T0);
      await createKubernetesTickLog({ ...access(), namespace: 'unused', terminationMessagePath: file }).record(s);
      expect(decodeSummary(await readFile(file, 'utf8'))).toEqual(s);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('totals fold the tick pods in memory and write nothing; collect keeps them once', async () => {
    const namespace = freshNamespace();
    suite.api.store.put('configmaps', tickMetricsConfigMap(namespace) as KubeObject);
    suite.api.store.put('pods', tickPod(namespace, 1, summary('observer', T0)));
    suite.api.store.put('pods', tickPod(namespace, 2, summary('closer', T0 + 1000)));
    const log = createKubernetesTickLog({ ...access(), namespace });
    suite.api.requests.reset();
    const read = await log.totals();
    expect([read.loops.observer.ticks.ok, read.loops.closer.ticks.ok]).toEqual([1, 1]);
    expect(writes(namespace)).toEqual([]);
    const kept = await log.collect();
    expect(kept).toEqual(read);
    expect(writes(namespace)).toEqual([`update configmaps/${TICK_METRICS_CONFIGMAP}`]);
    const cm = suite.api.store.get('configmaps', namespace, TICK_METRICS_CONFIGMAP) as { data?: Record<string, string>; metadata: { labels?: Record<string, string> } };
    expect(JSON.parse(cm.data?.[TICK_METRICS_KEY] ?? '{}')).toEqual(kept);
    expect(cm.metadata.labels).toEqual(componentLabels('serve'));
    // Nothing new: no second write. The pods gone: the kept counts stay.
    await log.collect();
    expect(writes(namespace)).toHaveLength(1);
    suite.api.store.delete('pods', namespace, 'tick-1');
    suite.api.store.delete('pods', namespace, 'tick-2');
    expect((await log.collect()).loops.observer.ticks.ok).toBe(1);
    // A second serve (a restart) reads them back.
    expect((await createKubernetesTickLog({ ...access(), namespace }).totals()).loops.closer.ticks.ok).toBe(1);
  });

  it('folds again on what another writer kept meanwhile (a conflict), counting each pod once', async () => {
    const namespace = freshNamespace();
    suite.api.store.put('configmaps', tickMetricsConfigMap(namespace) as KubeObject);
    suite.api.store.put('pods', tickPod(namespace, 1, summary('observer', T0)));
    const a = createKubernetesTickLog({ ...access(), namespace });
    const b = createKubernetesTickLog({ ...access(), namespace });
    await Promise.all([a.collect(), b.collect(), a.collect()]);
    suite.api.store.put('pods', tickPod(namespace, 2, summary('observer', T0 + 60_000)));
    await Promise.all([a.collect(), b.collect()]);
    const cm = suite.api.store.get('configmaps', namespace, TICK_METRICS_CONFIGMAP) as { data?: Record<string, string> };
    expect(JSON.parse(cm.data?.[TICK_METRICS_KEY] ?? '{}')).toMatchObject({ loops: { observer: { ticks: { ok: 2 } } } });
  });

  it('without its ConfigMap, collect counts in memory, says so once, and never falls when pods go', async () => {
    const namespace = freshNamespace();
    suite.api.store.put('pods', tickPod(namespace, 1, summary('observer', T0)));
    const said: string[] = [];
    const log = createKubernetesTickLog({ ...access(), namespace, log: (l) => said.push(l) });
    expect((await log.collect()).loops.observer.ticks.ok).toBe(1);
    suite.api.store.put('pods', tickPod(namespace, 2, summary('observer', T0 + 60_000)));
    expect((await log.collect()).loops.observer.ticks.ok).toBe(2);
    suite.api.store.delete('pods', namespace, 'tick-1');
    expect((await log.collect()).loops.observer.ticks.ok).toBe(2);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('not found');
    expect(writes(namespace)).toEqual([]);
  });

  it('a dry-run context reads the totals and refuses to keep them', async () => {
    const namespace = freshNamespace();
    const ticks = createKubernetesTickLog({ ...access(), namespace });
    // Only the tick log matters here; the other ports are never called.
    const others = { store: {}, arming: {}, holds: {}, dispatcher: { kind: 'Job' }, targets: {}, pipelines: {}, refs: {}, events: {}, notifier: {}, logs: {} };
    const guarded = guardWrites({ ...others, ticks } as unknown as Ports).ticks;
    expect((await guarded?.totals())?.schemaVersion).toBe(1);
    await expect(async () => guarded?.collect()).rejects.toThrow(DryRunWriteError);
    await expect(async () => guarded?.record(summary('closer', T0))).rejects.toThrow(DryRunWriteError);
  });
});
