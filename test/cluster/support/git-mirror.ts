// A git mirror pods can reach: `git http-backend` (test/support/git-mirror-server.ts) in a
// Deployment of the controller's own image, behind a Service. Pods use the Service's cluster IP
// (a cluster may resolve only kubernetes.default.svc by name, as realk8s does); the suite pushes
// to it through `kubectl port-forward`, so it works wherever kubectl does.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IMAGE, ROOT, applyObjects, getJson, kubectl, portForward, waitFor } from './cluster.ts';

const exec = promisify(execFile);
const PORT = 8080;

export type Mirror = {
  namespace: string;
  /** What pods use: http://<cluster IP>/git */
  readUrl: string;
  /** What the suite pushes to: http://127.0.0.1:<forwarded>/git */
  pushUrl: string;
  stop(): void;
};

const git = async (cwd: string, args: readonly string[]): Promise<string> =>
  (await exec('git', [...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 'ci', GIT_AUTHOR_EMAIL: 'ci@example.invalid', GIT_COMMITTER_NAME: 'ci', GIT_COMMITTER_EMAIL: 'ci@example.invalid' } })).stdout.trim();

export const deployMirror = async (namespace: string): Promise<Mirror> => {
  const server = await readFile(join(ROOT, 'test', 'support', 'git-mirror-server.ts'), 'utf8');
  const cgi = await readFile(join(ROOT, 'test', 'support', 'git-http-backend-cgi.ts'), 'utf8');
  const labels = { app: 'git-mirror' };
  const security = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
  await applyObjects([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'git-mirror-server', namespace }, data: { 'git-mirror-server.ts': server, 'git-http-backend-cgi.ts': cgi } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'git-mirror', namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            containers: [
              {
                name: 'git-http-backend',
                image: IMAGE,
                imagePullPolicy: 'IfNotPresent',
                command: ['node', '/srv/mirror/git-mirror-server.ts', '/srv/git', String(PORT)],
                env: [{ name: 'HOME', value: '/tmp' }],
                ports: [{ containerPort: PORT, protocol: 'TCP' }],
                readinessProbe: { httpGet: { path: '/healthz', port: PORT }, periodSeconds: 1 },
                securityContext: security,
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
                volumeMounts: [
                  { name: 'server', mountPath: '/srv/mirror', readOnly: true },
                  { name: 'repos', mountPath: '/srv/git' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'server', configMap: { name: 'git-mirror-server' } },
              { name: 'repos', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'git-mirror', namespace }, spec: { selector: labels, ports: [{ port: 80, targetPort: PORT, protocol: 'TCP' }] } },
  ]);
  await kubectl(['-n', namespace, 'rollout', 'status', 'deployment/git-mirror', '--timeout=180s']);
  const ip = await waitFor('the mirror Service\'s cluster IP', async () => {
    const svc = await getJson(['-n', namespace, 'get', 'service', 'git-mirror']);
    return (svc.spec?.['clusterIP'] as string | undefined) || undefined;
  });
  const pf = await portForward(namespace, 'git-mirror', 80);
  return { namespace, readUrl: `http://${ip}/git`, pushUrl: `http://127.0.0.1:${pf.port}/git`, stop: pf.stop };
};

/** A working repository whose commits the suite pushes to the mirror. */
export type WorkRepo = { dir: string; commit(message?: string): Promise<string>; push(...branches: string[]): Promise<void>; remove(): Promise<void> };

export const workRepo = async (mirror: Mirror, repo: string): Promise<WorkRepo> => {
  const dir = await mkdtemp(join(tmpdir(), 'bf-cluster-repo-'));
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  let n = 0;
  return {
    dir,
    async commit(message) {
      await writeFile(join(dir, 'version.txt'), `${++n} ${Date.now()}\n`);
      await git(dir, ['add', '-A']);
      await git(dir, ['commit', '--quiet', '-m', message ?? `change ${n}`]);
      return git(dir, ['rev-parse', 'HEAD']);
    },
    async push(...branches) {
      const refspecs = (branches.length ? branches : ['main']).map((b) => `HEAD:refs/heads/${b}`);
      await git(dir, ['push', '--quiet', '--force', `${mirror.pushUrl}/${repo}.git`, ...refspecs]);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
};

/**
 * The controller source the CronJob pods clone: this checkout's working tree (what is being
 * tested, committed or not), as one commit on `main` of `repo`. The image is built from the same
 * tree, so the init container finds the image's bundle built from it and the ticks run that.
 */
export const pushControllerSource = async (mirror: Mirror, repo: string): Promise<string> => {
  const r = await workRepo(mirror, repo);
  try {
    // scripts/build.ts with src/: the image's bundle was built from these, so the pods run it.
    for (const p of ['src', 'bin', 'scripts/build.ts', 'package.json', 'package-lock.json']) await cp(join(ROOT, p), join(r.dir, p), { recursive: true });
    await git(r.dir, ['add', '-A']);
    await git(r.dir, ['commit', '--quiet', '-m', 'controller source under test']);
    const sha = await git(r.dir, ['rev-parse', 'HEAD']);
    await r.push('main');
    return sha;
  } finally {
    await r.remove();
  }
};
