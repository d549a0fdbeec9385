/**
 * The controller's permissions, in one place: the Role in k8s/ is rendered from these rules and
 * the Kubernetes driver must keep every API call it makes within them. Least privilege: only its
 * own namespace, no Secrets (the webhook URL reaches the pod as an env var the kubelet resolves),
 * no wildcards, no cluster-wide verbs.
 */

export type PolicyRule = {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  /** Only these objects (RBAC cannot name the object of a create or a list, so never with those verbs). */
  readonly resourceNames?: readonly string[];
};

export const SERVICE_ACCOUNT = 'branch-follower';
export const ROLE = 'branch-follower';
export const TARGET_READER_ROLE = 'branch-follower-target-reader';

/**
 * What the controller may do in its own namespace: exactly what its code calls with its own
 * identity (test/e2e/security.test.ts fails on a grant no lifecycle uses). `plan` and `apply`
 * run with the operator's rights, so nothing here serves them.
 */
export const ROLE_RULES: readonly PolicyRule[] = Object.freeze([
  // Follower state (CAS on resourceVersion: get, list, create, update) and the arming ConfigMap.
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'update'] },
  // Every transition is also a core/v1 Event; `events` lists them back.
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'list'] },
  // `logs` finds a dispatch Job's pod by label and reads its log; a tick asks whether the pod
  // that wrote a dispatch ahead (and never made it) still exists (writer.ts).
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  // Dispatches: created under a deterministic name (read back when that name already exists),
  // deleted only by `onSupersede: cancel`.
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'create', 'delete'] },
  // The `pipeline` closeout check, listed by label.
  { apiGroups: ['tekton.dev'], resources: ['pipelineruns'], verbs: ['list'] },
]);

/**
 * What the controller needs in each *target's* namespace, granted per namespace by an operator
 * (k8s/target-reader-role.example.yaml), never cluster-wide: the `k8s-annotation` target reader
 * lists the workload kinds a follower's target may name (one LIST per kind and namespace), and
 * the `pipeline` check lists PipelineRuns where the follower's pipeline section says they run.
 */
export const TARGET_READER_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['list'] },
  { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['list'] },
  { apiGroups: ['tekton.dev'], resources: ['pipelineruns'], verbs: ['list'] },
]);

/**
 * True when `rules` allow `verb` on `group/resource` (exact match: the rules hold no wildcards),
 * for the object `name` when given; a rule with resourceNames allows only those objects.
 */
export const allows = (rules: readonly PolicyRule[], group: string, resource: string, verb: string, name?: string): boolean =>
  rules.some(
    (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
  );

/** A rule as a Role's manifest carries it. */
export const roleRule = (r: PolicyRule): { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] } => ({
  apiGroups: [...r.apiGroups],
  resources: [...r.resources],
  verbs: [...r.verbs],
  ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
});

/** Where `serve` keeps the tick totals (adapters/kubernetes/tick-log.ts); `apply` creates it, serve only updates it. */
export const TICK_METRICS_CONFIGMAP = 'branch-follower-tick-metrics';

/** `serve` runs under its own identity, so the push receiver's rights stay apart from the loops'. */
export const SERVE_SERVICE_ACCOUNT = 'branch-follower-serve';
export const SERVE_ROLE = 'branch-follower-serve';

/**
 * What `branch-follower serve` may do in the controller's namespace: exactly what its receiver
 * calls (test/serve/push-k8s.test.ts fails on a grant it does not use). A push reads the observer
 * CronJob and creates a Job from its template; the closer wake watches the controller's Jobs for
 * a dispatch's end and creates one from the closer CronJob. The Job's pod runs as the
 * controller's ServiceAccount (the template says so), never as serve's. The status page and
 * /metrics read the state ConfigMaps (one labelled LIST), the arming ConfigMap and the mirror
 * holds (GETs), and no Secrets or Events. The tick metrics list the tick pods (their termination
 * messages are the ticks' summaries) and update one ConfigMap, by name, with the totals.
 */
export const SERVE_ROLE_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['update'], resourceNames: [TICK_METRICS_CONFIGMAP] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get'] },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'list', 'watch'] },
]);
