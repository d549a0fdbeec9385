import { z } from 'zod';
import type { StageReading } from '../../core/fold.ts';
import type { PipelineReader, PipelineRequest } from '../ports.ts';
import { LIST_PAGE, listAll, makeClients, type KubeAccess } from './client.ts';
import { describeError } from './errors.ts';
import { carriesSha, shaLabelValue } from './labels.ts';

/**
 * The `pipeline` closeout check: the Tekton PipelineRuns labelled with a follower's fixed
 * labels and the run's sha. One LIST per namespace, whatever the number of followers there,
 * with a selector on the labels they all share; each follower's runs are picked out here.
 * A label value holds 63 characters, so a SHA-256 run is labelled with its sha cut to 63 and
 * carries the full sha in an annotation under the same key: both must match.
 */

export type KubernetesPipelineReaderOptions = KubeAccess;

const TEKTON = { group: 'tekton.dev', version: 'v1', plural: 'pipelineruns' } as const;
const DETAIL_MAX = 500;
const clip = (s: string): string => (s.length <= DETAIL_MAX ? s : `${s.slice(0, DETAIL_MAX - 1)}…`);

const Condition = z.object({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() });
export const PipelineRunView = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    creationTimestamp: z.string().optional(),
  }),
  status: z.object({ conditions: z.array(Condition).optional() }).optional(),
});
export type PipelineRunView = z.infer<typeof PipelineRunView>;

const PipelineRunList = z.object({
  items: z.array(z.unknown()),
  metadata: z.object({ continue: z.string().optional() }).optional(),
});

const selectorOf = (labels: Readonly<Record<string, string>>): string =>
  Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** The label pairs every request of a namespace asks for: the LIST's server-side selector. */
export const sharedLabels = (requests: readonly PipelineRequest[]): Record<string, string> => {
  const [first, ...rest] = requests;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first.spec.labels).filter(([k, v]) => rest.every((r) => r.spec.labels[k] === v)));
};

const matches = (run: PipelineRunView, r: PipelineRequest): boolean => {
  const labels = run.metadata.labels ?? {};
  return carriesSha(run.metadata, r.spec.shaLabel, r.sha) && Object.entries(r.spec.labels).every(([k, v]) => labels[k] === v);
};

const newestFirst = (a: PipelineRunView, b: PipelineRunView): number => {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return tb - ta;
  return a.metadata.name < b.metadata.name ? 1 : a.metadata.name > b.metadata.name ? -1 : 0;
};

/** A request's reading from the runs listed in its namespace: the newest matching run decides. */
export const pipelineReading = (r: PipelineRequest, runs: readonly PipelineRunView[]): StageReading => {
  const mine = runs.filter((run) => matches(run, r)).sort(newestFirst);
  const run = mine[0];
  if (!run) return { result: 'NONE', detail: clip(`no PipelineRun in ${r.spec.namespace} labelled ${selectorOf({ ...r.spec.labels, [r.spec.shaLabel]: shaLabelValue(r.sha) })}${r.sha.length > shaLabelValue(r.sha).length ? ` and annotated ${r.spec.shaLabel}=${r.sha}` : ''}`) };
  const ref = `PipelineRun ${r.spec.namespace}/${run.metadata.name}${mine.length > 1 ? ` (newest of ${mine.length})` : ''}`;
  const c = run.status?.conditions?.find((x) => x.type === 'Succeeded');
  const why = [c?.reason, c?.message].filter((x): x is string => !!x).join(': ');
  if (c?.status === 'True') return { result: 'SUCCESS', detail: clip(`${ref} succeeded`) };
  if (c?.status === 'False') return { result: 'FAILURE', detail: clip(`${ref} failed${why ? `: ${why}` : ''}`) };
  return { result: 'PENDING', detail: clip(`${ref} ${c ? `running${c.reason ? ` (${c.reason})` : ''}` : 'not started yet'}`) };
};

export const createKubernetesPipelineReader = (o: KubernetesPipelineReaderOptions): PipelineReader => {
  const c = makeClients(o);

  const listRuns = async (namespace: string, labelSelector: string): Promise<PipelineRunView[]> => {
    const raw = await listAll(c, async (cont) => {
      const page: unknown = await c.custom.listNamespacedCustomObject({
        ...TEKTON,
        namespace,
        limit: LIST_PAGE,
        ...(labelSelector ? { labelSelector } : {}),
        ...(cont ? { _continue: cont } : {}),
      });
      const list = PipelineRunList.parse(page);
      return { items: list.items, metadata: list.metadata?.continue ? { continue: list.metadata.continue } : {} };
    });
    return raw.flatMap((item) => {
      const r = PipelineRunView.safeParse(item);
      return r.success ? [r.data] : [];
    });
  };

  return {
    async readMany(requests) {
      const out = new Map<string, StageReading>();
      const byNamespace = new Map<string, PipelineRequest[]>();
      for (const r of requests) byNamespace.set(r.spec.namespace, [...(byNamespace.get(r.spec.namespace) ?? []), r]);
      await Promise.all(
        [...byNamespace].map(async ([namespace, rs]) => {
          try {
            const runs = await listRuns(namespace, selectorOf(sharedLabels(rs)));
            for (const r of rs) out.set(r.key, pipelineReading(r, runs));
          } catch (e) {
            // One namespace's failure (RBAC not granted yet, Tekton not installed) must not sink the others.
            for (const r of rs) out.set(r.key, { result: 'PENDING', detail: clip(`cannot list PipelineRuns in ${namespace}: ${describeError(e)}`) });
          }
        }),
      );
      return out;
    },
  };
};
