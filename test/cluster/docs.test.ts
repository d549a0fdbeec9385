// docs/install-cluster.md and the README's "Deploying to a cluster" commands, run as written on
// the real cluster: their `sh` blocks are copied out of the Markdown, in order, and run by bash
// as an operator would type them: the CLI on PATH by the launcher's absolute path, kubectl with
// ~/.kube/config, a home directory of their own. The page's three values (mirror push and read
// URLs, image) are the suite's own. Both use the namespace the docs name, branch-follower.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markdownBlocks, splitAtHeading } from '../support/markdown-blocks.ts';
import { IMAGE, ROOT, type Run, applyObjects, deleteNamespaces, getJson, kubectlRun, list, requireKubeconfig, tickNow } from './support/cluster.ts';
import { deployMirror, type Mirror } from './support/git-mirror.ts';

const NS = 'branch-follower';
const APP_NS = 'webapp';
const MIRROR_NS = 'bf-ci-docs-mirror';
const ANNOTATION = 'example.com/deployed-sha';

const git = (cwd: string, args: readonly string[]): Promise<string> =>
  new Promise((done, fail) =>
    execFile('git', [...args], { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 'you', GIT_AUTHOR_EMAIL: 'you@example.com', GIT_COMMITTER_NAME: 'you', GIT_COMMITTER_EMAIL: 'you@example.com' } }, (err, stdout, stderr) =>
      err ? fail(new Error(`git ${args.join(' ')}: ${stderr}`)) : done(stdout.trim()),
    ),
  );

describe('the cluster docs, run as written on the real cluster', () => {
  let mirror: Mirror;
  let home: string;
  /** Runs a script as the operator: only PATH, HOME and the page's values; no KUBECONFIG (kubectl and the CLI find ~/.kube/config). */
  const operator = (script: string, cwd: string): Promise<Run> =>
    new Promise((done) =>
      execFile(
        'bash',
        ['-euo', 'pipefail', '-c', script],
        {
          cwd,
          env: { PATH: `${join(home, 'bin')}:${process.env['PATH'] ?? ''}`, HOME: home, USER: 'operator', NO_COLOR: '1', MIRROR_PUSH: mirror.pushUrl, MIRROR_READ: mirror.readUrl, IMAGE },
          timeout: 600_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      ),
    );

  beforeAll(async () => {
    const kubeconfig = requireKubeconfig();
    await deleteNamespaces([NS, APP_NS, MIRROR_NS]);
    mirror = await deployMirror(MIRROR_NS);
    home = await mkdtemp(join(tmpdir(), 'bf-docs-'));
    await mkdir(join(home, 'bin'));
    await symlink(join(ROOT, 'bin', 'branch-follower'), join(home, 'bin', 'branch-follower'));
    await mkdir(join(home, '.kube'));
    await copyFile(kubeconfig, join(home, '.kube', 'config'));
  });

  afterAll(async () => {
    mirror?.stop();
    if (process.env['BF_CLUSTER_KEEP'] !== '1') await deleteNamespaces([NS, APP_NS, MIRROR_NS]);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('keeps every branch-follower and kubectl command of both pages in the blocks the test runs', async () => {
    for (const page of ['README.md', join('docs', 'install-cluster.md')]) {
      const md = await readFile(join(ROOT, page), 'utf8');
      for (const block of markdownBlocks(md, 'text')) {
        for (const line of block.split('\n')) expect(line, `${page}: a command in a text block is never run`).not.toMatch(/^\s*(branch-follower|kubectl) /);
      }
    }
  });

  it('README: plan, apply, status and arming on the shipped registry', async () => {
    const [, from] = splitAtHeading(await readFile(join(ROOT, 'README.md'), 'utf8'), '## Deploying to a cluster');
    const [section] = splitAtHeading(from.slice(3), '## ');
    const script = markdownBlocks(section, 'sh').join('\n');
    expect(script).toContain('branch-follower apply --confirm --wait');
    const r = await operator(script, ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await list(['-n', NS, 'get', 'cronjobs'])).map((c) => c.metadata.name).sort()).toEqual(['branch-follower-closer', 'branch-follower-observer']);
    const arming = await getJson(['-n', NS, 'get', 'configmap', 'branch-follower-arming']);
    expect(arming.data?.['allowlist']).toContain('hwlab-jd01-v03');
    // The page below installs its own registry in the same namespace.
    await deleteNamespaces([NS]);
  });

  it('docs/install-cluster.md: mirror, source, target Role, registry, install, arming; a tick in the cluster reads it all; uninstall', async () => {
    const md = await readFile(join(ROOT, 'docs', 'install-cluster.md'), 'utf8');
    const [install, operate] = splitAtHeading(md, '## 8.');
    const values = markdownBlocks(install, 'sh').filter((b) => b.includes('export MIRROR_PUSH='));
    expect(values, 'one block of the reader\'s own values').toHaveLength(1);
    const installScript = markdownBlocks(install, 'sh').filter((b) => !values.includes(b)).join('\n');

    // What the reader already has: the application's repository and its Deployment, running
    // the branch head (so the first tick finds it deployed and dispatches nothing).
    const app = join(home, 'src', 'webapp');
    await mkdir(app, { recursive: true });
    await git(app, ['init', '--quiet', '--initial-branch=main']);
    await git(app, ['commit', '--quiet', '--allow-empty', '-m', 'first commit']);
    const head = await git(app, ['rev-parse', 'HEAD']);
    await applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'webapp', namespace: APP_NS, annotations: { [ANNOTATION]: head } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'webapp' } },
          template: { metadata: { labels: { app: 'webapp' } }, spec: { containers: [{ name: 'app', image: 'docker.io/local/busybox:1', imagePullPolicy: 'Never' }] } },
        },
      },
    ]);

    const r = await operator(installScript, ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('webapp-main');
    const arming = await getJson(['-n', NS, 'get', 'configmap', 'branch-follower-arming']);
    expect(arming.data).toMatchObject({ killSwitch: 'off', allowlist: 'webapp-main\n' });

    // A tick in the cluster, in the controller's own pod: it clones the source the page pushed,
    // reads the page's registry, the mirror and the target through the page's Role.
    const tick = await tickNow(NS, 'observer');
    expect(tick.exitCode, tick.log).toBe(0);
    expect(tick.log).toContain(`webapp-main: Noop target is at ${head.slice(0, 12)}`);
    expect(tick.log).not.toMatch(/Forbidden|unreadable/);

    const u = await operator(markdownBlocks(operate, 'sh').join('\n'), join(home, 'bf-cluster'));
    expect(u.code, u.stdout + u.stderr).toBe(0);
    expect((await kubectlRun(['get', 'namespace', NS])).code).not.toBe(0);
    expect((await kubectlRun(['-n', APP_NS, 'get', 'role', 'branch-follower-target-reader'])).code).not.toBe(0);
  });
});
