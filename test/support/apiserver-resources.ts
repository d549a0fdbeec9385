// The resource types the double serves and the discovery documents describing them. Each entry
// carries the handful of per-type behaviours of the real registry that callers can observe.

export type NameRule = 'subdomain' | 'label' | 'path-segment';

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, as in the URL. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  nameRule: NameRule;
  /** A tighter limit than the name rule's own (CronJob: 52, so its Jobs' names fit). */
  maxNameLength?: number;
  /** Has a `/status` subresource: the main resource ignores status writes and vice versa. */
  statusSubresource?: boolean;
  /** metadata.generation is kept and bumped when anything but metadata and status changes. */
  generation?: boolean;
  /** Served by a CustomResourceDefinition: no strategic merge patch, status dropped on create. */
  custom?: boolean;
  /** DELETE answers the deleted object rather than a Status (pods). */
  returnsDeletedObject?: boolean;
  /** The garbage-collection policy when the caller names none (batch/v1 Jobs orphan their pods). */
  defaultPropagation?: 'Orphan' | 'Background';
  /** Field selector labels beyond metadata.name and metadata.namespace. */
  fieldLabels?: string[];
  /** Pod logs. */
  logSubresource?: boolean;
}

const CRONJOB_V1_DEF: ResourceDef = {
  group: 'batch',
  version: 'v1',
  resource: 'cronjobs',
  singular: 'cronjob',
  kind: 'CronJob',
  namespaced: true,
  shortNames: ['cj'],
  nameRule: 'subdomain',
  maxNameLength: 52,
  statusSubresource: true,
  generation: true,
};

const readWrite = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const defaultResources: ResourceDef[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    nameRule: 'label',
    statusSubresource: true,
    fieldLabels: ['status.phase'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
    nameRule: 'subdomain',
  },
  {
    group: '',
    version: 'v1',
    resource: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    namespaced: true,
    nameRule: 'subdomain',
    fieldLabels: ['type'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    nameRule: 'subdomain',
    fieldLabels: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    nameRule: 'subdomain',
    statusSubresource: true,
    returnsDeletedObject: true,
    logSubresource: true,
    fieldLabels: [
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  },
  {
    group: '',
    version: 'v1',
    resource: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    namespaced: true,
    shortNames: ['sa'],
    nameRule: 'subdomain',
  },
  {
    group: '',
    version: 'v1',
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    nameRule: 'label',
    statusSubresource: true,
  },
  {
    group: 'batch',
    version: 'v1',
    resource: 'jobs',
    singular: 'job',
    kind: 'Job',
    namespaced: true,
    nameRule: 'subdomain',
    statusSubresource: true,
    generation: true,
    defaultPropagation: 'Orphan',
    fieldLabels: ['status.successful'],
  },
  CRONJOB_V1_DEF,
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    nameRule: 'subdomain',
    statusSubresource: true,
    generation: true,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    singular: 'statefulset',
    kind: 'StatefulSet',
    namespaced: true,
    shortNames: ['sts'],
    nameRule: 'subdomain',
    statusSubresource: true,
    generation: true,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'daemonsets',
    singular: 'daemonset',
    kind: 'DaemonSet',
    namespaced: true,
    shortNames: ['ds'],
    nameRule: 'subdomain',
    statusSubresource: true,
    generation: true,
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'roles',
    singular: 'role',
    kind: 'Role',
    namespaced: true,
    nameRule: 'path-segment',
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'rolebindings',
    singular: 'rolebinding',
    kind: 'RoleBinding',
    namespaced: true,
    nameRule: 'path-segment',
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    singular: 'clusterrole',
    kind: 'ClusterRole',
    namespaced: false,
    nameRule: 'path-segment',
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterrolebindings',
    singular: 'clusterrolebinding',
    kind: 'ClusterRoleBinding',
    namespaced: false,
    nameRule: 'path-segment',
  },
  ...['pipelineruns', 'taskruns', 'pipelines', 'tasks'].map(
    (resource): ResourceDef => ({
      group: 'tekton.dev',
      version: 'v1',
      resource,
      singular: resource.slice(0, -1),
      kind: {
        pipelineruns: 'PipelineRun',
        taskruns: 'TaskRun',
        pipelines: 'Pipeline',
        tasks: 'Task',
      }[resource] ?? resource,
      namespaced: true,
      shortNames: resource === 'pipelineruns' ? ['pr', 'prs'] : resource === 'taskruns' ? ['tr', 'trs'] : [],
      nameRule: 'subdomain',
      statusSubresource: resource.endsWith('runs'),
      generation: true,
      custom: true,
    }),
  ),
];

/**
 * CronJob as Kubernetes 1.8-1.24 served it (the only version before 1.21): serve it with
 * `resources: [CRONJOB_V1BETA1]`, and add `without: [CRONJOB_V1]` for a 1.20 server.
 */
export const CRONJOB_V1BETA1: ResourceDef = { ...CRONJOB_V1_DEF, version: 'v1beta1' };
export const CRONJOB_V1 = { group: 'batch', version: 'v1', resource: 'cronjobs' } as const;

export function groupVersion(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

export function qualifiedKind(def: ResourceDef): string {
  return def.group === '' ? def.kind : `${def.kind}.${def.group}`;
}

export class ResourceRegistry {
  readonly defs: ResourceDef[];

  constructor(defs: ResourceDef[]) {
    this.defs = defs;
  }

  byPath(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.version === version && d.resource === resource);
  }

  /**
   * Test helpers name a type loosely: `configmaps`, `ConfigMap`, `jobs.batch`, `Job`,
   * `pipelineruns.tekton.dev` or a short name all resolve.
   */
  lookup(name: string): ResourceDef {
    const lower = name.toLowerCase();
    const found =
      this.defs.find((d) => (d.group === '' ? d.resource : `${d.resource}.${d.group}`) === lower) ??
      this.defs.find((d) => d.resource === lower && d.group === '') ??
      this.defs.find((d) => d.resource === lower) ??
      this.defs.find((d) => d.kind.toLowerCase() === lower || d.singular === lower) ??
      this.defs.find((d) => `${d.kind}.${d.group}`.toLowerCase() === lower) ??
      this.defs.find((d) => d.shortNames?.includes(lower));
    if (!found) throw new Error(`apiserver double: unknown resource type "${name}"`);
    return found;
  }

  groupVersions(): { group: string; version: string }[] {
    const seen = new Map<string, { group: string; version: string }>();
    for (const d of this.defs) seen.set(`${d.group}/${d.version}`, { group: d.group, version: d.version });
    return [...seen.values()];
  }

  apiVersions(): object {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
    };
  }

  apiGroup(group: string): object | undefined {
    const versions = this.groupVersions().filter((gv) => gv.group === group && group !== '');
    const first = versions[0];
    if (!first) return undefined;
    const entries = versions.map((gv) => ({ groupVersion: `${gv.group}/${gv.version}`, version: gv.version }));
    return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: entries, preferredVersion: entries[0] };
  }

  apiGroupList(): object {
    const groups = [...new Set(this.defs.map((d) => d.group).filter((g) => g !== ''))];
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groups.map((g) => {
        const doc = this.apiGroup(g) as { name: string; versions: object[]; preferredVersion: object };
        return { name: doc.name, versions: doc.versions, preferredVersion: doc.preferredVersion };
      }),
    };
  }

  resourceList(group: string, version: string): object | undefined {
    const defs = this.defs.filter((d) => d.group === group && d.version === version);
    if (defs.length === 0) return undefined;
    const resources: object[] = [];
    for (const d of defs) {
      resources.push({
        name: d.resource,
        singularName: d.singular,
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: readWrite,
        ...(d.shortNames && d.shortNames.length > 0 ? { shortNames: d.shortNames } : {}),
        ...(d.custom ? { categories: ['tekton', 'tekton-pipelines'] } : {}),
      });
      if (d.statusSubresource) {
        resources.push({
          name: `${d.resource}/status`,
          singularName: '',
          namespaced: d.namespaced,
          kind: d.kind,
          verbs: ['get', 'patch', 'update'],
        });
      }
      if (d.logSubresource) {
        resources.push({ name: `${d.resource}/log`, singularName: '', namespaced: true, kind: d.kind, verbs: ['get'] });
      }
    }
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group === '' ? version : `${group}/${version}`,
      resources,
    };
  }
}
