import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { BadInputError } from '../../src/adapters/config/input-error.ts';
import { createOwningConfigs } from '../../src/adapters/config/owning-configs.ts';
import { loadRegistry } from '../../src/adapters/config/registry-file.ts';
import type { Resolution } from '../../src/adapters/followers/adapter.ts';
import { resolveFollowers } from '../../src/adapters/followers/resolve.ts';
import type { ResolvedFollowerSpec } from '../../src/core/target-spec.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(ROOT, 'config');
const REGISTRY = 'cicd-branch-followers.yaml';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'bf-registry-config-'));
  temps.push(d);
  return d;
};

/** A private copy of the shipped config/ to break one file in. */
const copyConfig = async (): Promise<string> => {
  const d = await tempDir();
  await cp(CONFIG, join(d, 'config'), { recursive: true });
  return join(d, 'config');
};

const editYaml = async (file: string, edit: (doc: ReturnType<typeof parseDocument>) => void): Promise<void> => {
  const doc = parseDocument(await readFile(file, 'utf8'));
  edit(doc);
  await writeFile(file, String(doc));
};

const resolveDir = async (dir: string): Promise<Map<string, Resolution>> => {
  const loaded = await loadRegistry(join(dir, REGISTRY));
  return resolveFollowers(loaded.registry, createOwningConfigs(loaded.dir));
};

const specOf = (r: Resolution | undefined): ResolvedFollowerSpec => {
  if (!r) throw new Error('follower not resolved at all');
  if (!r.ok) throw new Error(`${r.side}: ${r.message}`);
  return r.spec;
};

const failureOf = (r: Resolution | undefined): { side: string; message: string } => {
  if (!r) throw new Error('follower not resolved at all');
  if (r.ok) throw new Error(`expected a failure, got ${r.spec.summary}`);
  return { side: r.side, message: r.message };
};

const badInput = async (p: Promise<unknown>): Promise<BadInputError> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof BadInputError) return e;
    throw e;
  }
  throw new Error('expected BadInputError');
};

const EXPECTED: Record<string, ResolvedFollowerSpec> = {
  'hwlab-jd01-v03': {
    source: { repo: 'pikasTech/HWLAB', branch: 'v0.3' },
    target: { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'hwlab-v03', name: 'hwlab-control-plane', annotation: 'hwlab.dev/source-sha' },
    pipeline: { namespace: 'hwlab-ci', labels: { 'hwlab.dev/node': 'JD01', 'hwlab.dev/lane': 'v03' }, shaLabel: 'hwlab.dev/source-sha' },
    summary: 'pikasTech/HWLAB@v0.3 -> Deployment hwlab-v03/hwlab-control-plane annotation hwlab.dev/source-sha (hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime)',
    runner: {
      image: 'registry.jd01.internal/hwlab/hwlab-cli:v0.3',
      serviceAccountName: 'hwlab-deployer',
      env: { HWLAB_CONTROL_PLANE_TOKEN: { secretRef: { name: 'hwlab-control-plane-api', key: 'token' } } },
    },
  },
  'agentrun-jd01-v02': {
    source: { repo: 'pikasTech/agentrun', branch: 'v0.2' },
    target: { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'agentrun-jd01', name: 'agentrun', annotation: 'agentrun.dev/source-sha' },
    pipeline: { namespace: 'agentrun-ci', labels: { 'agentrun.dev/node': 'JD01', 'agentrun.dev/lane': 'jd01-v02' }, shaLabel: 'agentrun.dev/source-sha' },
    summary: 'pikasTech/agentrun@v0.2 -> StatefulSet agentrun-jd01/agentrun annotation agentrun.dev/source-sha (agentrun.yaml#lanes.jd01-v02.runtime)',
    runner: { image: 'registry.jd01.internal/agentrun/agentrun-cli:v0.2', serviceAccountName: 'agentrun-deployer', env: { AGENTRUN_NODE: { value: 'JD01' } } },
  },
  'web-probe-sentinel-master': {
    source: { repo: 'pikasTech/unidesk', branch: 'master' },
    target: {
      reader: 'k8s-annotation',
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      namespace: 'hwlab-v03',
      name: 'jd01-web-probe-sentinel',
      annotation: 'web-probe.hwlab.dev/published-sha',
    },
    pipeline: {
      namespace: 'hwlab-ci',
      labels: { 'web-probe.hwlab.dev/sentinel': 'jd01-web-probe-sentinel', 'hwlab.dev/node': 'JD01' },
      shaLabel: 'web-probe.hwlab.dev/source-sha',
    },
    summary:
      'pikasTech/unidesk@master -> CronJob hwlab-v03/jd01-web-probe-sentinel annotation web-probe.hwlab.dev/published-sha (hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.runtime)',
    runner: {
      image: 'registry.jd01.internal/hwlab/web-probe-cli:master',
      serviceAccountName: 'web-probe-publisher',
      env: { WEB_PROBE_REGISTRY_AUTH: { secretRef: { name: 'hwlab-registry-pull', key: '.dockerconfigjson' } } },
    },
  },
};

describe('the shipped registry', () => {
  it('parses with the controller settings of the design', async () => {
    const { registry, dir } = await loadRegistry(join('config', REGISTRY), ROOT);
    expect(dir).toBe(CONFIG);
    expect(registry.controller).toMatchObject({
      namespace: 'branch-follower',
      driver: 'kubernetes',
      gitMirror: { readUrl: 'http://git-mirror.git-mirror.svc.cluster.local/git' },
      source: { repo: 'pikasTech/unidesk', ref: 'master' },
      schedules: { observer: '* * * * *', closer: '* * * * *' },
      defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
      local: { stateDir: '.branch-follower' },
      notify: { webhookUrlEnv: 'BRANCH_FOLLOWER_WEBHOOK_URL' },
    });
  });

  it('registers the three first followers with their adapters, refs and exact trigger argv', async () => {
    const { registry } = await loadRegistry(join('config', REGISTRY), ROOT);
    const byId = new Map(registry.followers.map((f) => [f.id, f]));
    expect([...byId.keys()]).toEqual(['hwlab-jd01-v03', 'agentrun-jd01-v02', 'web-probe-sentinel-master']);
    const argv = (s: string): string[] => s.split(' ');
    expect(byId.get('hwlab-jd01-v03')).toMatchObject({
      adapter: 'hwlab-node-runtime',
      source: { configRef: 'hwlab-node-lanes.yaml#lanes.v03.source' },
      target: { configRef: 'hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime' },
      command: argv('hwlab nodes control-plane trigger-current --node JD01 --lane v03 --confirm --wait'),
      budgets: { closeoutSeconds: 2400 },
    });
    expect(byId.get('agentrun-jd01-v02')).toMatchObject({
      adapter: 'agentrun-yaml-lane',
      source: { configRef: 'agentrun.yaml#lanes.jd01-v02.source' },
      target: { configRef: 'agentrun.yaml#lanes.jd01-v02.runtime' },
      command: argv('agentrun control-plane trigger-current --node JD01 --lane jd01-v02 --confirm --wait'),
    });
    expect(byId.get('web-probe-sentinel-master')).toMatchObject({
      adapter: 'web-probe-sentinel-cicd',
      source: { configRef: 'hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.source' },
      target: { configRef: 'hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.runtime' },
      command: argv('web-probe sentinel publish-current --node JD01 --lane v03 --sentinel jd01-web-probe-sentinel --confirm --wait'),
    });
    for (const f of registry.followers) {
      expect(f.checks).toEqual(['trigger', 'pipeline', 'target']);
      expect(f.onSupersede).toBe('wait');
    }
  });

  it('resolves all three through their own adapters to the expected source, target, pipeline and summary', async () => {
    const resolved = await resolveDir(CONFIG);
    expect(resolved.size).toBe(3);
    for (const [id, expected] of Object.entries(EXPECTED)) expect(specOf(resolved.get(id))).toEqual(expected);
  });

  it('copies no owning-config detail: no secret name, namespace, workload or label of a target appears in it', async () => {
    const text = await readFile(join(CONFIG, REGISTRY), 'utf8');
    const raw = parse(text) as { followers: Record<string, unknown>[] };
    // Strings the registry itself holds, argv aside: the argv names the node, lane and sentinel on purpose.
    const registryStrings = new Set<string>();
    const walk = (v: unknown, into: (s: string) => void): void => {
      if (typeof v === 'string') into(v);
      else if (Array.isArray(v)) v.forEach((x) => walk(x, into));
      else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => (into(k), walk(x, into)));
    };
    walk({ ...raw, followers: raw.followers.map(({ command: _argv, ...rest }) => rest) }, (s) => registryStrings.add(s));

    const owned = new Set<string>();
    const secretNames = new Set<string>();
    const collectSecrets = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(collectSecrets);
      else if (v && typeof v === 'object') {
        const ref = (v as { secretRef?: { name?: unknown } }).secretRef;
        if (ref && typeof ref.name === 'string') secretNames.add(ref.name);
        Object.values(v).forEach(collectSecrets);
      }
    };
    const owningFiles = (await readdir(CONFIG, { recursive: true })).filter((f) => f.endsWith('.yaml') && f !== REGISTRY);
    expect(owningFiles.length).toBeGreaterThanOrEqual(5);
    for (const f of owningFiles) collectSecrets(parse(await readFile(join(CONFIG, f), 'utf8')));
    const resolved = await resolveDir(CONFIG);
    for (const r of resolved.values()) {
      const spec = specOf(r);
      if (spec.target.reader !== 'k8s-annotation') throw new Error('seed targets read an annotation');
      for (const s of [spec.target.namespace, spec.target.annotation, spec.pipeline?.namespace, spec.pipeline?.shaLabel, ...Object.keys(spec.pipeline?.labels ?? {})]) {
        if (s) owned.add(s);
      }
    }
    expect(secretNames.size).toBeGreaterThanOrEqual(4);
    expect([...owned].filter((s) => registryStrings.has(s))).toEqual([]);
    // Not even in a comment.
    expect([...secretNames].filter((s) => text.includes(s))).toEqual([]);
  });

  it('ships no generated "full" index of the configs', async () => {
    const configFiles = await readdir(CONFIG, { recursive: true, withFileTypes: true });
    const files = configFiles.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    expect(files.length).toBeGreaterThan(0);
    // config/ holds YAML and nothing else: no Markdown rendering of it.
    expect(files.filter((f) => !f.endsWith('.yaml'))).toEqual([]);
    const docs = await readdir(join(ROOT, 'docs'), { recursive: true, withFileTypes: true }).catch(() => []);
    const indexLike = [...configFiles, ...docs].filter((e) => e.isFile() && /^(full|index|super)([-_.].*)?\.(md|markdown)$/i.test(e.name));
    expect(indexLike.map((e) => e.name)).toEqual([]);
  });
});

describe('YAML ownership: owning-config keys in the registry are errors naming the owning config', () => {
  const withFollowerKey = async (index: number, key: string, value: unknown, at: string[] = []): Promise<BadInputError> => {
    const dir = await copyConfig();
    await editYaml(join(dir, REGISTRY), (doc) => doc.setIn(['followers', index, ...at, key], value));
    return badInput(loadRegistry(join(dir, REGISTRY)));
  };

  it.each([
    [0, 'namespace', 'hwlab-v03', 'config/hwlab-node-lanes.yaml'],
    [0, 'secretRef', { name: 'hwlab-registry-pull', key: 'token' }, 'config/hwlab-node-lanes.yaml'],
    [1, 'secretRef', { name: 'agentrun-model-api', key: 'api-key' }, 'config/agentrun.yaml'],
    [1, 'workload', { kind: 'StatefulSet', name: 'agentrun' }, 'config/agentrun.yaml'],
    [2, 'gitops', { repo: 'a/b' }, 'config/hwlab-web-probe-sentinel/*.yaml'],
  ] as const)('follower %i with %s names %s', async (index, key, value, owner) => {
    const err = await withFollowerKey(index, key, value);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.path).toBe(`followers[${index}].${key}`);
    expect(err.problems[0]?.message).toContain(`unknown key "${key}"`);
    expect(err.problems[0]?.message).toContain(owner);
    expect(err.message).toContain(REGISTRY);
  });

  it('a source detail pasted beside the configRef is refused the same way', async () => {
    const err = await withFollowerKey(0, 'branch', 'v0.3', ['source']);
    expect(err.problems.map((p) => p.path)).toEqual(['followers[0].source.branch']);
    expect(err.problems[0]?.message).toContain('config/hwlab-node-lanes.yaml');
  });

  it('a key that is merely unknown gets no ownership hint', async () => {
    const err = await withFollowerKey(2, 'colour', 'blue');
    expect(err.problems[0]?.message).toBe('unknown key "colour"');
  });
});

describe('owning-config failures stay with their follower', () => {
  it('a missing owning file blocks only the follower that points into it', async () => {
    const dir = await copyConfig();
    await rm(join(dir, 'agentrun.yaml'));
    const resolved = await resolveDir(dir);
    expect(failureOf(resolved.get('agentrun-jd01-v02'))).toEqual({ side: 'source', message: 'agentrun.yaml#lanes.jd01-v02.source: file not found' });
    expect(specOf(resolved.get('hwlab-jd01-v03'))).toEqual(EXPECTED['hwlab-jd01-v03']);
    expect(specOf(resolved.get('web-probe-sentinel-master'))).toEqual(EXPECTED['web-probe-sentinel-master']);
  });

  it('a missing key names the file and how far the path got', async () => {
    const dir = await copyConfig();
    await editYaml(join(dir, 'hwlab-node-lanes.yaml'), (doc) => doc.deleteIn(['nodes', 'JD01', 'lanes', 'v03']));
    const resolved = await resolveDir(dir);
    expect(failureOf(resolved.get('hwlab-jd01-v03'))).toEqual({ side: 'target', message: 'hwlab-node-lanes.yaml#nodes.JD01.lanes.v03: key not found' });
    expect(specOf(resolved.get('agentrun-jd01-v02'))).toEqual(EXPECTED['agentrun-jd01-v02']);
    expect(specOf(resolved.get('web-probe-sentinel-master'))).toEqual(EXPECTED['web-probe-sentinel-master']);
  });

  it('a section of the wrong shape names the configRef and the path inside it', async () => {
    const dir = await copyConfig();
    const sentinels = join(dir, 'hwlab-web-probe-sentinel', 'sentinels.yaml');
    await editYaml(sentinels, (doc) => doc.setIn(['sentinels', 'jd01-web-probe-sentinel', 'runtime', 'workload', 'kind'], 'StatefulSet'));
    let resolved = await resolveDir(dir);
    const f = failureOf(resolved.get('web-probe-sentinel-master'));
    expect(f.side).toBe('target');
    expect(f.message.startsWith('hwlab-web-probe-sentinel/sentinels.yaml#sentinels.jd01-web-probe-sentinel.runtime.workload.kind: ')).toBe(true);
    expect(specOf(resolved.get('hwlab-jd01-v03'))).toEqual(EXPECTED['hwlab-jd01-v03']);
    expect(specOf(resolved.get('agentrun-jd01-v02'))).toEqual(EXPECTED['agentrun-jd01-v02']);

    // A source that is a string instead of {repo, branch}.
    await cp(join(CONFIG, 'hwlab-web-probe-sentinel', 'sentinels.yaml'), sentinels);
    await editYaml(join(dir, 'hwlab-node-lanes.yaml'), (doc) => doc.setIn(['lanes', 'v03', 'source'], 'pikasTech/HWLAB@v0.3'));
    resolved = await resolveDir(dir);
    const g = failureOf(resolved.get('hwlab-jd01-v03'));
    expect(g.side).toBe('source');
    expect(g.message.startsWith('hwlab-node-lanes.yaml#lanes.v03.source: ')).toBe(true);
    expect(specOf(resolved.get('web-probe-sentinel-master'))).toEqual(EXPECTED['web-probe-sentinel-master']);
  });

  it('a secret value in an owning config is refused without echoing it', async () => {
    const dir = await copyConfig();
    await editYaml(join(dir, 'agentrun.yaml'), (doc) =>
      doc.setIn(['lanes', 'jd01-v02', 'runtime', 'secrets', 'modelApiKey', 'secretRef', 'value'], 'sk-live-0123456789'),
    );
    const f = failureOf((await resolveDir(dir)).get('agentrun-jd01-v02'));
    expect(f.message).toBe('agentrun.yaml#lanes.jd01-v02.runtime.secrets.modelApiKey.secretRef: unknown key(s) value');
  });

  it('a YAML syntax error names the file and line, and blocks only its followers', async () => {
    const dir = await copyConfig();
    await writeFile(join(dir, 'agentrun.yaml'), 'lanes:\n  jd01-v02:\n    source: { repo: pikasTech/agentrun\n');
    const resolved = await resolveDir(dir);
    expect(failureOf(resolved.get('agentrun-jd01-v02')).message).toMatch(/^agentrun\.yaml#lanes\.jd01-v02\.source: line \d+, column \d+: /);
    expect(specOf(resolved.get('hwlab-jd01-v03'))).toEqual(EXPECTED['hwlab-jd01-v03']);
  });

  it('owning configs are found relative to the registry, not the working directory', async () => {
    const dir = await copyConfig();
    const moved = join(dir, '..', 'elsewhere');
    await rename(dir, moved);
    const loaded = await loadRegistry(REGISTRY, moved);
    const resolved = await resolveFollowers(loaded.registry, createOwningConfigs(loaded.dir));
    for (const [id, expected] of Object.entries(EXPECTED)) expect(specOf(resolved.get(id))).toEqual(expected);
  });
});

describe('configRefs stay inside the config directory', () => {
  it('the registry refuses a configRef that climbs out', async () => {
    const dir = await copyConfig();
    await editYaml(join(dir, REGISTRY), (doc) => doc.setIn(['followers', 1, 'target', 'configRef'], '../x.yaml#a'));
    const err = await badInput(loadRegistry(join(dir, REGISTRY)));
    expect(err.problems.map((p) => p.path)).toEqual(['followers[1].target.configRef']);
    expect(err.problems[0]?.message).toContain('inside the config directory');
  });

  it.each(['/etc/x.yaml#a', './agentrun.yaml#lanes', 'hwlab-web-probe-sentinel/../agentrun.yaml#lanes'])('the registry refuses %s', async (ref) => {
    const dir = await copyConfig();
    await editYaml(join(dir, REGISTRY), (doc) => doc.setIn(['followers', 0, 'source', 'configRef'], ref));
    const err = await badInput(loadRegistry(join(dir, REGISTRY)));
    expect(err.problems.map((p) => p.path)).toEqual(['followers[0].source.configRef']);
  });

  it('the owning-config reader refuses a relative path out, even to a file that exists', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'config'));
    await writeFile(join(root, 'x.yaml'), 'a: { repo: o/r, branch: main }\n');
    await writeFile(join(root, 'config', 'inside.yaml'), 'a: 1\n');
    const configs = createOwningConfigs(join(root, 'config'));
    expect(await configs.resolve('inside.yaml#a')).toEqual({ ok: true, value: 1 });
    expect(await configs.resolve('../x.yaml#a')).toEqual({ ok: false, reason: '../x.yaml#a: resolves outside the config directory' });
  });

  it('a symlink leading out of the config directory is refused; one staying inside is followed', async () => {
    const root = await tempDir();
    const config = join(root, 'config');
    await mkdir(join(config, 'sub'), { recursive: true });
    await mkdir(join(root, 'outside'));
    await writeFile(join(root, 'outside', 'secret.yaml'), 'a: stolen\n');
    await writeFile(join(config, 'sub', 'real.yaml'), 'a: kept\n');
    await symlink(join(root, 'outside', 'secret.yaml'), join(config, 'file-link.yaml'));
    await symlink(join(root, 'outside'), join(config, 'dir-link'));
    await symlink(join('sub', 'real.yaml'), join(config, 'inner-link.yaml'));
    const configs = createOwningConfigs(config);
    expect(await configs.resolve('file-link.yaml#a')).toEqual({ ok: false, reason: 'file-link.yaml#a: resolves outside the config directory' });
    expect(await configs.resolve('dir-link/secret.yaml#a')).toEqual({ ok: false, reason: 'dir-link/secret.yaml#a: resolves outside the config directory' });
    expect(await configs.resolve('inner-link.yaml#a')).toEqual({ ok: true, value: 'kept' });
  });

  it('a registry whose owning config is a symlink out blocks that follower only', async () => {
    const dir = await copyConfig();
    const outside = join(dir, '..', 'outside-agentrun.yaml');
    await cp(join(dir, 'agentrun.yaml'), outside);
    await rm(join(dir, 'agentrun.yaml'));
    await symlink(outside, join(dir, 'agentrun.yaml'));
    const resolved = await resolveDir(dir);
    expect(failureOf(resolved.get('agentrun-jd01-v02'))).toEqual({ side: 'source', message: 'agentrun.yaml#lanes.jd01-v02.source: resolves outside the config directory' });
    expect(specOf(resolved.get('hwlab-jd01-v03'))).toEqual(EXPECTED['hwlab-jd01-v03']);
  });
});
