// A whole installation on the Kubernetes driver for end-to-end tests: the API-server double
// (reached by the real client through its kubeconfig), a real git mirror (file://), a registry,
// and the CLI run as a subprocess with `--kubeconfig <double's kubeconfig>`. The test plays the
// cluster's controllers: the Job controller (a dispatched Job runs, gets a pod and a log, ends
// Complete or Failed through the status subresource), the deploy itself (it stamps the target
// workload's sha annotation) and Tekton (PipelineRuns labelled with the follower's labels and the
// sha, whose `Succeeded` condition moves).
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { armingToData, type Arming } from '../../src/core/arming.ts';
import { FollowerState } from '../../src/core/state.ts';
import type { StatusRow } from '../../src/core/status-view.ts';
import { startApiServerDouble, type ApiServerDouble, type ApiServerDoubleOptions, type KubeObject } from './apiserver-double.ts';
import { CLI, type CliResult } from './cli-world.ts';
import { createGitFixture, type GitFixture, type HttpGitServer, type HttpServeOptions } from './git-fixtures.ts';
import { genericRegistry } from './registry-doc.ts';

export const NAMESPACE = 'branch-follower';
export const LABEL_FOLLOWER = 'branch-follower.dev/follower';
export const LABEL_SHA = 'branch-follower.dev/sha';
export const LABEL_ATTEMPT = 'branch-follower.dev/attempt';
export const STATE_PREFIX = 'branch-follower-state-';
export const ARMING_CM = 'branch-follower-arming';
/** The generic followers' targets: one Deployment each, all in one namespace (one LIST per tick). */
export const APPS_NAMESPACE = 'apps';
export const DEPLOYED_ANNOTATION = 'example.dev/deployed-sha';

export type AnnotationTarget = { apiVersion: string; kind: string; namespace: string; name: string; annotation: string };
export type PipelineSelection = { namespace: string; labels: Record<string, string>; shaLabel: string };
/** What the cluster's controllers need to know of a follower to play its deploy. */
export type Wiring = { target: AnnotationTarget; pipeline: PipelineSelection | null };

export type K8sFollowerDef = {
  id: string;
  repo: string;
  branch: string;
  checks?: string[];
  budgets?: Record<string, number>;
  onSupersede?: 'wait' | 'cancel';
};

export type JobOutcome = {
  /** Complete (default) or Failed, as the Job controller reports it. */
  ok?: boolean;
  /** Also do what the real deploy does: stamp the target's annotation with the Job's sha. */
  deploy?: boolean;
  /** Also create the run's PipelineRun with this `Succeeded` status (Tekton's verdict). */
  pipeline?: 'True' | 'False' | 'Unknown' | null;
};

/** One follower's line of `tick <loop> -o json`. */
export type TickLine = { id: string; phase: string | null; reason: string; wrote: boolean; dispatched: string | null; error: string | null };
export type TickResult = CliResult & { followers: TickLine[] };

export type K8sWorld = {
  api: ApiServerDouble;
  git: GitFixture;
  /** The registry's directory. */
  configDir: string;
  registryPath: string;
  namespace: string;
  wiring: ReadonlyMap<string, Wiring>;
  /** The CLI with `--registry` and `--kubeconfig` of the double; `driver` adds `--driver`. */
  cli(args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; driver?: 'local' | 'kubernetes' }): Promise<CliResult>;
  /** One tick through the CLI (`tick <loop> -o json`), its report parsed. */
  tick(loop: 'observer' | 'closer', opts?: { driver?: 'local' | 'kubernetes'; env?: NodeJS.ProcessEnv }): Promise<TickResult>;
  statusJson(opts?: { driver?: 'local' | 'kubernetes' }): Promise<StatusRow[]>;
  row(id: string, opts?: { driver?: 'local' | 'kubernetes' }): Promise<StatusRow>;
  armAll(ids?: readonly string[], opts?: { driver?: 'local' | 'kubernetes' }): Promise<void>;
  /** Writes the arming ConfigMap straight into the cluster (kill switch off, these ids allowlisted). */
  armDirect(ids?: readonly string[]): void;
  /** Stamps (or, with null, removes) the sha annotation on a follower's target, creating the workload. */
  setTarget(id: string, sha: string | null): void;
  /** Removes the target workload altogether (its reader then reports it unreadable). */
  deleteTarget(id: string): void;
  targetSha(id: string): string | null;
  stateConfigMap(id: string): KubeObject | undefined;
  /** The follower's state ConfigMap's `state.json`, parsed with the core's FollowerState schema (throws if invalid). */
  storedState(id: string): FollowerState | null;
  /** Dispatch Jobs in the controller namespace, optionally of one follower, oldest first. */
  jobs(id?: string): KubeObject[];
  /** The Job controller starts a Job: status active, a pod labelled job-name, the pod's log. */
  startJob(name: string, log?: string): void;
  /** The Job ends (and, as asked, the deploy and Tekton do their part). */
  finishJob(name: string, outcome?: JobOutcome): void;
  /** Starts and finishes every Job that has not ended yet; returns their names. */
  settleJobs(outcome?: JobOutcome): string[];
  /** Creates or moves the PipelineRun of (follower, sha) to the given `Succeeded` status. */
  setPipelineRun(id: string, sha: string, status: 'True' | 'False' | 'Unknown'): void;
  cleanup(): Promise<void>;
};

const CHILD_TIMEOUT_MS = 90_000;
const PLURALS: Record<string, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', CronJob: 'cronjobs' };
const hasCondition = (job: KubeObject, type: string): boolean => {
  const status = job['status'] as { conditions?: { type: string; status: string }[] } | undefined;
  return (status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
};
/** A valid spec for a target workload, so a deploy's PATCH passes the API server's validation. */
const workloadSpec = (t: AnnotationTarget): Record<string, unknown> => {
  const labels = { 'app.kubernetes.io/name': t.name };
  const pod = { metadata: { labels }, spec: { containers: [{ name: 'main', image: `registry.example/${t.name}:latest` }] } };
  switch (t.kind) {
    case 'CronJob':
      return { schedule: '*/15 * * * *', jobTemplate: { spec: { template: { ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } } } } };
    case 'StatefulSet':
      return { serviceName: t.name, replicas: 1, selector: { matchLabels: labels }, template: pod };
    default:
      return { replicas: 1, selector: { matchLabels: labels }, template: pod };
  }
};
const labelsOf = (o: KubeObject): Record<string, string> => o.metadata?.labels ?? {};
const nameOf = (o: KubeObject): string => o.metadata?.name ?? '';

/** The CLI as a subprocess: exactly how a user (or a CronJob) runs it. */
export const runCli = (args: readonly string[], o: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: o.cwd, env: { ...process.env, NO_COLOR: '1', ...o.env }, timeout: CHILD_TIMEOUT_MS, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

/** Assembles the world around a registry already written at `registryPath`. */
const assemble = (
  api: ApiServerDouble,
  git: GitFixture,
  configDir: string,
  registryPath: string,
  wiring: Map<string, Wiring>,
  extraEnv: NodeJS.ProcessEnv,
  defaultDriver: 'local' | 'kubernetes' | undefined,
): K8sWorld => {
  const wire = (id: string): Wiring => {
    const w = wiring.get(id);
    if (!w) throw new Error(`k8s-world: no wiring for follower ${id}`);
    return w;
  };
  const cli = (args: readonly string[], o: { env?: NodeJS.ProcessEnv; driver?: 'local' | 'kubernetes' } = {}): Promise<CliResult> => {
    const driver = o.driver ?? defaultDriver;
    return runCli([...args, '--registry', registryPath, '--kubeconfig', api.kubeconfigPath, ...(driver ? ['--driver', driver] : [])], {
      cwd: configDir,
      env: { ...extraEnv, ...o.env },
    });
  };
  const statusJson = async (o: { driver?: 'local' | 'kubernetes' } = {}): Promise<StatusRow[]> => {
    const r = await cli(['status', '-o', 'json'], o);
    if (r.code !== 0 && !(r.code === 2 && r.stdout.trim().startsWith('{'))) throw new Error(`status failed (${r.code}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as { followers: StatusRow[] }).followers;
  };
  const setTarget = (id: string, sha: string | null): void => {
    const t = wire(id).target;
    const plural = PLURALS[t.kind] ?? t.kind;
    const live = api.store.get(plural, t.namespace, t.name);
    const annotations = { ...(live?.metadata?.annotations ?? {}) };
    if (sha === null) delete annotations[t.annotation];
    else annotations[t.annotation] = sha;
    if (live) api.store.patch(plural, t.namespace, t.name, { metadata: { annotations: sha === null ? { [t.annotation]: null } : { [t.annotation]: sha } } });
    else api.store.put(plural, { apiVersion: t.apiVersion, kind: t.kind, metadata: { name: t.name, namespace: t.namespace, annotations }, spec: workloadSpec(t) });
  };
  const setPipelineRun = (id: string, sha: string, status: 'True' | 'False' | 'Unknown'): void => {
    const p = wire(id).pipeline;
    if (!p) throw new Error(`k8s-world: follower ${id} has no PipelineRun selection`);
    const name = `${id}-${sha.slice(0, 10)}-${sha.slice(-6)}`.slice(0, 63);
    if (!api.store.get('pipelineruns', p.namespace, name)) {
      api.store.put('pipelineruns', {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        // As a pipeline labels its runs: the sha cut to a label value's 63 characters, the full sha annotated.
        metadata: { name, namespace: p.namespace, labels: { ...p.labels, [p.shaLabel]: sha.slice(0, 63) }, annotations: { [p.shaLabel]: sha } },
        spec: { pipelineRef: { name: 'deploy' } },
      });
    }
    const reason = status === 'True' ? 'Succeeded' : status === 'False' ? 'Failed' : 'Running';
    api.store.patchStatus('pipelineruns', p.namespace, name, {
      conditions: [{ type: 'Succeeded', status, reason, message: `Tasks ${reason.toLowerCase()}`, lastTransitionTime: new Date().toISOString() }],
    });
  };
  const jobs = (id?: string): KubeObject[] =>
    api.store
      .list('jobs', NAMESPACE)
      .filter((j) => id === undefined || labelsOf(j)[LABEL_FOLLOWER] === id)
      .sort((a, b) => Number(a.metadata?.resourceVersion ?? 0) - Number(b.metadata?.resourceVersion ?? 0));
  const startJob = (name: string, log?: string): void => {
    const job = api.store.get('jobs', NAMESPACE, name);
    if (!job) throw new Error(`k8s-world: no Job ${name}`);
    const pod = `${name}-x${(job.metadata?.uid ?? 'pod').slice(0, 4)}`.slice(0, 63);
    if (!api.store.get('pods', NAMESPACE, pod)) {
      const spec = job['spec'] as { template: { spec: { containers: { name: string; image: string; command: string[] }[] } } };
      api.store.put('pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, namespace: NAMESPACE, labels: { ...labelsOf(job), 'job-name': name, 'batch.kubernetes.io/job-name': name } },
        spec: { containers: spec.template.spec.containers.map((c) => ({ name: c.name, image: c.image, command: c.command })) },
      });
      api.store.patchStatus('pods', NAMESPACE, pod, { phase: 'Running' });
    }
    const command = ((job['spec'] as { template: { spec: { containers: { command: string[] }[] } } }).template.spec.containers[0]?.command ?? []).join(' ');
    api.setPodLog(NAMESPACE, pod, log ?? `+ ${command}\ndeploying ${labelsOf(job)[LABEL_SHA] ?? '?'}\n`);
    api.store.patchStatus('jobs', NAMESPACE, name, { active: 1, ready: 1, startTime: new Date().toISOString() });
  };
  const finishJob = (name: string, outcome: JobOutcome = {}): void => {
    const job = api.store.get('jobs', NAMESPACE, name);
    if (!job) throw new Error(`k8s-world: no Job ${name}`);
    if (!(job['status'] as { startTime?: string } | undefined)?.startTime) startJob(name);
    const ok = outcome.ok ?? true;
    const now = new Date().toISOString();
    const labels = labelsOf(job);
    const id = labels[LABEL_FOLLOWER] ?? '';
    const sha = job.metadata?.annotations?.[LABEL_SHA] ?? labels[LABEL_SHA] ?? '';
    if (ok && outcome.deploy) setTarget(id, sha);
    if (outcome.pipeline) setPipelineRun(id, sha, outcome.pipeline);
    const conditions = ok
      ? [
          { type: 'SuccessCriteriaMet', status: 'True', lastProbeTime: now, lastTransitionTime: now },
          { type: 'Complete', status: 'True', lastProbeTime: now, lastTransitionTime: now },
        ]
      : [
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: now, lastTransitionTime: now },
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: now, lastTransitionTime: now },
        ];
    api.store.patchStatus('jobs', NAMESPACE, name, {
      active: 0,
      ready: 0,
      ...(ok ? { succeeded: 1, completionTime: now } : { failed: 1 }),
      conditions,
    });
    for (const pod of api.store.list('pods', NAMESPACE).filter((p) => labelsOf(p)['job-name'] === name)) {
      api.store.patchStatus('pods', NAMESPACE, nameOf(pod), { phase: ok ? 'Succeeded' : 'Failed' });
    }
  };
  return {
    api,
    git,
    configDir,
    registryPath,
    namespace: NAMESPACE,
    wiring,
    cli,
    async tick(loop, o = {}) {
      const r = await cli(['tick', loop, '-o', 'json'], o);
      let followers: TickLine[] = [];
      try {
        followers = (JSON.parse(r.stdout) as { followers: TickLine[] }).followers;
      } catch {
        throw new Error(`tick ${loop} printed no report (exit ${r.code}): ${r.stdout}${r.stderr}`);
      }
      return { ...r, followers };
    },
    statusJson,
    async row(id, o) {
      const row = (await statusJson(o)).find((r) => r.id === id);
      if (!row) throw new Error(`no status row for ${id}`);
      return row;
    },
    async armAll(ids, o) {
      const r1 = await cli(['kill-switch', 'off', '--confirm', '--reason', 'test'], o);
      if (r1.code !== 0) throw new Error(r1.stderr);
      for (const id of ids ?? [...wiring.keys()]) {
        const r = await cli(['arm', '--follower', id, '--confirm', '--reason', 'test'], o);
        if (r.code !== 0) throw new Error(r.stderr);
      }
    },
    armDirect(ids) {
      const at = new Date().toISOString();
      const arming: Arming = {
        killSwitch: { on: false, by: 'test@harness', at, reason: 'armed by the test' },
        allowlist: (ids ?? [...wiring.keys()]).map((id) => ({ id, by: 'test@harness', at, reason: 'armed by the test' })),
      };
      api.store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ARMING_CM, namespace: NAMESPACE }, data: armingToData(arming) });
    },
    setTarget,
    deleteTarget(id) {
      const t = wire(id).target;
      api.store.delete(PLURALS[t.kind] ?? t.kind, t.namespace, t.name);
    },
    targetSha(id) {
      const t = wire(id).target;
      return api.store.get(PLURALS[t.kind] ?? t.kind, t.namespace, t.name)?.metadata?.annotations?.[t.annotation] ?? null;
    },
    stateConfigMap: (id) => api.store.get('configmaps', NAMESPACE, `${STATE_PREFIX}${id}`),
    storedState(id) {
      const cm = api.store.get('configmaps', NAMESPACE, `${STATE_PREFIX}${id}`);
      const text = (cm?.['data'] as Record<string, string> | undefined)?.['state.json'];
      return text === undefined ? null : FollowerState.parse(JSON.parse(text));
    },
    jobs,
    startJob,
    finishJob,
    settleJobs(outcome) {
      const open = jobs().filter((j) => !hasCondition(j, 'Complete') && !hasCondition(j, 'Failed'));
      for (const j of open) finishJob(nameOf(j), outcome);
      return open.map(nameOf);
    },
    setPipelineRun,
    async cleanup() {
      await api.close();
      await git.cleanup();
    },
  };
};

/**
 * Generic followers on the Kubernetes driver: each follows `repo@branch` and its target is the
 * Deployment `apps/<id>` with the annotation `example.dev/deployed-sha`; the `pipeline` check
 * (when asked) reads the default selection: PipelineRuns in the controller namespace labelled
 * with the follower id and the sha.
 */
export const createK8sWorld = async (
  followers: readonly K8sFollowerDef[],
  opts: { budgets?: Record<string, number>; api?: ApiServerDoubleOptions; objectFormat?: 'sha1' | 'sha256'; http?: HttpServeOptions } = {},
): Promise<K8sWorld & { http: HttpGitServer | null }> => {
  const git = await createGitFixture();
  // Over http the repositories must exist before they are served; file:// creates them on the first push.
  if (opts.http && !opts.objectFormat) for (const f of followers) await git.createBareRepo(f.repo);
  const http = opts.http ? await git.serveHttp(opts.http) : null;
  if (opts.objectFormat) for (const f of followers) await git.createBareRepo(f.repo, { objectFormat: opts.objectFormat });
  const api = await startApiServerDouble(opts.api);
  const configDir = join(git.root, 'install');
  await mkdir(configDir, { recursive: true });
  const lanes: Record<string, unknown> = {};
  const wiring = new Map<string, Wiring>();
  for (const f of followers) {
    const target: AnnotationTarget = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: APPS_NAMESPACE, name: f.id, annotation: DEPLOYED_ANNOTATION };
    lanes[f.id] = { source: { repo: f.repo, branch: f.branch }, target: { reader: 'k8s-annotation', ...target } };
    wiring.set(f.id, { target, pipeline: { namespace: NAMESPACE, labels: { [LABEL_FOLLOWER]: f.id }, shaLabel: LABEL_SHA } });
  }
  await writeFile(join(configDir, 'lanes.yaml'), stringify({ lanes }));
  const registryPath = join(configDir, 'cicd-branch-followers.yaml');
  await writeFile(
    registryPath,
    stringify(
      genericRegistry({
        driver: 'kubernetes',
        namespace: NAMESPACE,
        readUrl: http?.url ?? git.fileUrl,
        budgets: { triggerSeconds: 300, closeoutSeconds: 600, maxAttempts: 2, ...opts.budgets },
        followers,
        command: (id) => ['deploy', '--follower', id, '--confirm'],
      }),
    ),
  );
  return { ...assemble(api, git, configDir, registryPath, wiring, {}, undefined), http };
};

/** The shipped config directory (the registry and its owning configs). */
export const SHIPPED_CONFIG = join(import.meta.dirname, '..', '..', 'config');
export const SHIPPED_REGISTRY = join(SHIPPED_CONFIG, 'cicd-branch-followers.yaml');

const WORKLOAD_API: Record<string, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', CronJob: 'batch/v1' };

/** Walks `file#dotted.path` through plain YAML, as an operator would read the owning config. */
const lookupRef = async (configDir: string, ref: string): Promise<unknown> => {
  const [file, path] = ref.split('#');
  let node: unknown = parse(await readFile(join(configDir, file ?? ''), 'utf8'));
  for (const key of (path ?? '').split('.')) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
};

type SeedRuntime = {
  namespace: string;
  workload: { kind: string; name: string };
  shaAnnotation: string;
  pipelineRun?: PipelineSelection;
};

/**
 * What a seed follower's target configRef points at, read straight from its owning config: the
 * workload's sha annotation, and the labels of its PipelineRuns.
 */
export const seedWiring = async (configDir: string): Promise<Map<string, Wiring>> => {
  const reg = parse(await readFile(join(configDir, 'cicd-branch-followers.yaml'), 'utf8')) as { followers: { id: string; target: { configRef: string } }[] };
  const out = new Map<string, Wiring>();
  for (const f of reg.followers) {
    const rt = (await lookupRef(configDir, f.target.configRef)) as SeedRuntime;
    out.set(f.id, {
      target: { apiVersion: WORKLOAD_API[rt.workload.kind] ?? 'apps/v1', kind: rt.workload.kind, namespace: rt.namespace, name: rt.workload.name, annotation: rt.shaAnnotation },
      pipeline: rt.pipelineRun ? { namespace: rt.pipelineRun.namespace, labels: { ...rt.pipelineRun.labels }, shaLabel: rt.pipelineRun.shaLabel } : null,
    });
  }
  return out;
};

/**
 * A real deploy for the local driver, standing in for `hwlab`, `agentrun` and `web-probe`: it
 * records that it ran (with its argv and the pinned run), fails on a switch, and otherwise
 * deploys through the API server as the real tooling would: Tekton's PipelineRun for the sha
 * ends Succeeded, and the target workload is stamped with the sha.
 */
const SEED_DEPLOY = `// Usage: node deploy.mjs <original argv...>; env: BF_TEST_API, BF_TEST_TOKEN and the pinned run.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
const id = process.env.BRANCH_FOLLOWER_ID;
const sha = process.env.BRANCH_FOLLOWER_SHA;
const attempt = process.env.BRANCH_FOLLOWER_ATTEMPT;
appendFileSync('invocations.log', [id, sha, attempt, process.env.BRANCH_FOLLOWER_REPO + '@' + process.env.BRANCH_FOLLOWER_BRANCH, ...process.argv.slice(2)].join(' ') + '\\n');
console.log('deploying ' + sha + ' for ' + id);
if (existsSync('switches/fail-' + id)) { console.error('deploy failed on purpose'); process.exit(3); }
const w = JSON.parse(readFileSync('wiring.json', 'utf8'))[id];
const api = process.env.BF_TEST_API;
const headers = { authorization: 'Bearer ' + process.env.BF_TEST_TOKEN, 'content-type': 'application/json' };
const call = async (method, path, body, type) => {
  const r = await fetch(api + path, { method, headers: { ...headers, ...(type ? { 'content-type': type } : {}) }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (await r.text()));
};
const base = (apiVersion) => (apiVersion.includes('/') ? '/apis/' + apiVersion : '/api/' + apiVersion);
if (w.pipeline) {
  const p = w.pipeline;
  const name = id + '-' + sha.slice(0, 10) + '-a' + attempt;
  const at = '/apis/tekton.dev/v1/namespaces/' + p.namespace + '/pipelineruns';
  await call('POST', at, { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name, labels: { ...p.labels, [p.shaLabel]: sha } }, spec: { pipelineRef: { name: 'deploy' } } });
  await call('PATCH', at + '/' + name + '/status', { status: { conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded' }] } }, 'application/merge-patch+json');
}
const t = w.target;
const plural = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', CronJob: 'cronjobs' }[t.kind];
await call('PATCH', base(t.apiVersion) + '/namespaces/' + t.namespace + '/' + plural + '/' + t.name, { metadata: { annotations: { [t.annotation]: sha } } }, 'application/merge-patch+json');
console.log('deployed ' + sha);
`;

export type SeedWorld = K8sWorld & {
  /** `id sha attempt repo@branch argv...` for every time the local deploy really ran. */
  invocations(): Promise<string[]>;
  /** Rewrites the copied registry (parsed YAML) in place. */
  editRegistry(mutate: (reg: { controller: Record<string, unknown>; followers: Record<string, unknown>[] }) => void): Promise<void>;
  /** Rewrites one copied owning config (parsed YAML) in place. */
  editConfig(file: string, mutate: (doc: Record<string, unknown>) => void): Promise<void>;
};

/**
 * The shipped registry and owning configs, copied into a temp dir with the git mirror's read URL
 * pointed at a file:// mirror holding the three seed source repositories. On the local driver
 * each follower's command runs `deploy.mjs` (the original argv passed along); on the Kubernetes
 * driver the command stays as shipped, since a Job only carries it.
 */
export const createSeedWorld = async (opts: { driver: 'local' | 'kubernetes'; api?: ApiServerDoubleOptions }): Promise<SeedWorld> => {
  const git = await createGitFixture();
  const api = await startApiServerDouble(opts.api);
  const configDir = join(git.root, 'config');
  await cp(SHIPPED_CONFIG, configDir, { recursive: true });
  // A state directory from someone's local run must not leak into the copy.
  await rm(join(configDir, '.branch-follower'), { recursive: true, force: true });
  await mkdir(join(configDir, 'switches'), { recursive: true });
  const registryPath = join(configDir, 'cicd-branch-followers.yaml');
  const editYaml = async (file: string, mutate: (doc: Record<string, unknown>) => void): Promise<void> => {
    const js = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    mutate(js);
    await writeFile(file, stringify(js));
  };
  await editYaml(registryPath, (reg) => {
    const controller = reg['controller'] as { gitMirror: { readUrl: string } };
    controller.gitMirror.readUrl = git.fileUrl;
    if (opts.driver === 'local') {
      for (const f of reg['followers'] as { command: string[] }[]) f.command = [process.execPath, join(configDir, 'deploy.mjs'), ...f.command];
    }
  });
  const wiring = await seedWiring(configDir);
  await writeFile(join(configDir, 'wiring.json'), JSON.stringify(Object.fromEntries(wiring), null, 1));
  await writeFile(join(configDir, 'deploy.mjs'), SEED_DEPLOY);
  const env = { BF_TEST_API: api.url, BF_TEST_TOKEN: api.token };
  const world = assemble(api, git, configDir, registryPath, wiring, env, opts.driver);
  return {
    ...world,
    async invocations() {
      try {
        return (await readFile(join(configDir, 'invocations.log'), 'utf8')).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    editRegistry: (mutate) => editYaml(registryPath, mutate as (doc: Record<string, unknown>) => void),
    editConfig: (file, mutate) => editYaml(join(configDir, file), mutate),
  };
};

/** Runs closer then observer ticks until `done` holds (as the two CronJobs would), bounded; `between` plays the cluster. */
export const tickUntil = async (
  w: K8sWorld,
  done: () => Promise<boolean>,
  o: { between?: () => void; maxTicks?: number; driver?: 'local' | 'kubernetes' } = {},
): Promise<void> => {
  for (let i = 0; i < (o.maxTicks ?? 20); i++) {
    if (await done()) return;
    o.between?.();
    await w.cli(['tick', 'closer'], o.driver ? { driver: o.driver } : {});
    await w.cli(['tick', 'observer'], o.driver ? { driver: o.driver } : {});
  }
  if (!(await done())) throw new Error('condition not reached within the tick budget');
};
