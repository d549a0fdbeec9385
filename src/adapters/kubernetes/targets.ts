import type { TargetObservation } from '../../core/observe.ts';
import { parseRevision } from '../../core/revision.ts';
import type { TargetSpec } from '../../core/target-spec.ts';
import type { TargetReader } from '../ports.ts';
import { CRONJOB_API_VERSIONS, servedCronJobVersion, type CronJobApiVersion } from './apply.ts';
import { ACCEPT_METADATA_LIST, collectionPath, listJson, makeClients, type KubeAccess, type KubeClients } from './client.ts';
import { describeError } from './errors.ts';

/**
 * The `k8s-annotation` target reader: which sha a workload runs, from an annotation on it.
 * Requests are grouped by (apiVersion, kind, namespace) and each group is one metadata-only LIST
 * (PartialObjectMetadataList, paged), so a namespace of many followers costs one call per tick
 * and only the objects' metadata crosses the wire and the heap. A CronJob target (the web-probe
 * seed's) is read in the version the server serves, found by discovery once per reader: a 1.20
 * server has CronJob only as batch/v1beta1, and the annotation is the same in either version.
 */

export type KubernetesTargetReaderOptions = KubeAccess;

type AnnotationSpec = Extract<TargetSpec, { reader: 'k8s-annotation' }>;
type Meta = { name: string; annotations: Record<string, string> };

/** The kinds whose collection is known without discovery (the typed APIs of client-node, which the driver used before, served them so). */
const KNOWN_PLURALS: Readonly<Record<string, string>> = {
  'apps/v1/Deployment': 'deployments',
  'apps/v1/StatefulSet': 'statefulsets',
  'apps/v1/DaemonSet': 'daemonsets',
  'batch/v1/CronJob': 'cronjobs',
  'batch/v1beta1/CronJob': 'cronjobs',
  'batch/v1/Job': 'jobs',
};

/** Where the kind's objects are listed: a known path, else one discovery GET of the group version. */
const pathOf = async (c: KubeClients, apiVersion: string, kind: string, namespace: string): Promise<string> => {
  const plural = KNOWN_PLURALS[`${apiVersion}/${kind}`];
  if (plural) return collectionPath(apiVersion, plural, namespace);
  const path = await c.call(() => c.objects.collectionPath(apiVersion, kind, namespace));
  if (!path) throw new Error(`${apiVersion} does not serve ${kind}`);
  return path;
};

/** A listed item's name and annotations: a PartialObjectMetadata's metadata (or a whole object's, from a server that answers with those). */
const metaOf = (item: unknown): Meta => {
  const m = typeof item === 'object' && item !== null ? (item as { metadata?: { name?: unknown; annotations?: unknown } }).metadata : undefined;
  const annotations = typeof m?.annotations === 'object' && m.annotations !== null ? (m.annotations as Record<string, string>) : {};
  return { name: typeof m?.name === 'string' ? m.name : '', annotations };
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
            // Metadata only: an annotation is all this reads of each object.
            const path = await pathOf(c, apiVersion, spec.kind, spec.namespace);
            const items = await listJson(c, path, { accept: ACCEPT_METADATA_LIST });
            const byName = new Map<string, Meta>(items.map((i) => metaOf(i)).map((m) => [m.name, m]));
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
