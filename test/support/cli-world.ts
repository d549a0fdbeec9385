// A whole local installation for end-to-end tests: a real git mirror (file://, git daemon or
// http-backend), a registry on the local driver with generic followers, a real deploy script,
// file targets, and the CLI run as a subprocess exactly as a user runs it.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import type { StatusRow } from '../../src/core/status-view.ts';
import { createGitFixture, type GitFixture, type HttpGitServer, type HttpServeOptions } from './git-fixtures.ts';
import { genericRegistry } from './registry-doc.ts';

/**
 * The CLI the worlds run: the sources, or what BF_TEST_CLI names (bench/push.ts points it at the
 * bundle, dist/cli.js, which the image and its pods run). Read once, when this module loads.
 */
export const CLI = process.env['BF_TEST_CLI'] || join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export type FollowerDef = { id: string; repo: string; branch: string; checks?: string[]; budgets?: Record<string, number>; onSupersede?: 'wait' | 'cancel' };

export type CliResult = { code: number; stdout: string; stderr: string };

export type World = {
  git: GitFixture;
  dir: string;
  configDir: string;
  stateDir: string;
  readUrl: string;
  /** The http-backend bridge, on the http transport (its requests, bytes answered). */
  http: HttpGitServer | null;
  cli(args: readonly string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  statusJson(): Promise<StatusRow[]>;
  row(id: string): Promise<StatusRow>;
  armAll(): Promise<void>;
  setTarget(id: string, sha: string | null): Promise<void>;
  /** `${id} ${sha} ${attempt}` for every time the deploy command really ran. */
  invocations(): Promise<string[]>;
  /** Make the deploy of a follower fail (exit 3) or hang/slow (seconds) until cleared. */
  failDeploys(id: string, on: boolean): Promise<void>;
  slowDeploys(id: string, seconds: number | null): Promise<void>;
  /** Keep deploys of a follower running until released, however slow the machine is. */
  holdDeploys(id: string, on: boolean): Promise<void>;
  /** Every file under the state dir with its bytes, to prove nothing changed. */
  snapshotState(): Promise<Map<string, string>>;
  writeRegistry(mutate?: (reg: Record<string, unknown>) => void): Promise<void>;
  cleanup(): Promise<void>;
};

const DEPLOY = `#!/bin/sh
# A real deploy command: records that it ran, honours the test's fail/slow switches, then
# "deploys" by writing the sha to the follower's target file.
set -eu
echo "$BRANCH_FOLLOWER_ID $BRANCH_FOLLOWER_SHA $BRANCH_FOLLOWER_ATTEMPT" >> invocations.log
if [ -e "switches/fail-$BRANCH_FOLLOWER_ID" ]; then echo "deploy failed on purpose" >&2; exit 3; fi
if [ -e "switches/slow-$BRANCH_FOLLOWER_ID" ]; then sleep "$(cat "switches/slow-$BRANCH_FOLLOWER_ID")"; fi
# Held deploys stay in flight until the test releases them (bounded, so nothing hangs forever).
n=0; while [ -e "switches/hold-$BRANCH_FOLLOWER_ID" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
echo "$BRANCH_FOLLOWER_SHA" > "targets/$BRANCH_FOLLOWER_ID.sha.tmp"
mv "targets/$BRANCH_FOLLOWER_ID.sha.tmp" "targets/$BRANCH_FOLLOWER_ID.sha"
`;

export const createWorld = async (
  followers: readonly FollowerDef[],
  opts: { transport?: 'file' | 'daemon' | 'http'; budgets?: Record<string, number>; objectFormat?: 'sha1' | 'sha256'; http?: HttpServeOptions } = {},
): Promise<World> => {
  const git = await createGitFixture();
  const dir = join(git.root, 'install');
  const configDir = join(dir, 'config');
  const stateDir = join(configDir, 'state');
  await mkdir(join(configDir, 'targets'), { recursive: true });
  await mkdir(join(configDir, 'switches'), { recursive: true });
  await writeFile(join(configDir, 'deploy.sh'), DEPLOY);
  await chmod(join(configDir, 'deploy.sh'), 0o755);
  let readUrl = git.fileUrl;
  let stop: (() => Promise<void>) | null = null;
  let httpServer: HttpGitServer | null = null;
  if (opts.objectFormat) for (const f of followers) await git.createBareRepo(f.repo, { objectFormat: opts.objectFormat });
  if (opts.transport === 'daemon' || opts.transport === 'http') {
    if (!opts.objectFormat) for (const f of followers) await git.createBareRepo(f.repo);
    const server = opts.transport === 'daemon' ? await git.serveDaemon() : (httpServer = await git.serveHttp(opts.http));
    readUrl = server.url;
    stop = () => server.stop();
  }
  const lanes: Record<string, unknown> = {};
  for (const f of followers) lanes[f.id] = { source: { repo: f.repo, branch: f.branch }, target: { reader: 'file', path: `targets/${f.id}.sha` } };
  await writeFile(join(configDir, 'lanes.yaml'), stringify({ lanes }));
  const registryPath = join(configDir, 'cicd-branch-followers.yaml');
  const baseRegistry = (): Record<string, unknown> =>
    genericRegistry({
      driver: 'local',
      namespace: 'branch-follower',
      readUrl,
      budgets: { triggerSeconds: 60, closeoutSeconds: 120, maxAttempts: 2, ...opts.budgets },
      followers,
      command: () => ['./deploy.sh'],
    });
  const writeRegistry = async (mutate?: (reg: Record<string, unknown>) => void): Promise<void> => {
    const reg = baseRegistry();
    mutate?.(reg);
    await writeFile(registryPath, stringify(reg));
  };
  await writeRegistry();

  const cli = (args: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args, '--registry', registryPath],
        { cwd: o.cwd ?? dir, env: { ...process.env, NO_COLOR: '1', ...o.env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  const statusJson = async (): Promise<StatusRow[]> => {
    const r = await cli(['status', '-o', 'json']);
    // Exit 2 with a table still printed means a corrupt state elsewhere; the rows are valid.
    if (r.code !== 0 && !(r.code === 2 && r.stdout.trim().startsWith('{'))) throw new Error(`status failed (${r.code}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as { followers: StatusRow[] }).followers;
  };
  const snapshotState = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    const walk = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          out.set(`${relative(stateDir, p)}/`, String((await stat(p)).mtimeMs));
          await walk(p);
        } else out.set(relative(stateDir, p), await readFile(p, 'utf8'));
      }
    };
    await walk(stateDir);
    return out;
  };
  return {
    git,
    dir,
    configDir,
    stateDir,
    readUrl,
    http: httpServer,
    cli,
    statusJson,
    async row(id) {
      const row = (await statusJson()).find((r) => r.id === id);
      if (!row) throw new Error(`no status row for ${id}`);
      return row;
    },
    async armAll() {
      const r1 = await cli(['kill-switch', 'off', '--confirm', '--reason', 'test']);
      if (r1.code !== 0) throw new Error(r1.stderr);
      for (const f of followers) {
        const r = await cli(['arm', '--follower', f.id, '--confirm', '--reason', 'test']);
        if (r.code !== 0) throw new Error(r.stderr);
      }
    },
    async setTarget(id, sha) {
      const p = join(configDir, 'targets', `${id}.sha`);
      if (sha === null) await rm(p, { force: true });
      else await writeFile(p, `${sha}\n`);
    },
    async invocations() {
      try {
        return (await readFile(join(configDir, 'invocations.log'), 'utf8')).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    async failDeploys(id, on) {
      const p = join(configDir, 'switches', `fail-${id}`);
      if (on) await writeFile(p, '');
      else await rm(p, { force: true });
    },
    async slowDeploys(id, seconds) {
      const p = join(configDir, 'switches', `slow-${id}`);
      if (seconds === null) await rm(p, { force: true });
      else await writeFile(p, String(seconds));
    },
    async holdDeploys(id, on) {
      const p = join(configDir, 'switches', `hold-${id}`);
      if (on) await writeFile(p, '');
      else await rm(p, { force: true });
    },
    snapshotState,
    writeRegistry,
    async cleanup() {
      await stop?.();
      await git.cleanup();
    },
  };
};

/** Runs closer+observer ticks until `done` holds (the CLI as a scheduler would), bounded. */
export const tickUntil = async (w: World, done: () => Promise<boolean>, maxTicks = 40): Promise<void> => {
  for (let i = 0; i < maxTicks; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 150));
    await w.cli(['tick', 'closer']);
    await w.cli(['tick', 'observer']);
  }
  if (!(await done())) throw new Error('condition not reached within the tick budget');
};
