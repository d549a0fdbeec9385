// The bad-input corpus (test/fixtures/bad-input/<case>/case.yaml), run through the CLI as a
// subprocess exactly as a user runs it. Every case breaks one input of a healthy, armed
// installation in which a valid tick WOULD dispatch (follower A has an undeployed commit), and
// must get: a message naming the file and the path inside it; exit 2, or the follower Blocked
// (or Skipped, for arming data) with that reason; and nothing written or dispatched beyond that
// follower's own recorded verdict. A corrupt stored state is left byte-for-byte as it was,
// through a full observer and closer tick.
import { TICK_METRICS_FILE } from '../../src/adapters/local/tick-log.ts';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { FollowerState } from '../../src/core/state.ts';
import { ARMING_CONFIGMAP } from '../../src/core/arming.ts';
import { STATE_CONFIGMAP_PREFIX, STATE_KEY } from '../../src/adapters/kubernetes/state-store.ts';
import { componentLabels, followerLabels } from '../../src/adapters/kubernetes/labels.ts';
import { CLI, createWorld, type World } from '../support/cli-world.ts';
import { startApiServerDouble, type ApiServerDouble } from '../support/apiserver-double.ts';

const CORPUS = join(import.meta.dirname, '..', 'fixtures', 'bad-input');
const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };
const B = { id: 'agentrun-jd01-v02', repo: 'pikasTech/agentrun', branch: 'v0.2' };
const REGISTRY = 'cicd-branch-followers.yaml';

const Command = z.object({ args: z.array(z.string()).min(1), exit: z.number().int().optional() }).strict();

/** Generated inputs too big to keep as files. */
const Generate = z.discriminatedUnion('kind', [
  /** Appends a YAML comment until the file has `bytes` bytes. */
  z.object({ kind: z.literal('pad'), file: z.string(), bytes: z.number().int().positive() }).strict(),
  /** Replaces the registry's followers with `count` generated ones (ids f0, f1, ...), each with `argv` extra arguments of `argLength` characters; written as compact JSON, which is YAML too. */
  z.object({ kind: z.literal('followers'), count: z.number().int().positive(), argv: z.number().int().min(0), argLength: z.number().int().min(4) }).strict(),
]);

const Case = z
  .object({
    description: z.string().min(10),
    area: z.enum(['registry', 'owning-config', 'state', 'arming', 'cli']),
    driver: z.enum(['local', 'kubernetes']).default('local'),
    /** Structured edits: file (relative to the config dir) -> dotted path -> value. */
    set: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    /** Keys removed: file -> dotted paths. */
    unset: z.record(z.string(), z.array(z.string())).optional(),
    generate: z.array(Generate).optional(),
    /** Symbolic links created in the config dir: link -> target (as written). */
    symlinks: z.record(z.string(), z.string()).optional(),
    /** Files written next to the config dir (outside it): name -> content. */
    outside: z.record(z.string(), z.string()).optional(),
    /** The registry path the CLI is given, relative to the config dir. */
    registry: z.string().default(REGISTRY),
    /** Kubernetes driver: raw `state.json` text of a follower's state ConfigMap. */
    k8sState: z.record(z.string(), z.string()).optional(),
    run: z.array(z.string()).min(1),
    /** Run after `run` (e.g. a full observer+closer tick): nothing may change through them either. */
    then: z.array(Command).default([]),
    expect: z
      .object({
        exit: z.number().int().optional(),
        blocked: z.string().optional(),
        skipped: z.string().optional(),
        /** Literal strings the message must contain: the file and the path inside it. */
        names: z.array(z.string()).min(1),
        message: z.string(),
        /** Strings that must appear in no output and no file of the state dir. */
        mustNotContain: z.array(z.string()).default([]),
      })
      .strict()
      .refine((e) => [e.exit !== undefined && !e.blocked && !e.skipped, !!e.blocked, !!e.skipped].filter(Boolean).length === 1, 'expect exactly one of exit, blocked or skipped'),
  })
  .strict();
type Case = z.infer<typeof Case>;

type Run = { code: number; out: string };

let world: World;
let cacheDir: string;
let scratch: string;
// One API-server double for the Kubernetes cases (each in its own namespace), started on first use.
let api: Promise<ApiServerDouble> | null = null;

const cli = (install: string, registry: string, args: readonly string[], extra: readonly string[] = []): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--registry', join(install, 'config', registry), ...extra],
      // A compile cache only makes each of the corpus's many CLI starts cheaper; it changes nothing they do.
      { cwd: install, env: { ...process.env, NO_COLOR: '1', NODE_COMPILE_CACHE: cacheDir }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: `${stdout}${stderr}` }),
    );
  });

/** Every path under `dir` (directories with a trailing slash) with the bytes of each file. */
const snapshot = async (dir: string): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isSymbolicLink()) out.set(rel, '<symlink>');
      else if (e.isDirectory()) {
        out.set(`${rel}/`, '');
        await walk(p);
      } else out.set(rel, (await readFile(p)).toString('latin1'));
    }
  };
  await walk(dir);
  return out;
};

const changedPaths = (before: Map<string, string>, after: Map<string, string>): string[] =>
  [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();

const walkSet = (doc: unknown, path: string, value: unknown, remove: boolean): void => {
  const keys = path.split('.');
  let cur = doc as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== 'object') throw new Error(`case setup: ${path}: ${k} is not a mapping`);
    cur = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] as string;
  if (remove) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = value;
};

const editFile = async (file: string, edit: (doc: unknown) => void): Promise<void> => {
  const text = await readFile(file, 'utf8');
  const json = file.endsWith('.json');
  const doc: unknown = json ? JSON.parse(text) : parse(text);
  edit(doc);
  await writeFile(file, json ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc));
};

/** Copies the healthy installation and breaks it as the case says. */
const prepare = async (name: string, c: Case): Promise<{ install: string; configDir: string }> => {
  const install = join(scratch, name);
  await cp(world.dir, install, { recursive: true, verbatimSymlinks: true });
  const configDir = join(install, 'config');
  const overlay = join(CORPUS, name, 'files');
  if (await stat(overlay).catch(() => null)) {
    for (const rel of (await readdir(overlay, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(overlay, join(e.parentPath, e.name)))) {
      const text = (await readFile(join(overlay, rel), 'utf8')).replaceAll('__READ_URL__', world.readUrl);
      await mkdir(dirname(join(configDir, rel)), { recursive: true });
      await writeFile(join(configDir, rel), text);
    }
  }
  for (const [file, edits] of Object.entries(c.set ?? {})) await editFile(join(configDir, file), (doc) => Object.entries(edits).forEach(([p, v]) => walkSet(doc, p, v, false)));
  for (const [file, paths] of Object.entries(c.unset ?? {})) await editFile(join(configDir, file), (doc) => paths.forEach((p) => walkSet(doc, p, undefined, true)));
  for (const [file, content] of Object.entries(c.outside ?? {})) {
    await mkdir(dirname(join(install, file)), { recursive: true });
    await writeFile(join(install, file), content);
  }
  for (const [link, target] of Object.entries(c.symlinks ?? {})) await symlink(target, join(configDir, link));
  for (const g of c.generate ?? []) {
    if (g.kind === 'pad') {
      const file = join(configDir, g.file);
      const text = await readFile(file, 'utf8');
      const line = `# ${'x'.repeat(78)}\n`;
      await writeFile(file, text + line.repeat(Math.ceil(Math.max(0, g.bytes - text.length) / line.length)));
    } else {
      const file = join(configDir, REGISTRY);
      const reg = parse(await readFile(file, 'utf8')) as { followers: unknown[] };
      const args = Array.from({ length: g.argv }, (_, i) => `${String(i).padStart(4, '0')}${'a'.repeat(g.argLength - 4)}`);
      reg.followers = Array.from({ length: g.count }, (_, i) => ({
        id: `f${i}`,
        adapter: 'generic',
        source: { configRef: 'lanes.yaml#s' },
        target: { configRef: 'lanes.yaml#t' },
        command: ['./deploy.sh', ...args],
        checks: ['trigger'],
      }));
      await writeFile(file, JSON.stringify(reg));
    }
  }
  return { install, configDir };
};

const readState = async (configDir: string, id: string): Promise<FollowerState> =>
  FollowerState.parse((JSON.parse(await readFile(join(configDir, 'state', 'state', `${id}.json`), 'utf8')) as { state: unknown }).state);

const checkMessage = (c: Case, text: string, what: string): void => {
  for (const n of c.expect.names) expect(text, `${what} names ${JSON.stringify(n)}`).toContain(n);
  expect(text, what).toMatch(new RegExp(c.expect.message));
};

const checkNoSecrets = (c: Case, outputs: string[], after: Map<string, string>): void => {
  for (const s of c.expect.mustNotContain) {
    for (const o of outputs) expect(o.includes(s), `output contains ${s}`).toBe(false);
    for (const [path, bytes] of after) if (path.startsWith('state')) expect(bytes.includes(s), `${path} contains ${s}`).toBe(false);
  }
};

const runLocal = async (name: string, c: Case): Promise<void> => {
  const { install, configDir } = await prepare(name, c);
  const before = await snapshot(configDir);
  const first = await cli(install, c.registry, c.run);
  const outputs = [first.out];
  if (c.expect.exit !== undefined) {
    expect(first.code, `exit code; output:\n${first.out}`).toBe(c.expect.exit);
    checkMessage(c, first.out, 'the message');
  } else expect(first.code, `exit code; output:\n${first.out}`).not.toBe(2);
  for (const t of c.then) {
    const r = await cli(install, c.registry, t.args);
    outputs.push(r.out);
    if (t.exit !== undefined) expect(r.code, `${t.args.join(' ')}; output:\n${r.out}`).toBe(t.exit);
  }
  const after = await snapshot(configDir);
  const changed = changedPaths(before, after);
  const who = c.expect.blocked ?? c.expect.skipped;
  if (who) {
    // Only the follower's own verdict (its state and its events) may be recorded. A bystander's
    // state may be rewritten with a fresher reason (a mirror read that timed out on a loaded
    // machine), but never into another phase, and nothing of it is dispatched.
    // The tick's own record of itself (tick metrics) is not state: it counts every tick, once.
    const allowed = new Set([`state/state/${who}.json`, `state/events/${who}.jsonl`, `state/${TICK_METRICS_FILE}`]);
    const others = changed.filter((p) => !allowed.has(p));
    for (const p of others) {
      const m = /^state\/state\/([a-z0-9-]+)\.json$/.exec(p);
      expect(m, `written besides the verdict: ${p}`).not.toBeNull();
      const was = FollowerState.parse((JSON.parse(before.get(p) ?? '{}') as { state: unknown }).state);
      const now = await readState(configDir, m?.[1] ?? '');
      expect({ id: now.id, phase: now.phase, pending: now.pending, inFlight: now.inFlight }, `bystander ${now.id}: ${now.reason}`).toEqual({ id: was.id, phase: was.phase, pending: null, inFlight: null });
    }
    const state = await readState(configDir, who);
    expect(state.phase).toBe(c.expect.blocked ? 'Blocked' : 'Skipped');
    checkMessage(c, state.reason, `the ${state.phase} reason`);
    expect(first.out, 'the tick reports the reason').toContain(state.reason.slice(0, 60));
    expect(state.pending).toBeNull();
    expect(state.inFlight).toBeNull();
  } else {
    expect(changed, 'nothing written').toEqual([]);
  }
  expect(after.has('invocations.log'), 'nothing dispatched').toBe(false);
  expect([...after.keys()].some((p) => p.startsWith('state/runs')), 'no run directory').toBe(false);
  checkNoSecrets(c, outputs, after);
};

/** The state ConfigMaps and arming ConfigMap of the healthy install, in a namespace of the double. */
const seedCluster = async (double: ApiServerDouble, namespace: string, configDir: string, overrides: Record<string, string>): Promise<void> => {
  double.createNamespace(namespace);
  for (const id of [A.id, B.id]) {
    const stored = JSON.parse(await readFile(join(configDir, 'state', 'state', `${id}.json`), 'utf8')) as { state: unknown };
    double.store.put('configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${STATE_CONFIGMAP_PREFIX}${id}`, namespace, labels: followerLabels('state', id) },
      data: { [STATE_KEY]: overrides[id] ?? `${JSON.stringify(stored.state, null, 1)}\n` },
    });
  }
  const arming = JSON.parse(await readFile(join(configDir, 'state', 'arming.json'), 'utf8')) as { data: Record<string, string> };
  double.store.put('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ARMING_CONFIGMAP, namespace, labels: componentLabels('arming') }, data: arming.data });
};

const runKubernetes = async (name: string, c: Case): Promise<void> => {
  api ??= startApiServerDouble();
  const double = await api;
  const { install, configDir } = await prepare(name, c);
  const namespace = `bad-${name}`.slice(0, 63).replace(/-+$/, '');
  await seedCluster(double, namespace, configDir, c.k8sState ?? {});
  const cms = () => double.store.list('configmaps', namespace).map((o) => JSON.stringify(o)).sort();
  const before = cms();
  const flags = ['--driver', 'kubernetes', '--kubeconfig', double.kubeconfigPath, '-n', namespace];
  const first = await cli(install, c.registry, c.run, flags);
  expect(first.code, `exit code; output:\n${first.out}`).toBe(c.expect.exit);
  checkMessage(c, first.out.replaceAll(namespace, '<ns>'), 'the message');
  for (const t of c.then) {
    const r = await cli(install, c.registry, t.args, flags);
    if (t.exit !== undefined) expect(r.code, `${t.args.join(' ')}; output:\n${r.out}`).toBe(t.exit);
  }
  // Byte-for-byte, resourceVersion included: nothing was rewritten, not even with the same data.
  expect(cms()).toEqual(before);
  expect(double.requests.all({ namespace }).filter((r) => r.method !== 'GET').map((r) => `${r.verb} ${r.resource}/${r.name ?? ''}`)).toEqual([]);
  expect(double.store.list('jobs', namespace)).toEqual([]);
};

const caseNames = (await readdir(CORPUS, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
const cases = await Promise.all(
  caseNames.map(async (name) => ({ name, c: Case.parse(parse(await readFile(join(CORPUS, name, 'case.yaml'), 'utf8'))) })),
);

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'bf-bad-cc-'));
  // The healthy installation every case breaks: A and B at their deployed sha, both armed, and a
  // new commit on A that a valid tick would dispatch at once.
  world = await createWorld([A, B]);
  await world.setTarget(A.id, await world.git.commit(A.repo, A.branch));
  await world.setTarget(B.id, await world.git.commit(B.repo, B.branch));
  await world.armAll();
  const tick = await world.cli(['tick', 'observer']);
  if (tick.code !== 0) throw new Error(tick.stderr);
  await world.git.commit(A.repo, A.branch);
  scratch = join(world.git.root, 'cases');
  await mkdir(scratch);
}, 120_000);

afterAll(async () => {
  try {
    if (api) await (await api).close();
    await world?.cleanup();
  } finally {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

describe('the bad-input corpus', () => {
  it('has at least 30 cases across every area', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const areas = new Set(cases.map(({ c }) => c.area));
    expect([...areas].sort()).toEqual(['arming', 'cli', 'owning-config', 'registry', 'state']);
    const by = Object.fromEntries([...areas].sort().map((a) => [a, cases.filter(({ c }) => c.area === a).length]));
    console.log(`bad-input corpus: ${cases.length} cases ${JSON.stringify(by)}, ${cases.filter(({ c }) => c.driver === 'kubernetes').length} on the Kubernetes driver`);
  });

  it('the healthy installation the cases break would dispatch A on the next tick', async () => {
    const install = join(scratch, '_healthy');
    await cp(world.dir, install, { recursive: true });
    const r = await cli(install, REGISTRY, ['run-once', '--all', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`${A.id}\\s+PendingTrigger\\s+dispatch bf-${A.id}`));
  });

  describe.concurrent('each case: named file and path; exit 2 or a verdict; nothing else written or dispatched', () => {
    for (const { name, c } of cases) {
      it(`${name}: ${c.description}`, async () => {
        if (c.driver === 'kubernetes') await runKubernetes(name, c);
        else await runLocal(name, c);
      });
    }
  });
});
