// The demo: a throwaway git mirror with the three seed source repositories, a registry on the
// local driver, and the real loops driven through the CLI, so a person can watch a follower
// move through its phases. Everything lives in one temp dir, removed at the end.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { main } from '../src/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'branch-follower-demo-'));
const keep = process.argv.includes('--keep');
const gitEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: root, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@example.invalid', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@example.invalid' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();

const FOLLOWERS = [
  { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' },
  { id: 'agentrun-jd01-v02', repo: 'pikasTech/agentrun', branch: 'v0.2' },
  { id: 'web-probe-sentinel-master', repo: 'pikasTech/unidesk', branch: 'master' },
] as const;

const mirror = join(root, 'mirror');
const work = join(root, 'work');
const config = join(root, 'config');
mkdirSync(config, { recursive: true });
mkdirSync(join(config, 'targets'), { recursive: true });

const push = (f: (typeof FOLLOWERS)[number], message: string): string => {
  const dir = join(work, f.repo);
  writeFileSync(join(dir, 'CHANGES'), `${message}\n`, { flag: 'a' });
  process.stdout.write(`\n$ cd work/${f.repo} && echo '${message}' >> CHANGES && git commit -qam '${message}' && git push -q origin HEAD:${f.branch} && cd -\n`);
  git(dir, 'commit', '-qam', message);
  git(dir, 'push', '-q', 'origin', `HEAD:${f.branch}`);
  return git(dir, 'rev-parse', 'HEAD');
};

for (const f of FOLLOWERS) {
  const bare = join(mirror, `${f.repo}.git`);
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare');
  const dir = join(work, f.repo);
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', f.branch);
  git(dir, 'remote', 'add', 'origin', bare);
  writeFileSync(join(dir, 'CHANGES'), 'initial\n');
  git(dir, 'add', 'CHANGES');
  git(dir, 'commit', '-qm', 'initial');
  git(dir, 'push', '-q', 'origin', `HEAD:${f.branch}`);
  // What already runs on each target: the initial commit.
  writeFileSync(join(config, 'targets', `${f.id}.sha`), `${git(dir, 'rev-parse', 'HEAD')}\n`);
}

// A small real deploy: takes a moment, then rolls out in the background (so the run is seen
// in ClosingOut while the target catches up). It fails while a `fail-<id>` file exists.
const deploy = join(config, 'deploy.sh');
writeFileSync(
  deploy,
  `#!/bin/sh
set -eu
echo "deploying $BRANCH_FOLLOWER_REPO@$BRANCH_FOLLOWER_BRANCH $BRANCH_FOLLOWER_SHA (attempt $BRANCH_FOLLOWER_ATTEMPT) for $BRANCH_FOLLOWER_ID"
if [ -e "fail-$BRANCH_FOLLOWER_ID" ]; then echo "deploy refused: fail-$BRANCH_FOLLOWER_ID exists" >&2; exit 3; fi
sleep "$(cat "slow-$BRANCH_FOLLOWER_ID" 2>/dev/null || echo 1)"
( sleep 2; echo "$BRANCH_FOLLOWER_SHA" > "targets/$BRANCH_FOLLOWER_ID.sha.tmp" && mv "targets/$BRANCH_FOLLOWER_ID.sha.tmp" "targets/$BRANCH_FOLLOWER_ID.sha" ) >/dev/null 2>&1 &
echo "rollout started"
`,
);
chmodSync(deploy, 0o755);

const owning: Record<string, unknown> = {};
for (const f of FOLLOWERS) owning[f.id] = { source: { repo: f.repo, branch: f.branch }, target: { reader: 'file', path: `targets/${f.id}.sha` } };
writeFileSync(join(config, 'demo-lanes.yaml'), stringify({ lanes: owning }));
const registry = join(config, 'cicd-branch-followers.yaml');
writeFileSync(
  registry,
  stringify(
    {
      controller: {
        namespace: 'branch-follower',
        driver: 'local',
        gitMirror: { readUrl: `file://${mirror}` },
        source: { repo: 'pikasTech/unidesk', ref: 'master' },
        schedules: { observer: '* * * * *', closer: '* * * * *' },
        defaults: { budgets: { triggerSeconds: 60, closeoutSeconds: 120, maxAttempts: 2 } },
        local: { stateDir: 'state' },
      },
      followers: FOLLOWERS.map((f) => ({
        id: f.id,
        adapter: 'generic',
        source: { configRef: `demo-lanes.yaml#lanes.${f.id}.source` },
        target: { configRef: `demo-lanes.yaml#lanes.${f.id}.target` },
        command: ['./deploy.sh'],
        checks: ['trigger', 'target'],
      })),
    },
  ),
);

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: root };
// Every command the demo runs is printed as a person would type it in the demo's directory, so
// the whole story can be repeated by hand (`npm run demo -- --keep` keeps the directory).
const cli = async (...args: string[]): Promise<number> => {
  process.stdout.write(`\n$ branch-follower ${args.join(' ')}\n`);
  return main(args, io);
};
/** A command whose output the demo reads rather than shows: printed, then run quietly. */
const quietly = async (args: string[], sink: (s: string) => void = () => undefined): Promise<number> => {
  process.stdout.write(`$ branch-follower ${args.join(' ')}   # output read by the demo\n`);
  return main(args, { ...io, stdout: { write: (s: string) => (sink(s), true) } });
};
const say = (text: string): void => void process.stdout.write(`\n=== ${text}\n`);
const status = () => cli('status');
const tick = async (): Promise<void> => {
  await cli('tick', 'closer');
  await cli('tick', 'observer');
};
const until = async (what: string, done: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 60; i++) {
    if (await done()) return;
    await sleep(500);
    await tick();
  }
  throw new Error(`demo: gave up waiting for ${what}`);
};
const phaseOf = async (id: string): Promise<string> => {
  let text = '';
  await quietly(['status', '-o', 'json', '--follower', id], (s) => (text += s));
  return (JSON.parse(text) as { followers: { phase: string }[] }).followers[0]?.phase ?? '';
};

const started = Date.now();
process.stdout.write(`$ cd ${root}   # the demo's directory: config/ holds the registry, deploy.sh and the targets\n`);
try {
  say('The targets already run the initial commits: Noop');
  await cli('plan');
  await cli('tick', 'observer');
  await status();

  say('New commits, but a fresh install ships disabled (kill switch on, empty allowlist): Skipped');
  for (const f of FOLLOWERS) push(f, `feature for ${f.id}`);
  await cli('tick', 'observer');
  await status();

  say('Arming the demo (its own state dir only): release the kill switch, allowlist all three');
  await cli('kill-switch', 'off', '--confirm', '--reason', 'demo');
  for (const f of FOLLOWERS) await cli('arm', '--follower', f.id, '--confirm', '--reason', 'demo');

  say('What would happen now (dry-run writes nothing): PendingTrigger');
  await cli('run-once', '--all', '--dry-run');

  say('The observer dispatches each new commit once (PendingTrigger, then Triggering)');
  await cli('tick', 'observer');
  await status();
  await until('the deploys to finish', async () => (await phaseOf(FOLLOWERS[0].id)) !== 'Triggering');
  say('The deploy command finished; the closer waits for the target to report the sha (ClosingOut)');
  await status();
  await until('Succeeded', async () => (await Promise.all(FOLLOWERS.map((f) => phaseOf(f.id)))).every((p) => p === 'Succeeded'));
  await status();

  say('A push while a run is in flight: the old run finishes, the newest sha is dispatched at once, shas between are skipped');
  const hw = FOLLOWERS[0];
  process.stdout.write(`\n$ echo 3 > config/slow-${hw.id}   # the demo's deploy.sh sleeps 3 s while this file exists\n`);
  writeFileSync(join(config, `slow-${hw.id}`), '3');
  push(hw, 'slow change');
  await cli('tick', 'observer');
  push(hw, 'skipped change');
  const newest = push(hw, 'newest change');
  await cli('tick', 'observer');
  await status();
  process.stdout.write(`\n$ rm config/slow-${hw.id}\n`);
  rmSync(join(config, `slow-${hw.id}`));
  await until('the newest sha to succeed', async () => {
    let text = '';
    await quietly(['status', '-o', 'json', '--follower', hw.id], (s) => (text += s));
    return (JSON.parse(text) as { followers: { lastSucceededSha: string | null }[] }).followers[0]?.lastSucceededSha === newest;
  });
  await status();

  say('A failing deploy: Failed, one retry within maxAttempts, then Blocked until a new commit');
  const ar = FOLLOWERS[1];
  process.stdout.write(`\n$ touch config/fail-${ar.id}   # the demo's deploy.sh exits 3 while this file exists\n`);
  writeFileSync(join(config, `fail-${ar.id}`), '');
  push(ar, 'a change whose deploy fails');
  await until('Blocked', async () => (await phaseOf(ar.id)) === 'Blocked');
  await status();
  await cli('logs', '--follower', ar.id);
  await cli('events', '--follower', ar.id);
  await cli('events', '--follower', hw.id);
  say(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
} finally {
  if (keep) process.stdout.write(`\nkept ${root}\n`);
  else rmSync(root, { recursive: true, force: true });
}
