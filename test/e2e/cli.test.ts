// The CLI as a platform engineer meets it, run as a subprocess: plan with no cluster at hand,
// tables that fit 120 columns, watching status and events, help, shell completion.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMON_FLAGS } from '../../src/cli/verb.ts';
import { VERBS } from '../../src/cli/verbs/index.ts';
import { CLI, createWorld, type CliResult, type World } from '../support/cli-world.ts';
import { SHIPPED_REGISTRY } from '../support/k8s-world.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const LAUNCHER = join(ROOT, 'bin', 'branch-follower.js');
const SHIPPED_IDS = ['hwlab-jd01-v03', 'agentrun-jd01-v02', 'web-probe-sentinel-master'];
const NO_CREDS = 'not shown: no cluster credentials (--kubeconfig, KUBECONFIG, in-cluster)';

let home: string;
/** An environment with no Kubernetes credentials of any kind: no KUBECONFIG, no service account, an empty HOME. */
const noCredsEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: '1' };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  return env;
};

const run = (argv: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; entry?: string } = {}): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [o.entry ?? CLI, ...argv], { cwd: o.cwd ?? ROOT, env: o.env ?? noCredsEnv(), timeout: 90_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

/** Every line of every table in a text: a header line in capitals up to the next blank line. */
const tableLines = (text: string): string[] => {
  const lines: string[] = [];
  let inTable = false;
  for (const l of text.split('\n')) {
    if (/^(ID|AT) {2,}[A-Z]/.test(l)) inTable = true;
    else if (l.trim() === '') inTable = false;
    if (inTable) lines.push(l);
  }
  return lines;
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'bf-cli-home-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('plan without cluster access', () => {
  it('shows the shipped registry with no credentials: three followers, their summaries, exit 0; cluster parts "not shown"', async () => {
    // Through the launcher, as `npx branch-follower plan` runs it.
    const r = await run(['plan'], { entry: LAUNCHER });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('followers: 3');
    expect(r.stdout).toContain('driver kubernetes');
    const rows = tableLines(r.stdout);
    expect(rows[0]).toMatch(/^ID +SOURCE +TARGET +CHECKS +BUDGETS +ARMING$/);
    expect(rows.slice(1).map((l) => l.split(/ +/)[0])).toEqual(SHIPPED_IDS);
    expect(rows.find((l) => l.startsWith('hwlab-jd01-v03 '))).toMatch(/pikasTech\/HWLAB@v0\.3 +deploy\/hwlab-control-plane +pipeline,target +10m\/40m×2 +not shown$/);
    expect(r.stdout).toContain(`arming: ${NO_CREDS}`);
    expect(r.stdout).toContain(`manifests: ${NO_CREDS}`);
    // The long summaries are the wide view's.
    const wide = await run(['plan', '-o', 'wide']);
    expect(wide.code, wide.stderr).toBe(0);
    expect(wide.stdout).toContain('pikasTech/HWLAB@v0.3 -> Deployment hwlab-v03/hwlab-control-plane annotation hwlab.dev/source-sha (hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime)');
  });

  it('-o json and -o yaml carry every follower with summary, checks, budgets, and say what was not shown', async () => {
    for (const format of ['json', 'yaml'] as const) {
      const r = await run(['plan', '-o', format, '--registry', SHIPPED_REGISTRY]);
      expect(r.code, r.stderr).toBe(0);
      const doc = (format === 'json' ? JSON.parse(r.stdout) : parse(r.stdout)) as {
        driver: string;
        followers: { id: string; summary: string; checks: string[]; budgets: { closeoutSeconds: number }; arming: unknown; resolved: boolean }[];
        arming: { state: string; detail: string };
        manifests: { notShown: string };
      };
      expect(doc.driver).toBe('kubernetes');
      expect(doc.followers.map((f) => f.id)).toEqual(SHIPPED_IDS);
      for (const f of doc.followers) {
        expect(f.resolved).toBe(true);
        expect(f.summary).toContain(' -> ');
        expect(f.checks).toEqual(['trigger', 'pipeline', 'target']);
        expect(f.arming).toBeNull();
      }
      expect(doc.followers[0]?.budgets.closeoutSeconds).toBe(2400);
      expect(doc.arming).toEqual({ state: 'not-shown', detail: 'no cluster credentials (--kubeconfig, KUBECONFIG, in-cluster)' });
      expect(doc.manifests).toEqual({ notShown: 'no cluster credentials (--kubeconfig, KUBECONFIG, in-cluster)' });
    }
  });

  it('the header shows the effective driver', async () => {
    await mkdir(join(home, 'state'), { recursive: true });
    const r = await run(['plan', '--driver', 'local', '--state-dir', join(home, 'state')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(driver local)');
    expect(r.stdout).not.toContain('driver kubernetes');
    expect(r.stdout).toContain('arming: no arming data');
  });
});

describe('on a local installation', () => {
  let w: World;
  // Long ids and branch names, so the tables have to fit rather than happen to.
  const A = 'a-follower-with-an-id-of-forty-chars-xyz';
  const B = 'webapp-main';
  beforeAll(async () => {
    w = await createWorld([
      { id: A, repo: 'acme/a-repository-with-a-rather-long-name', branch: 'release/2026-q4/hotfix-for-the-long-branch-name' },
      { id: B, repo: 'acme/webapp', branch: 'main' },
    ]);
    await w.armAll();
  });
  afterAll(async () => {
    await w.cleanup();
  });

  it('default tables fit 120 columns, in every phase; -o wide has the rest', async () => {
    const check = async (args: string[]): Promise<string> => {
      const r = await w.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const lines = tableLines(r.stdout);
      expect(lines.length, args.join(' ')).toBeGreaterThan(1);
      for (const l of lines) expect(l.length, `${args.join(' ')}: ${l}`).toBeLessThanOrEqual(120);
      return r.stdout;
    };
    await check(['plan']);
    await check(['status']);
    const sha = await w.git.commit('acme/a-repository-with-a-rather-long-name', 'release/2026-q4/hotfix-for-the-long-branch-name');
    await w.git.commit('acme/webapp', 'main');
    await w.holdDeploys(A, true);
    await w.cli(['tick', 'observer']);
    const inFlight = await check(['status']);
    await check(['run-once', '--all', '--dry-run']);
    await check(['events', '--follower', A]);
    expect((await w.cli(['events', '--follower', A, '-o', 'wide'])).stdout).toContain(`dispatched bf-${A}`);
    expect(inFlight).toMatch(new RegExp(`^${A} +Triggering `, 'm'));
    // The reasons under the table are prose: wrapped to the width too.
    for (const l of inFlight.split('\n').filter((x) => !x.startsWith('  next:'))) expect(l.length, l).toBeLessThanOrEqual(120);
    const wide = await w.cli(['status', '-o', 'wide']);
    expect(wide.stdout).toContain(sha);
    expect(wide.stdout).toContain(`Process/bf-${A}`);
    await w.holdDeploys(A, false);
  });

  it('status -w sees a transition made by a concurrent tick, and Ctrl-C ends it with exit 0', async () => {
    await w.git.commit('acme/webapp', 'main');
    await w.cli(['tick', 'closer']);
    const before = (await w.row(B)).phase;
    const child = spawn(process.execPath, [CLI, 'status', '-w', '--interval-seconds', '0.2', '--follower', B, '--registry', join(w.configDir, 'cicd-branch-followers.yaml')], {
      cwd: w.dir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(cond(), `${what}; output so far:\n${out}`).toBe(true);
    };
    await until(() => out.includes('---'), 'the first view');
    const views = (): string[] => out.split(/^--- .*$/m).filter((v) => v.trim());
    expect(views()).toHaveLength(1);
    // A concurrent tick (another process, as cron runs it) moves the follower on.
    const t = await w.cli(['tick', 'observer']);
    expect(t.code, t.stderr).toBe(0);
    const after = (await w.row(B)).phase;
    expect(after).not.toBe(before);
    await until(() => views().length >= 2 && new RegExp(`^${B} +${after} `, 'm').test(views().at(-1) ?? ''), `a view with ${B} ${after}`);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('events -w prints each new transition as it happens, and Ctrl-C ends it with exit 0', async () => {
    const child = spawn(process.execPath, [CLI, 'events', '--follower', B, '-w', '--interval-seconds', '0.2', '--registry', join(w.configDir, 'cicd-branch-followers.yaml')], {
      cwd: w.dir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 300 && !out.startsWith('AT'); i++) await new Promise((r) => setTimeout(r, 100));
    const first = out.split('\n').filter(Boolean).length;
    const sha = await w.git.commit('acme/webapp', 'main');
    await w.cli(['tick', 'closer']);
    await w.cli(['tick', 'observer']);
    for (let i = 0; i < 300 && !out.includes(sha.slice(0, 7)); i++) await new Promise((r) => setTimeout(r, 100));
    const lines = out.split('\n').filter(Boolean);
    expect(lines.length, out).toBeGreaterThan(first);
    expect(lines.filter((l) => l.startsWith('AT'))).toHaveLength(1);
    expect(lines.some((l) => l.includes(sha.slice(0, 7))), out).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  describe('shell completion', () => {
    let bin: string;
    const registry = (): string => join(w.configDir, 'cicd-branch-followers.yaml');
    beforeAll(async () => {
      // The scripts call `branch-follower` for follower ids: put the launcher on PATH as an install would.
      bin = join(w.dir, 'bin');
      await mkdir(bin, { recursive: true });
      await symlink(LAUNCHER, join(bin, 'branch-follower'));
      await chmod(LAUNCHER, 0o755);
    });
    const script = async (shell: string): Promise<string> => {
      const r = await run(['completion', shell]);
      expect(r.code, r.stderr).toBe(0);
      const file = join(w.dir, `completion.${shell}`);
      await writeFile(file, r.stdout);
      return file;
    };
    const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` });

    for (const [shell, check] of [
      ['bash', ['-n']],
      ['zsh', ['-n']],
      ['fish', ['--no-execute']],
    ] as const) {
      it(`${shell} accepts the script (${shell} ${check.join(' ')})`, async () => {
        const has = spawnSync(shell, ['-c', 'exit 0']).status === 0;
        expect(has, `${shell} is not installed: apt-get install ${shell}`).toBe(true);
        const r = spawnSync(shell, [...check, await script(shell)], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      });
    }

    it('bash completes verbs, flags, flag values, positionals and follower ids from the registry', async () => {
      const file = await script('bash');
      const complete = (line: string): string[] => {
        const words = line.split(' ');
        const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${words.map((x) => `'${x}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _branch_follower; printf '%s\\n' "\${COMPREPLY[@]}"`], {
          encoding: 'utf8',
          cwd: w.dir,
          env: env(),
        });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean);
      };
      expect(complete('branch-follower ')).toEqual(expect.arrayContaining(VERBS.filter((v) => !v.hidden).map((v) => v.name)));
      expect(complete('branch-follower __')).toEqual([]);
      expect(complete('branch-follower st')).toEqual(['status']);
      expect(complete('branch-follower kill-switch ')).toEqual(['on', 'off']);
      expect(complete('branch-follower status -o ')).toEqual(['table', 'wide', 'json', 'yaml']);
      expect(complete('branch-follower status --w')).toEqual(['--watch']);
      expect(complete(`branch-follower status --registry ${registry()} --follower `)).toEqual([A, B]);
      expect(complete(`branch-follower arm --registry ${registry()} --follower web`)).toEqual([B]);
      // Without --registry: the default registry of the current directory, here the shipped one.
      const shipped = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(branch-follower logs --follower ''); COMP_CWORD=3; _branch_follower; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', cwd: ROOT, env: env() });
      expect(shipped.stdout.split('\n').filter(Boolean)).toEqual(SHIPPED_IDS);
    });

    it('fish completes verbs and follower ids', async () => {
      const file = await script('fish');
      const complete = (line: string): string[] => {
        const r = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C${JSON.stringify(line)}`], { encoding: 'utf8', cwd: w.dir, env: env() });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0] ?? '');
      };
      expect(complete('branch-follower ki')).toEqual(['kill-switch']);
      expect(complete(`branch-follower events --registry ${registry()} --follower `)).toEqual(expect.arrayContaining([A, B]));
      expect(complete('branch-follower kill-switch ')).toEqual(expect.arrayContaining(['on', 'off']));
    });

    it('zsh loads the script under compinit and completes verbs, flags, positionals and follower ids', async () => {
      const file = await script('zsh');
      const r = spawnSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D && source ${file} && whence -w _branch_follower && print -r -- $_comps[branch-follower]`], { encoding: 'utf8', env: env() });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('_branch_follower: function');
      expect(r.stdout.trim().split('\n').at(-1)).toBe('_branch_follower');
      // What the function hands zsh's completion system, with its builtins stubbed to print it.
      const stubbed = (words: string[], current: number, call = '_branch_follower'): string[] => {
        const q = words.map((x) => `'${x}'`).join(' ');
        const body = [
          'compdef() { : }',
          `source ${file}`,
          '_describe() { print -l -- "${(@P)${@[-1]}}" | cut -d: -f1 }',
          '_arguments() { print -l -- "$@" }',
          'compadd() { shift; print -l -- "${(@P)1}" }',
          `words=(${q}); CURRENT=${current}; ${call}`,
        ].join('\n');
        const z = spawnSync('zsh', ['-f', '-c', body], { encoding: 'utf8', cwd: w.dir, env: env() });
        expect(z.status, z.stderr).toBe(0);
        return z.stdout.split('\n').filter(Boolean);
      };
      expect(stubbed(['branch-follower', ''], 2)).toEqual(VERBS.filter((v) => !v.hidden).map((v) => v.name));
      expect(stubbed(['branch-follower', 'status', '--follower', ''], 4)).toContain('*--follower[only this follower]:ID:_branch_follower_followers');
      expect(stubbed(['branch-follower', 'kill-switch', ''], 3)).toContain("':STATE:(on off)'".slice(1, -1));
      expect(stubbed(['branch-follower', 'status', '--registry', registry(), '--follower', ''], 6, '_branch_follower_followers')).toEqual([A, B]);
    });
  });
});

describe('help', () => {
  it('each verb\'s --help describes every flag it takes and gives examples', async () => {
    for (const v of VERBS.filter((x) => !x.hidden)) {
      const r = await run([v.name, '--help']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Usage: branch-follower ${v.usage}`);
      for (const f of [...v.flags, ...COMMON_FLAGS]) {
        const line = r.stdout.split('\n').find((l) => l.startsWith(`  --${f.name} `) || l.startsWith(`  --${f.name},`));
        expect(line, `${v.name} --${f.name}`).toBeDefined();
        expect(line, `${v.name} --${f.name}`).toContain(f.help.split(' ').slice(0, 3).join(' '));
      }
      const examples = r.stdout.slice(r.stdout.indexOf('Examples:')).split('\n').filter((l) => l.startsWith('  branch-follower') || l.startsWith('  source') || l.startsWith('  * * *'));
      expect(examples.length, v.name).toBeGreaterThanOrEqual(2);
      // Every flag an example uses exists on the verb.
      const known = new Set([...v.flags, ...COMMON_FLAGS].flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]));
      for (const e of examples) for (const flag of e.match(/(?<=\s)--?[a-z][-a-z]*/g) ?? []) expect(known.has(flag), `${v.name} example ${e}: ${flag}`).toBe(true);
    }
  });

  it("README's CLI section is the output of --help", async () => {
    const readme = await import('node:fs/promises').then((fs) => fs.readFile(join(ROOT, 'README.md'), 'utf8'));
    const section = readme.slice(readme.indexOf('\n## CLI'), readme.indexOf('\n## ', readme.indexOf('\n## CLI') + 1));
    const block = /```text\n([\s\S]*?)```/.exec(section)?.[1];
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(block, 'README ## CLI has a ```text block with the --help output').toBe(r.stdout);
  });
});
