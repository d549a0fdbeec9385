/**
 * `branch-follower serve` on Kubernetes: its own ServiceAccount, Role and RoleBinding (only what
 * the push receiver calls, see rbac.ts), a one-replica Deployment and a ClusterIP Service, all
 * rendered from the registry like the CronJobs. `apply` and `plan` include them only when
 * controller.serve.enabled; k8s/ always carries them in files of their own, outside the
 * kustomization unless enabled.
 */
import type { V1ConfigMap, V1Deployment, V1EnvVar, V1Probe, V1Role, V1RoleBinding, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import type { Registry } from '../../core/registry.ts';
import { componentLabels } from './labels.ts';
import { cloneContainer, CONFIG_CACHE_ENV_VAR, containerSecurity, controllerVolumeMounts, controllerVolumes, gitEnv, SERVE_HEAP_ENV, podSecurity, REGISTRY_FILE, REGISTRY_MOUNT, resources, SOURCE_DIR, SOURCE_LAUNCHER } from './manifests.ts';
import { roleRule, SERVE_ROLE, SERVE_ROLE_RULES, SERVE_SERVICE_ACCOUNT, TICK_METRICS_CONFIGMAP } from './rbac.ts';

export const SERVE_NAME = 'branch-follower-serve';
/** An operator-made Secret holding the push hooks' shared secret; resolved by the kubelet, never read by the controller's API calls. */
export const PUSH_SECRET = 'branch-follower-push';
export const PUSH_SECRET_KEY = 'secret';
export const SERVICE_PORT = 80;

export const serveServiceAccount = (namespace: string): V1ServiceAccount => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: SERVE_SERVICE_ACCOUNT, namespace, labels: componentLabels('serve') },
  automountServiceAccountToken: false,
});

export const serveRole = (namespace: string): V1Role => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: SERVE_ROLE, namespace, labels: componentLabels('serve') },
  rules: SERVE_ROLE_RULES.map(roleRule),
});

export const serveRoleBinding = (namespace: string): V1RoleBinding => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name: SERVE_ROLE, namespace, labels: componentLabels('serve') },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SERVE_ROLE },
  subjects: [{ kind: 'ServiceAccount', name: SERVE_SERVICE_ACCOUNT, namespace }],
});

/**
 * serve starts as the ticks do, through the launcher (the image's start-up snapshot when the clone
 * matches the image, else the sources): the TypeScript sources cost it ~0.5 s more to start and
 * ~35 MiB more RSS (docs/performance.md, change 22). It keeps the full JIT, which a long-lived
 * server pays back.
 */
export const serveArgv = (port: number): string[] => [
  'sh',
  SOURCE_LAUNCHER,
  'serve',
  '--registry',
  `${REGISTRY_MOUNT}/${REGISTRY_FILE}`,
  '--driver',
  'kubernetes',
  '--listen',
  `0.0.0.0:${port}`,
];

/** /healthz answers from the process alone, so a probe never restarts serve for the API server's or the mirror's fault. */
const probe = (periodSeconds: number, failureThreshold: number): V1Probe => ({
  httpGet: { path: '/healthz', port: 'http' },
  periodSeconds,
  timeoutSeconds: 2,
  failureThreshold,
});

export const serveDeployment = (registry: Registry, files: Readonly<Record<string, string>>): V1Deployment => {
  const { namespace, serve, image } = registry.controller;
  const labels = componentLabels('serve');
  const secretEnv = serve.push?.secretEnv;
  const env: V1EnvVar[] = [
    ...gitEnv,
    SERVE_HEAP_ENV,
    CONFIG_CACHE_ENV_VAR,
    // Not optional: a receiver without its secret refuses to start, and says so in its pod's status.
    ...(secretEnv ? [{ name: secretEnv, valueFrom: { secretKeyRef: { name: PUSH_SECRET, key: PUSH_SECRET_KEY } } }] : []),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: SERVE_NAME, namespace, labels },
    spec: {
      // One replica: deliveries already seen are remembered in memory (a second replica would
      // still coalesce through the Jobs' deterministic names, only less cheaply).
      replicas: 1,
      selector: { matchLabels: labels },
      strategy: { type: 'Recreate' },
      template: {
        metadata: {
          labels,
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(serve.port), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          serviceAccountName: SERVE_SERVICE_ACCOUNT,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: podSecurity,
          initContainers: [cloneContainer(registry)],
          containers: [
            {
              name: 'serve',
              image,
              imagePullPolicy: 'IfNotPresent',
              command: serveArgv(serve.port),
              workingDir: SOURCE_DIR,
              env,
              ports: [{ name: 'http', containerPort: serve.port, protocol: 'TCP' }],
              readinessProbe: probe(5, 3),
              livenessProbe: probe(10, 6),
              resources: resources(),
              securityContext: containerSecurity,
              volumeMounts: controllerVolumeMounts(),
            },
          ],
          volumes: controllerVolumes(files),
        },
      },
    },
  };
};

export const serveService = (registry: Registry): V1Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: SERVE_NAME, namespace: registry.controller.namespace, labels: componentLabels('serve') },
  spec: {
    type: 'ClusterIP',
    selector: componentLabels('serve'),
    ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
  },
});

/** serve's RBAC, in a document of its own (the routes that read the state add their rules here). */
export const serveRbacObjects = (namespace: string): [V1ServiceAccount, V1Role, V1RoleBinding] => [serveServiceAccount(namespace), serveRole(namespace), serveRoleBinding(namespace)];

/**
 * Where serve keeps the tick totals. Applied without data: server-side apply leaves the `data`
 * serve wrote (a field apply never set) as it is, so re-applying never resets a counter.
 */
export const tickMetricsConfigMap = (namespace: string): V1ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: TICK_METRICS_CONFIGMAP, namespace, labels: componentLabels('serve') },
});

export const serveWorkloadObjects = (registry: Registry, files: Readonly<Record<string, string>>): [V1ConfigMap, V1Deployment, V1Service] => [
  tickMetricsConfigMap(registry.controller.namespace),
  serveDeployment(registry, files),
  serveService(registry),
];
