import type { TargetObservation } from '../../core/observe.ts';
import { parseRevision } from '../../core/revision.ts';
import type { TargetSpec } from '../../core/target-spec.ts';
import type { TargetReader } from '../ports.ts';
import { CRONJOB_API_VERSIONS, servedCronJobVersion, type CronJobApiVersion } from './apply.ts';
import { LIST_PAGE, listAll, makeClients, type KubeAccess, type KubeClients } from './client.ts';
import { describeError } from './errors.ts';

/**
 * The `k8s-annotation` target reader: which sha a workload runs, from an annotation on it.
 * Requests are grouped by (apiVersion, kind, namespace) and each group is one LIST, so a
 * namespace of many followers costs one call per tick. A CronJob target (the web-probe seed's) is
 * read in the version the server serves, found by discovery once per reader: a 1.20 server has
 * CronJob only as batch/v1beta1, and the annotation is the same in either version.
 */

export type KubernetesTargetReaderOptions = KubeAccess;

type AnnotationSpec = Extract<TargetSpec, { reader: 'k8s-annotation' }>;
type Meta = { name: string; annotations: Record<string, string> };

type Page = { items: { metadata?: { name?: string; annotations?: Record<string, string> } }[]; metadata?: { _continue?: string } };

/** One page of the kind's LIST: the typed API where there is one, else discovery and a generic LIST. */
const pageOf = (c: KubeClients, apiVersion: string, kind: string, namespace: string): ((cont: string | undefined) => Promise<Page>) => {
  const q = (cont: string | undefined) => ({ namespace, limit: LIST_PAGE, ...(cont ? { _continue: cont } : {}) });
  switch (`${apiVersion}/${kind}`) {
    case 'apps/v1/Deployment':
      return (cont) => c.apps.listNamespacedDeployment(q(cont));
    case 'apps/v1/StatefulSet':
      return (cont) => c.apps.listNamespacedStatefulSet(q(cont));
    case 'apps/v1/DaemonSet':
      return (cont) => c.apps.listNamespacedDaemonSet(q(cont));
    case 'batch/v1/CronJob':
      return (cont) => c.batch.listNamespacedCronJob(q(cont));
    case 'batch/v1/Job':
      return (cont) => c.batch.listNamespacedJob(q(cont));
    default:
      return (cont) => c.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, undefined, LIST_PAGE, cont);
  }
};

/** What one listed object says for one request. */
export const annotationReading = (spec: AnnotationSpec, obj: Meta | undefined): TargetObservation => {
  const ref = `${spec.kind} ${spec.namespace}/${spec.name}`;
  if (!obj) return { kind: 'unreadable', message: `${ref} not found` };
  const value = obj.annotations[spec.annotation];
  if (value === undefined) return { kind: 'ok', sha: null };
  const rev = parseRevision(value);
  if (!rev.ok) return { kind: 'unreadable', message: `${ref}: annotation ${spec.annotation} ${rev.why}` };
  return { kind: 'ok', sha: rev.sha };
};

const isCronJobVersion = (v: string): v is CronJobApiVersion => (CRONJOB_API_VERSIONS as readonly string[]).includes(v);

export const createKubernetesTargetReader = (o: KubernetesTargetReaderOptions): TargetReader => {
  const c = makeClients(o);
  let servedCronJobs: Promise<CronJobApiVersion> | undefined;
  /** The version to LIST a target's kind in; a failed discovery is asked again next time. */
  const listVersion = (spec: AnnotationSpec): Promise<string> => {
    if (spec.kind !== 'CronJob' || !isCronJobVersion(spec.apiVersion)) return Promise.resolve(spec.apiVersion);
    servedCronJobs ??= servedCronJobVersion(o.kc, o).catch((e: unknown) => {
      servedCronJobs = undefined;
      throw e;
    });
    return servedCronJobs;
  };
  return {
    async readMany(requests) {
      const out = new Map<string, TargetObservation>();
      const groups = new Map<string, { spec: AnnotationSpec; rs: { key: string; spec: AnnotationSpec }[] }>();
      for (const r of requests) {
        const spec = r.spec;
        if (spec.reader !== 'k8s-annotation') {
          out.set(r.key, { kind: 'invalid', message: `the Kubernetes target reader reads k8s-annotation targets, not ${spec.reader}` });
          continue;
        }
        const g = `${spec.apiVersion}\n${spec.kind}\n${spec.namespace}`;
        const group = groups.get(g) ?? { spec, rs: [] };
        group.rs.push({ key: r.key, spec });
        groups.set(g, group);
      }
      await Promise.all(
        [...groups.values()].map(async ({ spec, rs }) => {
          let apiVersion = spec.apiVersion;
          try {
            apiVersion = await listVersion(spec);
            const items = await listAll(c, pageOf(c, apiVersion, spec.kind, spec.namespace));
            const byName = new Map<string, Meta>(
              items.map((i) => [i.metadata?.name ?? '', { name: i.metadata?.name ?? '', annotations: i.metadata?.annotations ?? {} }]),
            );
            for (const r of rs) out.set(r.key, annotationReading(r.spec, byName.get(r.spec.name)));
          } catch (e) {
            const what = `cannot list ${spec.kind} (${apiVersion}) in ${spec.namespace}: ${describeError(e)}`;
            for (const r of rs) out.set(r.key, { kind: 'unreadable', message: what });
          }
        }),
      );
      return out;
    },
  };
};
