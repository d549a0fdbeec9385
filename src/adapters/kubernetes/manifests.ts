/**
 * The controller's Kubernetes objects, rendered from the registry. k8s/ is generated from this
 * module (scripts/render-k8s.ts) and a test holds the two equal, so `kubectl apply -k k8s/` and
 * `branch-follower apply` install the same thing; `plan` diffs these objects against the live ones.
 */
import { BadInputError } from '../config/input-error.ts';
import { encodeParsed, parsedYamlName } from '../config/parsed-yaml.ts';
import { parseYamlText } from '../config/yaml-file.ts';
import { readdir, readFile } from 'node:fs/promises';
import { POD_NAME_ENV, POD_UID_ENV } from './writer.ts';
import { basename, dirname, join, relative, sep } from 'node:path';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Container,
  V1CronJob,
  V1EnvVar,
  V1Namespace,
  V1PodSecurityContext,
  V1PolicyRule,
  V1ResourceRequirements,
  V1Role,
  V1RoleBinding,
  V1SecurityContext,
  V1ServiceAccount,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ARMING_CONFIGMAP, DISARMED, armingToData } from '../../core/arming.ts';
import type { Registry } from '../../core/registry.ts';
import { BASE_LABELS, componentLabels } from './labels.ts';
import { serveRbacObjects, serveWorkloadObjects } from './serve-manifests.ts';
import { ROLE, ROLE_RULES, SERVICE_ACCOUNT, TARGET_READER_ROLE, TARGET_READER_RULES, type PolicyRule } from './rbac.ts';

export const REGISTRY_CONFIGMAP = 'branch-follower-registry';
/** The registry's file name inside the ConfigMap and the mount; configRefs resolve beside it. */
export const REGISTRY_FILE = 'cicd-branch-followers.yaml';
export const REGISTRY_MOUNT = '/etc/branch-follower';
/** The registry's files parsed, as config/parsed-yaml.ts keeps them, for the pods to read instead of parsing YAML each tick. */
export const REGISTRY_PARSED_CONFIGMAP = 'branch-follower-registry-parsed';
export const REGISTRY_PARSED_MOUNT = '/etc/branch-follower-parsed';
/** The variable that points config/parsed-yaml.ts at a directory of entries. */
export const CONFIG_CACHE_ENV = 'BRANCH_FOLLOWER_CONFIG_CACHE';
export const WORK_DIR = '/work';
export const SOURCE_DIR = '/work/src';
/** Where the image keeps the production dependencies; the clone links to them (ESM ignores NODE_PATH). */
export const IMAGE_NODE_MODULES = '/app/node_modules';
/** The image's bundle of its own source (scripts/build.ts, run by the Dockerfile). */
export const IMAGE_DIST = '/app/dist';
/**
 * What the tick containers run (with `sh`): the launcher, which starts the image's start-up
 * snapshot when the init container put the image's dist/ beside the clone, else the sources.
 */
export const SOURCE_LAUNCHER = `${SOURCE_DIR}/bin/branch-follower`;
/** An operator-made Secret holding the webhook URL; optional, and resolved by the kubelet, never by the controller. */
export const NOTIFY_SECRET = 'branch-follower-notify';
export const NOTIFY_SECRET_KEY = 'webhook-url';

/**
 * V8's heap limits for a long-lived process (serve). V8 sizes its heap from the host, not the
 * pod's limit: the old space is kept under the limit, and the young generation at 1 MiB
 * semi-spaces instead of the default 16, which took ~60-80 MiB off a tick's peak RSS at 1000
 * followers for the same CPU time (docs/performance.md).
 */
export const HEAP_NODE_OPTIONS = '--max-old-space-size=192 --max-semi-space-size=1';
/** A tick's NODE_OPTIONS: the heap limits (TICK_NODE_FLAGS has the rest, which NODE_OPTIONS refuses). */
export const TICK_NODE_OPTIONS = HEAP_NODE_OPTIONS;
/** The variable bin/branch-follower passes to Node as command-line options, for those NODE_OPTIONS refuses. */
export const NODE_FLAGS_ENV = 'BRANCH_FOLLOWER_NODE_FLAGS';
/**
 * A tick's V8 tiers: the interpreter and the baseline compiler (Sparkplug, and native regular
 * expressions), not the optimising compilers (Maglev, TurboFan). A tick lives under a second:
 * their code and compile zones were 7 to 30 MiB of its peak RSS at 10 to 1000 followers for
 * nothing they could pay back (docs/performance.md, changes 11 and 21), while the baseline code
 * took a third off validating 1000 states against the interpreter alone (`--jitless`, which the
 * ticks ran before). Node refuses both flags in NODE_OPTIONS, so the CronJobs pass them through
 * NODE_FLAGS_ENV. The bench runs its ticks with these and TICK_NODE_OPTIONS.
 */
export const TICK_NODE_FLAGS = '--no-opt --no-maglev';

export const RUN_AS = 10001;
/** The CLI's own deadline for one tick; the Job's is longer so a tick can finish and write. */
export const TICK_DEADLINE_SECONDS = 200;
export const JOB_DEADLINE_SECONDS = 240;

export const LOOPS = ['observer', 'closer'] as const;
export type Loop = (typeof LOOPS)[number];
export const cronJobName = (loop: Loop): string => `branch-follower-${loop}`;

export type RenderOptions = {
  /** Files of the registry's directory, by path relative to it; must hold REGISTRY_FILE. */
  registryFiles: Readonly<Record<string, string>>;
};

const rules = (list: readonly PolicyRule[]): V1PolicyRule[] =>
  list.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }));

export const namespaceObject = (namespace: string): V1Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name: namespace,
    labels: {
      ...BASE_LABELS,
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    },
  },
});

export const serviceAccount = (namespace: string): V1ServiceAccount => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: SERVICE_ACCOUNT, namespace, labels: { ...BASE_LABELS } },
  // Only the controller's own pods opt in to a token; anything else run as this account gets none.
  automountServiceAccountToken: false,
});

export const role = (namespace: string): V1Role => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: ROLE, namespace, labels: { ...BASE_LABELS } },
  rules: rules(ROLE_RULES),
});

const binding = (name: string, namespace: string, roleName: string, saNamespace: string): V1RoleBinding => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace, labels: { ...BASE_LABELS } },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
  subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: saNamespace }],
});

export const roleBinding = (namespace: string): V1RoleBinding => binding(ROLE, namespace, ROLE, namespace);

/** The Role and RoleBinding an operator adds in each target namespace (not part of the SSA set). */
export const targetReaderRole = (targetNamespace: string, controllerNamespace: string): [V1Role, V1RoleBinding] => [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: TARGET_READER_ROLE, namespace: targetNamespace, labels: { ...BASE_LABELS } },
    rules: rules(TARGET_READER_RULES),
  },
  binding(TARGET_READER_ROLE, targetNamespace, TARGET_READER_ROLE, controllerNamespace),
];

/** Ships disarmed. `apply` creates it only when absent and never overwrites it. */
export const armingConfigMap = (namespace: string): V1ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: ARMING_CONFIGMAP, namespace, labels: componentLabels('arming') },
  data: armingToData(DISARMED),
});

// ConfigMap keys cannot hold "/", so a file in a subdirectory is stored under a key with "__"
// for each "/" and the volume's items put it back at its path. For that to be reversible no
// segment may hold "__" or start or end with "_" (else "a_/b" and "a/_b" would share a key).
const SAFE_SEGMENT = /^(?!.*__)[A-Za-z0-9.-]([A-Za-z0-9._-]*[A-Za-z0-9.-])?$/;

export const registryKey = (path: string): string => {
  const segments = path.split('/');
  if (segments.some((s) => !SAFE_SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new Error(
      `registry file "${path}" cannot be shipped in a ConfigMap: use a relative path whose parts are letters, digits, ".", "_" and "-", ` +
        'with no "__", no part starting or ending with "_", and no "." or ".." parts',
    );
  }
  const key = segments.join('__');
  if (key.length > 253) throw new Error(`registry file "${path}": path too long for a ConfigMap key`);
  return key;
};

export const registryPathOfKey = (key: string): string => key.split('__').join('/');

/** Back from the registry ConfigMap's data to file path → content (for `plan`). */
export const registryFilesFromData = (data: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [registryPathOfKey(k), v]));

// The API server refuses objects over 1 MiB; keep room for metadata and managed fields.
const CONFIGMAP_DATA_LIMIT = 1_000_000;

const sortedFiles = (files: Readonly<Record<string, string>>): [string, string][] => {
  const entries = Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!entries.some(([p]) => p === REGISTRY_FILE)) throw new Error(`registry files must include ${REGISTRY_FILE}`);
  return entries;
};

export const registryConfigMap = (namespace: string, files: Readonly<Record<string, string>>): V1ConfigMap => {
  const data: Record<string, string> = {};
  let bytes = 0;
  for (const [path, content] of sortedFiles(files)) {
    const key = registryKey(path);
    data[key] = content;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(content);
  }
  if (bytes > CONFIGMAP_DATA_LIMIT) {
    throw new Error(`registry files total ${bytes} bytes; a ConfigMap holds at most ~1 MiB`);
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: REGISTRY_CONFIGMAP, namespace, labels: componentLabels('registry') },
    data,
  };
};

/**
 * The registry's files parsed, under the names config/parsed-yaml.ts gives them (the SHA-256 of
 * the text): a tick pod reads the JSON of a file whose text it has instead of parsing the YAML,
 * which was most of a tick at 1000 followers without a JIT (docs/performance.md, change 20). An
 * entry can never stand for other text, so the two ConfigMaps need not change together: a pod
 * that sees a newer registry than entries simply parses it. Files that fail to parse, or whose
 * JSON would take the ConfigMap over its limit, have no entry (in path order, so the same files
 * always give the same data).
 */
export const parsedRegistryConfigMap = (namespace: string, files: Readonly<Record<string, string>>): V1ConfigMap => {
  const data: Record<string, string> = {};
  let bytes = 0;
  for (const [path, content] of sortedFiles(files)) {
    const read = parseYamlText(content, path);
    const json = read.ok ? encodeParsed(read.doc) : null;
    if (json === null) continue;
    const key = parsedYamlName(content);
    const size = Buffer.byteLength(key) + Buffer.byteLength(json);
    if (bytes + size > CONFIGMAP_DATA_LIMIT) continue;
    data[key] = json;
    bytes += size;
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: REGISTRY_PARSED_CONFIGMAP, namespace, labels: componentLabels('registry') },
    data,
  };
};

/** The restricted Pod Security Standard, shared by the CronJobs and the dispatch Jobs. */
export const containerSecurity: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: RUN_AS,
  runAsGroup: RUN_AS,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export const podSecurity: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS,
  runAsGroup: RUN_AS,
  fsGroup: RUN_AS,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The limit is over five times a tick's measured peak at 1000 followers (90 to 92.5 MiB host RSS
 * on the kubernetes driver; a pod's cgroup charges ~40 MiB at 300: docs/performance.md) and twice
 * the ~210 MiB a tick at the registry's limit of 5000 followers grows to by the measured slope;
 * V8's old space (TICK_NODE_OPTIONS) stays below it, so a registry far beyond ends in a heap error
 * the Job reports rather than an OOM kill.
 */
export const POD_RESOURCES = {
  requests: { cpu: '50m', memory: '128Mi' },
  limits: { cpu: '500m', memory: '512Mi' },
} as const;

export const resources = (): V1ResourceRequirements => ({ requests: { ...POD_RESOURCES.requests }, limits: { ...POD_RESOURCES.limits } });

/** controller.source: optional in the schema for a local registry, required to run on a cluster. */
const controllerSource = (registry: Registry): { repo: string; ref: string } => {
  const s = registry.controller.source;
  if (!s) throw new BadInputError([{ file: 'the registry', path: 'controller.source', message: 'the kubernetes driver needs { repo, ref }: what controller pods clone from the git mirror' }]);
  return s;
};

export const sourceUrl = (registry: Registry): string => `${registry.controller.gitMirror.readUrl.replace(/\/+$/, '')}/${controllerSource(registry).repo}.git`;

// Registry values reach the shell only through the environment, never spliced into the script.
const CLONE_SCRIPT = [
  'set -eu',
  `git clone --quiet --depth 1 --branch "$BRANCH_FOLLOWER_SOURCE_REF" -- "$BRANCH_FOLLOWER_SOURCE_URL" ${SOURCE_DIR}`,
  `ln -s ${IMAGE_NODE_MODULES} ${SOURCE_DIR}/node_modules`,
  // The image's bundle saves each tick loading ~1300 modules (docs/performance.md), but only the
  // source it was built from may run: its inputs listing must equal the clone's, file for file.
  // Bundling here instead would take ~500 MiB and seconds of CPU in every pod.
  `if [ -f ${IMAGE_DIST}/inputs.sha256 ] && (cd ${SOURCE_DIR} && find src scripts/build.ts -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | cmp -s - ${IMAGE_DIST}/inputs.sha256; then`,
  `  cp -R ${IMAGE_DIST} ${SOURCE_DIR}/dist && echo "running the image's bundle: it was built from this source"`,
  `else echo "running the sources: the image's bundle was built from other source"; fi`,
  `echo "controller source $BRANCH_FOLLOWER_SOURCE_URL@$BRANCH_FOLLOWER_SOURCE_REF at $(git -C ${SOURCE_DIR} rev-parse HEAD)"`,
].join('\n');

export const gitEnv: V1EnvVar[] = [
  { name: 'HOME', value: WORK_DIR },
  { name: 'GIT_TERMINAL_PROMPT', value: '0' },
];

export const cloneContainer = (registry: Registry): V1Container => ({
  name: 'clone-source',
  image: registry.controller.image,
  imagePullPolicy: 'IfNotPresent',
  command: ['sh', '-c', CLONE_SCRIPT],
  env: [
    ...gitEnv,
    { name: 'BRANCH_FOLLOWER_SOURCE_URL', value: sourceUrl(registry) },
    { name: 'BRANCH_FOLLOWER_SOURCE_REF', value: controllerSource(registry).ref },
  ],
  resources: resources(),
  securityContext: containerSecurity,
  volumeMounts: [
    { name: 'work', mountPath: WORK_DIR },
    { name: 'tmp', mountPath: '/tmp' },
  ],
});

/** A tick container's NODE_OPTIONS (TICK_NODE_OPTIONS says why). */
export const HEAP_ENV: V1EnvVar = { name: 'NODE_OPTIONS', value: TICK_NODE_OPTIONS };
/** A tick container's Node command-line options, through bin/branch-follower (TICK_NODE_FLAGS says why). */
export const TICK_FLAGS_ENV: V1EnvVar = { name: NODE_FLAGS_ENV, value: TICK_NODE_FLAGS };
/** The serve container's: the heap limits, with the JIT a long-lived server pays back. */
export const SERVE_HEAP_ENV: V1EnvVar = { name: 'NODE_OPTIONS', value: HEAP_NODE_OPTIONS };

export const tickArgv = (loop: Loop): string[] => [
  'sh',
  SOURCE_LAUNCHER,
  'tick',
  loop,
  '--registry',
  `${REGISTRY_MOUNT}/${REGISTRY_FILE}`,
  '--driver',
  'kubernetes',
  '--deadline-seconds',
  String(TICK_DEADLINE_SECONDS),
];

const tickContainer = (registry: Registry, loop: Loop): V1Container => {
  const webhookEnv = registry.controller.notify?.webhookUrlEnv;
  return {
    name: loop,
    image: registry.controller.image,
    imagePullPolicy: 'IfNotPresent',
    command: tickArgv(loop),
    workingDir: SOURCE_DIR,
    env: [
      ...gitEnv,
      HEAP_ENV,
      TICK_FLAGS_ENV,
      CONFIG_CACHE_ENV_VAR,
      // Recorded as the writer of a dispatch written ahead, so a later tick can tell this pod is gone.
      { name: POD_NAME_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: POD_UID_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      ...(webhookEnv
        ? [{ name: webhookEnv, valueFrom: { secretKeyRef: { name: NOTIFY_SECRET, key: NOTIFY_SECRET_KEY, optional: true } } }]
        : []),
    ],
    resources: resources(),
    securityContext: containerSecurity,
    volumeMounts: controllerVolumeMounts(),
  };
};

/** Where a controller container (a tick, serve) mounts controllerVolumes: the clone, /tmp, the registry read-only. */
export const controllerVolumeMounts = (): V1VolumeMount[] => [
  { name: 'work', mountPath: WORK_DIR },
  { name: 'tmp', mountPath: '/tmp' },
  { name: 'registry', mountPath: REGISTRY_MOUNT, readOnly: true },
  { name: 'registry-parsed', mountPath: REGISTRY_PARSED_MOUNT, readOnly: true },
];

/** A controller container's: config/parsed-yaml.ts reads the parsed registry ConfigMap's entries. */
export const CONFIG_CACHE_ENV_VAR: V1EnvVar = { name: CONFIG_CACHE_ENV, value: REGISTRY_PARSED_MOUNT };

/** The volumes of every controller pod: scratch space for the clone, /tmp, and the registry's files. */
export const controllerVolumes = (files: Readonly<Record<string, string>>): V1Volume[] => [
  { name: 'work', emptyDir: { sizeLimit: '512Mi' } },
  { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  {
    name: 'registry',
    configMap: {
      name: REGISTRY_CONFIGMAP,
      defaultMode: 0o444,
      items: sortedFiles(files).map(([path]) => ({ key: registryKey(path), path })),
    },
  },
  // Optional: without it (an installation applied before it existed) a tick parses the YAML.
  { name: 'registry-parsed', configMap: { name: REGISTRY_PARSED_CONFIGMAP, defaultMode: 0o444, optional: true } },
];

export const cronJob = (registry: Registry, loop: Loop, files: Readonly<Record<string, string>>): V1CronJob => {
  const { namespace, schedules } = registry.controller;
  const labels = componentLabels(loop);
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: cronJobName(loop), namespace, labels },
    spec: {
      schedule: schedules[loop],
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 60,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 5,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 0,
          activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
          ttlSecondsAfterFinished: 86400,
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: SERVICE_ACCOUNT,
              automountServiceAccountToken: true,
              enableServiceLinks: false,
              restartPolicy: 'Never',
              securityContext: podSecurity,
              initContainers: [cloneContainer(registry)],
              containers: [tickContainer(registry, loop)],
              volumes: controllerVolumes(files),
            },
          },
        },
      },
    },
  };
};

/**
 * Everything `apply` puts in place with server-side apply, in creation order. The arming
 * ConfigMap is left out on purpose: it holds the operator's decisions (see armingConfigMap).
 */
export const renderManifests = (registry: Registry, opts: RenderOptions): KubernetesObject[] => {
  const ns = registry.controller.namespace;
  return [
    namespaceObject(ns),
    serviceAccount(ns),
    role(ns),
    roleBinding(ns),
    registryConfigMap(ns, opts.registryFiles),
    parsedRegistryConfigMap(ns, opts.registryFiles),
    ...LOOPS.map((loop) => cronJob(registry, loop, opts.registryFiles)),
    // Off by default: nothing of serve is applied (or shown by plan) unless the registry enables it.
    ...(registry.controller.serve.enabled ? [...serveRbacObjects(ns), ...serveWorkloadObjects(registry, opts.registryFiles)] : []),
  ];
};

export const TARGET_NAMESPACE_PLACEHOLDER = 'TARGET-NAMESPACE';

const GENERATED_HEADER =
  '# Generated from config/cicd-branch-followers.yaml by `npx node scripts/render-k8s.ts`;\n' +
  '# do not edit by hand (test/k8s/manifests.test.ts fails when this file is stale).\n';

const yamlDocs = (objects: readonly unknown[]): string =>
  objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');

/** The files of k8s/ (all but README.md), by file name. */
export const renderManifestFiles = (registry: Registry, opts: RenderOptions): Record<string, string> => {
  const ns = registry.controller.namespace;
  const files: Record<string, string> = {
    'namespace.yaml': yamlDocs([namespaceObject(ns)]),
    'rbac.yaml': yamlDocs([serviceAccount(ns), role(ns), roleBinding(ns)]),
    'arming-configmap.yaml': yamlDocs([armingConfigMap(ns)]),
    'registry-configmap.yaml': yamlDocs([registryConfigMap(ns, opts.registryFiles)]),
    'registry-parsed-configmap.yaml': yamlDocs([parsedRegistryConfigMap(ns, opts.registryFiles)]),
    'cronjobs.yaml': yamlDocs(LOOPS.map((loop) => cronJob(registry, loop, opts.registryFiles))),
  };
  const serve: Record<string, string> = {
    'serve-rbac.yaml': yamlDocs(serveRbacObjects(ns)),
    'serve.yaml': yamlDocs(serveWorkloadObjects(registry, opts.registryFiles)),
  };
  const enabled = registry.controller.serve.enabled;
  const out: Record<string, string> = {
    'kustomization.yaml': stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [...Object.keys(files), ...(enabled ? Object.keys(serve) : [])],
    }),
    ...files,
    ...Object.fromEntries(
      Object.entries(serve).map(([name, text]) => [name, enabled ? text : `# Not part of kustomization.yaml: controller.serve.enabled is false. See README.md.\n${text}`]),
    ),
    'target-reader-role.example.yaml':
      `# Not part of kustomization.yaml. Copy per target namespace, replacing ${TARGET_NAMESPACE_PLACEHOLDER}.\n` +
      yamlDocs(targetReaderRole(TARGET_NAMESPACE_PLACEHOLDER, ns)),
  };
  return Object.fromEntries(Object.entries(out).map(([name, text]) => [name, GENERATED_HEADER + text]));
};

const isShippedConfig = (name: string): boolean => name.endsWith('.yaml') || name.endsWith('.yml');

/**
 * Reads what the registry ConfigMap ships: the registry itself (as REGISTRY_FILE) and every
 * YAML file beside it or below it, where its configRefs point. Dot-directories (the local
 * driver's state directory) and node_modules are skipped.
 */
export const readRegistryFiles = async (registryPath: string): Promise<Record<string, string>> => {
  const root = dirname(registryPath);
  const files: Record<string, string> = { [REGISTRY_FILE]: await readFile(registryPath, 'utf8') };
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && isShippedConfig(entry.name) && full !== join(root, basename(registryPath))) {
        const rel = relative(root, full).split(sep).join('/');
        if (rel === REGISTRY_FILE) throw new Error(`${full}: clashes with the registry's name in the ConfigMap (${REGISTRY_FILE})`);
        files[rel] = await readFile(full, 'utf8');
      }
    }
  };
  await walk(root);
  return files;
};
