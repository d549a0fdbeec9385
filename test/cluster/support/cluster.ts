// The cluster suite's access to a real cluster: kubectl (the host's, whatever its version) with the
// KUBECONFIG the suite was started with, the CLI as an operator runs it from outside, and the
// controller's own CronJobs made to run now, as `kubectl create job --from=cronjob/...` does.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const CLI = join(ROOT, 'src', 'cli.ts');
/** The controller image, already on the cluster's node (.ci/run builds and imports it). */
export const IMAGE = process.env['BRANCH_FOLLOWER_IMAGE'] ?? 'docker.io/local/branch-follower:ci';

export const requireKubeconfig = (): string => {
  const k = process.env['KUBECONFIG'];
  if (!k) throw new Error('the cluster suite runs against the cluster KUBECONFIG names: set KUBECONFIG (see test/cluster/README.md)');
  return k;
};

export type Run = { code: number; stdout: string; stderr: string };

export const run = (cmd: string, args: readonly string[], o: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(
      cmd,
      [...args],
      { env: { ...process.env, ...o.env }, cwd: o.cwd ?? ROOT, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
  });

const must = (what: string, r: Run): string => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
};

export const kubectl = async (args: readonly string[], input?: string): Promise<string> =>
  must(`kubectl ${args.join(' ')}`, await run('kubectl', args, input === undefined ? {} : { input }));

export const kubectlRun = (args: readonly string[], input?: string): Promise<Run> => run('kubectl', args, input === undefined ? {} : { input });

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; ownerReferences?: { kind: string; name: string }[] };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
};

export const getJson = async <T = Obj>(args: readonly string[]): Promise<T> => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
export const list = async (args: readonly string[]): Promise<Obj[]> => (await getJson<{ items: Obj[] }>(args)).items;

/** Applies objects given as JSON (a List), server-side so a re-run of the suite updates them. */
export const applyObjects = async (objects: readonly object[]): Promise<void> => {
  await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager', 'bf-cluster-suite', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` returns a value (not undefined), or fails naming what it waited for. */
export const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000, stepMs = 2_000): Promise<T> => {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(stepMs);
  }
};

export const deleteNamespaces = async (names: readonly string[]): Promise<void> => {
  await kubectlRun(['delete', 'namespace', '--ignore-not-found', '--wait=true', '--timeout=180s', ...names]);
};

/** The CLI as an operator runs it from outside the cluster. */
export const cli = (registry: string, args: readonly string[]): Promise<Run> =>
  run(process.execPath, [CLI, ...args, '--registry', registry, '--kubeconfig', requireKubeconfig()], { timeoutMs: 180_000 });

export const cliOk = async (registry: string, args: readonly string[]): Promise<string> => must(`branch-follower ${args.join(' ')}`, await cli(registry, args));

export type JobCondition = { type: string; status: string; reason?: string; message?: string };
export const jobConditions = (job: Obj): JobCondition[] => ((job.status?.['conditions'] as JobCondition[] | undefined) ?? []);
export const jobFinished = (job: Obj): 'Complete' | 'Failed' | null =>
  (jobConditions(job).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')?.type as 'Complete' | 'Failed' | undefined) ?? null;

let manual = 0;

/**
 * Creates a Job from a CronJob's template, as `kubectl create job --from=cronjob/NAME` does (the
 * template's labels and spec, the `cronjob.kubernetes.io/instantiate: manual` annotation, an owner
 * reference to the CronJob). Done by hand because kubectl newer than 1.20 reads the CronJob as
 * batch/v1, which a 1.20 server does not serve.
 */
export const jobFromCronJob = async (namespace: string, cronJob: string, o: { mutate?: (job: Obj) => void } = {}): Promise<string> => {
  const cj = await getJson(['-n', namespace, 'get', 'cronjob', cronJob]);
  const template = cj.spec?.['jobTemplate'] as { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> };
  const name = `${cronJob}-manual-${Date.now().toString(36)}${(++manual).toString(36)}`.slice(0, 63);
  const job: Obj = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: { ...(template.metadata?.annotations ?? {}), 'cronjob.kubernetes.io/instantiate': 'manual' },
      ownerReferences: [{ apiVersion: cj.apiVersion, kind: 'CronJob', name: cronJob, uid: cj.metadata.uid, controller: true } as unknown as { kind: string; name: string }],
    },
    spec: structuredClone(template.spec),
  };
  o.mutate?.(job);
  await kubectl(['create', '-f', '-'], JSON.stringify(job));
  return name;
};

export const waitForJob = async (namespace: string, name: string, timeoutMs = 240_000): Promise<'Complete' | 'Failed'> =>
  waitFor(`Job ${namespace}/${name} to finish`, async () => jobFinished(await getJson(['-n', namespace, 'get', 'job', name])) ?? undefined, timeoutMs, 1_000);

/** Every container's log of the Job's pods (init containers included), concatenated. */
export const jobLogs = async (namespace: string, job: string): Promise<string> => {
  const pods = await list(['-n', namespace, 'get', 'pods', '-l', `job-name=${job}`]);
  const out: string[] = [];
  for (const p of pods) {
    const r = await kubectlRun(['-n', namespace, 'logs', p.metadata.name, '--all-containers', '--prefix']);
    out.push(r.stdout, r.stderr);
  }
  return out.join('\n');
};

type TickContainerStatus = { name: string; state?: { terminated?: { exitCode?: number } } };

/**
 * Runs one tick of a loop now, in the controller's own pod, and returns its log and the tick
 * container's exit code (3 when the tick left a follower Blocked: the Job then ends Failed).
 */
export const tickNow = async (namespace: string, loop: 'observer' | 'closer'): Promise<{ job: string; result: 'Complete' | 'Failed'; exitCode: number | null; log: string }> => {
  const job = await jobFromCronJob(namespace, `branch-follower-${loop}`);
  const result = await waitForJob(namespace, job);
  const pods = await list(['-n', namespace, 'get', 'pods', '-l', `job-name=${job}`]);
  const statuses = pods.flatMap((p) => ((p.status?.['containerStatuses'] as TickContainerStatus[] | undefined) ?? []).filter((c) => c.name === loop));
  const exitCode = statuses.at(-1)?.state?.terminated?.exitCode ?? null;
  return { job, result, exitCode, log: await jobLogs(namespace, job) };
};

/** `kubectl port-forward` to a Service; resolves with the local port once it listens. */
export const portForward = async (namespace: string, service: string, port: number): Promise<{ port: number; stop: () => void }> => {
  const child = spawn('kubectl', ['-n', namespace, 'port-forward', `service/${service}`, `:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const local = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`port-forward to ${namespace}/${service} did not start: ${text}`)), 30_000);
    const onData = (b: Buffer) => {
      text += b.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`port-forward exited ${code}: ${text}`));
    });
  });
  return { port: local, stop: () => void child.kill('SIGTERM') };
};
