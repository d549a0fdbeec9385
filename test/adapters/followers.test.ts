import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Controller, Follower, type AdapterKind } from '../../src/core/registry.ts';
import { TargetSpec } from '../../src/core/target-spec.ts';
import type { FollowerAdapter, Resolution, SectionInput } from '../../src/adapters/followers/adapter.ts';
import { agentrunYamlLaneAdapter } from '../../src/adapters/followers/agentrun-yaml-lane.ts';
import { hwlabNodeRuntimeAdapter } from '../../src/adapters/followers/hwlab-node-runtime.ts';
import { ADAPTER_REGISTRY } from '../../src/adapters/followers/resolve.ts';
import { seedAdapters } from '../../src/adapters/followers/seeds.ts';
import { webProbeSentinelCicdAdapter } from '../../src/adapters/followers/web-probe-sentinel-cicd.ts';

const controller = Controller.parse({
  namespace: 'branch-follower',
  driver: 'kubernetes',
  gitMirror: { readUrl: 'http://git-mirror.example/git' },
  source: { repo: 'pikasTech/unidesk', ref: 'master' },
  schedules: { observer: '* * * * *', closer: '* * * * *' },
  defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
});

type Seed = Exclude<AdapterKind, 'generic'>;

/** A valid target section per seed adapter, in the shape its owning config uses. */
const validTarget = (adapter: Seed): Record<string, unknown> => {
  const base = {
    namespace: 'ns-a',
    shaAnnotation: 'example.dev/source-sha',
    pipelineRun: { namespace: 'ci', labels: { 'example.dev/lane': 'v1' }, shaLabel: 'example.dev/source-sha' },
    secrets: { registryPull: { secretRef: { name: 'pull-secret', key: '.dockerconfigjson' } } },
  };
  switch (adapter) {
    case 'hwlab-node-runtime':
      return { ...base, workload: { kind: 'Deployment', name: 'cp' }, gitops: { repo: 'o/gitops', branch: 'main', path: 'nodes/A/v1' } };
    case 'agentrun-yaml-lane':
      return { ...base, workload: { kind: 'StatefulSet', name: 'agentrun' }, image: { repository: 'registry.local/agentrun/agentrun' } };
    case 'web-probe-sentinel-cicd':
      return { ...base, workload: { kind: 'CronJob', name: 'sentinel' }, schedule: '*/5 * * * *' };
  }
};

const SEEDS: Seed[] = ['hwlab-node-runtime', 'agentrun-yaml-lane', 'web-probe-sentinel-cicd'];
const TARGET_REF = 'owner.yaml#a.b.runtime';
const SOURCE_REF = 'owner.yaml#a.source';

const input = (adapter: Seed, target: unknown, opts: { checks?: string[]; source?: unknown } = {}): SectionInput => ({
  follower: Follower.parse({
    id: 'f1',
    adapter,
    source: { configRef: SOURCE_REF },
    target: { configRef: TARGET_REF },
    command: ['deploy'],
    checks: opts.checks ?? ['trigger', 'pipeline', 'target'],
  }),
  controller,
  source: { ref: SOURCE_REF, value: opts.source ?? { repo: 'o/r', branch: 'main' } },
  target: { ref: TARGET_REF, value: target },
});

const resolveWith = (adapter: Seed, target: unknown, opts?: { checks?: string[]; source?: unknown }): Resolution =>
  seedAdapters[adapter].resolve(input(adapter, target, opts));

const failure = (r: Resolution): { side: string; message: string } => {
  if (r.ok) throw new Error(`expected a failed resolution, got ${JSON.stringify(r.spec)}`);
  return { side: r.side, message: r.message };
};

const withPath = (obj: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> => {
  const copy = structuredClone(obj);
  let cur: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return copy;
};

describe('seed adapter wiring', () => {
  it('the resolver uses the seed modules, not the generic adapter', () => {
    const expected: Record<Seed, FollowerAdapter> = {
      'hwlab-node-runtime': hwlabNodeRuntimeAdapter,
      'agentrun-yaml-lane': agentrunYamlLaneAdapter,
      'web-probe-sentinel-cicd': webProbeSentinelCicdAdapter,
    };
    for (const seed of SEEDS) {
      expect(seedAdapters[seed]).toBe(expected[seed]);
      expect(ADAPTER_REGISTRY[seed]).toBe(expected[seed]);
      expect(ADAPTER_REGISTRY[seed]).not.toBe(ADAPTER_REGISTRY.generic);
    }
  });
});

describe.each(SEEDS)('%s', (adapter) => {
  it('resolves its own section shape to a k8s-annotation target, the PipelineRun labels and a summary', () => {
    const r = resolveWith(adapter, validTarget(adapter));
    if (!r.ok) throw new Error(r.message);
    const t = validTarget(adapter) as { workload: { kind: string; name: string } };
    expect(r.spec.source).toEqual({ repo: 'o/r', branch: 'main' });
    expect(r.spec.target).toEqual({
      reader: 'k8s-annotation',
      apiVersion: t.workload.kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
      kind: t.workload.kind,
      namespace: 'ns-a',
      name: t.workload.name,
      annotation: 'example.dev/source-sha',
    });
    expect(r.spec.pipeline).toEqual({ namespace: 'ci', labels: { 'example.dev/lane': 'v1' }, shaLabel: 'example.dev/source-sha' });
    expect(r.spec.summary).toBe(`o/r@main -> ${t.workload.kind} ns-a/${t.workload.name} annotation example.dev/source-sha (${TARGET_REF})`);
  });

  it('rejects the generic adapter\'s target-reader shape, naming the configRef', () => {
    const generic = { reader: 'k8s-annotation', apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'a', name: 'b', annotation: 'c' };
    const f = failure(resolveWith(adapter, generic));
    expect(f.side).toBe('target');
    // section() prefers unknown keys: they say a generic section was pasted where it does not belong.
    expect(f.message).toBe(`${TARGET_REF}: unknown key(s) reader, apiVersion, kind, name, annotation`);
    const complete = { ...validTarget(adapter), reader: 'k8s-annotation', annotation: 'c' };
    expect(failure(resolveWith(adapter, complete)).message).toBe(`${TARGET_REF}: unknown key(s) reader, annotation`);
  });

  it('rejects an unknown key anywhere in the target section, naming the path', () => {
    const f = failure(resolveWith(adapter, { ...validTarget(adapter), replicas: 3 }));
    expect(f).toEqual({ side: 'target', message: `${TARGET_REF}: unknown key(s) replicas` });
    const g = failure(resolveWith(adapter, withPath(validTarget(adapter), ['workload', 'apiVersion'], 'apps/v1')));
    expect(g.message).toBe(`${TARGET_REF}.workload: unknown key(s) apiVersion`);
  });

  it('holds secrets by reference only: a value next to a secretRef is an error', () => {
    for (const key of ['value', 'data', 'stringData']) {
      const t = withPath(validTarget(adapter), ['secrets', 'registryPull', 'secretRef', key], 'hunter2');
      const f = failure(resolveWith(adapter, t));
      expect(f.message).toBe(`${TARGET_REF}.secrets.registryPull.secretRef: unknown key(s) ${key}`);
      expect(f.message).not.toContain('hunter2');
    }
    const inline = failure(resolveWith(adapter, withPath(validTarget(adapter), ['secrets', 'registryPull'], { value: 'x' })));
    expect(inline.message).toContain(`${TARGET_REF}.secrets.registryPull`);
  });

  it('takes the runner from the owning config: image, ServiceAccount, env from Secrets by reference only', () => {
    const runner = { image: 'registry.local/cli:1', serviceAccountName: 'deployer', env: { API_TOKEN: { secretRef: { name: 'api', key: 'token' } }, MODE: { value: 'ci' } } };
    for (const adapter of SEEDS) {
      const r = resolveWith(adapter, { ...validTarget(adapter), runner });
      expect(r.ok && r.spec.runner).toEqual(runner);
      expect(resolveWith(adapter, validTarget(adapter)).ok && 'runner' in (resolveWith(adapter, validTarget(adapter)) as { spec: object }).spec).toBe(false);
      // A Secret's value is never a runner field, and the dispatch's own variables are not the config's to set.
      const leaked = failure(resolveWith(adapter, { ...validTarget(adapter), runner: { env: { API_TOKEN: { secretRef: { name: 'api', key: 'token' }, value: 's3cret' } } } }));
      expect(leaked.message).toContain(`${TARGET_REF}.runner.env.API_TOKEN`);
      expect(leaked.message).not.toContain('s3cret');
      expect(failure(resolveWith(adapter, { ...validTarget(adapter), runner: { env: { BRANCH_FOLLOWER_SHA: { value: 'x' } } } })).message).toContain('runner.env.BRANCH_FOLLOWER_SHA');
      expect(failure(resolveWith(adapter, { ...validTarget(adapter), runner: { token: 'x' } })).message).toContain('runner');
    }
    const generic = ADAPTER_REGISTRY.generic.resolve({
      ...input('hwlab-node-runtime', null),
      follower: Follower.parse({ id: 'g1', adapter: 'generic', source: { configRef: SOURCE_REF }, target: { configRef: TARGET_REF }, command: ['deploy'], checks: ['trigger', 'target'] }),
      target: { ref: TARGET_REF, value: { reader: 'file', path: 'deployed.txt', runner } },
    });
    expect(generic.ok && generic.spec).toMatchObject({ target: { reader: 'file', path: 'deployed.txt' }, runner });
    const badGeneric = ADAPTER_REGISTRY.generic.resolve({
      ...input('hwlab-node-runtime', null),
      follower: Follower.parse({ id: 'g1', adapter: 'generic', source: { configRef: SOURCE_REF }, target: { configRef: TARGET_REF }, command: ['deploy'], checks: ['trigger', 'target'] }),
      target: { ref: TARGET_REF, value: { reader: 'file', path: 'deployed.txt', runner: { image: 'a b' } } },
    });
    expect(failure(badGeneric).message).toContain(`${TARGET_REF}.runner.image`);
  });

  it('rejects a source section that is not {repo, branch}', () => {
    const extra = failure(resolveWith(adapter, validTarget(adapter), { source: { repo: 'o/r', branch: 'main', path: 'x' } }));
    expect(extra).toEqual({ side: 'source', message: `${SOURCE_REF}: unknown key(s) path` });
    const bad = failure(resolveWith(adapter, validTarget(adapter), { source: { repo: 'not-a-repo', branch: 'main' } }));
    expect(bad.side).toBe('source');
    expect(bad.message).toMatch(new RegExp(`^${SOURCE_REF.replace(/[.#]/g, '\\$&')}\\.repo: `));
    const missing = failure(resolveWith(adapter, validTarget(adapter), { source: 'pikasTech/HWLAB@v0.3' }));
    expect(missing.side).toBe('source');
  });

  it('requires pipelineRun only when the follower checks "pipeline"', () => {
    const without = withPath(validTarget(adapter), ['pipelineRun'], undefined);
    const f = failure(resolveWith(adapter, without));
    expect(f.side).toBe('target');
    expect(f.message).toBe(`${TARGET_REF}: follower "f1" checks "pipeline" but the section has no pipelineRun`);
    const r = resolveWith(adapter, without, { checks: ['trigger', 'target'] });
    expect(r.ok && r.spec.pipeline).toBe(null);
    const ignored = resolveWith(adapter, validTarget(adapter), { checks: ['trigger', 'target'] });
    expect(ignored.ok && ignored.spec.pipeline).toBe(null);
  });

  it('rejects PipelineRun selections that would match too much or contradict the sha label', () => {
    const empty = failure(resolveWith(adapter, withPath(validTarget(adapter), ['pipelineRun', 'labels'], {})));
    expect(empty.message).toContain(`${TARGET_REF}.pipelineRun.labels: needs at least one label`);
    const clash = failure(
      resolveWith(adapter, withPath(validTarget(adapter), ['pipelineRun', 'labels'], { 'example.dev/source-sha': 'abc' })),
    );
    expect(clash.message).toBe(`${TARGET_REF}.pipelineRun.shaLabel: shaLabel must not also be a fixed label`);
    const badKey = failure(resolveWith(adapter, withPath(validTarget(adapter), ['pipelineRun', 'labels'], { 'Bad Key': 'v' })));
    expect(badKey.message).toContain(`${TARGET_REF}.pipelineRun.labels`);
    const longValue = failure(resolveWith(adapter, withPath(validTarget(adapter), ['pipelineRun', 'labels'], { 'a.dev/x': 'v'.repeat(64) })));
    expect(longValue.message).toContain('63');
  });

  it('rejects malformed names, namespaces and annotation keys', () => {
    for (const [path, value] of [
      [['namespace'], 'Not_A_Namespace'],
      [['workload', 'name'], 'UPPER'],
      [['shaAnnotation'], 'two words'],
      [['shaAnnotation'], 'UPPER.Prefix/name'],
    ] as const) {
      const f = failure(resolveWith(adapter, withPath(validTarget(adapter), [...path], value)));
      expect(f.message.startsWith(`${TARGET_REF}.${path.join('.')}: `)).toBe(true);
    }
  });

  it('summaries are one line and never copy the section beyond what the reader looks at', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/),
        fc.stringMatching(/^[a-z]{1,8}\.[a-z]{2,4}\/[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/),
        fc.stringMatching(/^[a-z][a-z0-9-]{2,20}[a-z0-9]$/),
        (namespace, name, annotation, secretName) => {
          let t = withPath(validTarget(adapter), ['namespace'], namespace);
          t = withPath(t, ['workload', 'name'], name);
          t = withPath(t, ['shaAnnotation'], annotation);
          t = withPath(t, ['secrets', 'registryPull', 'secretRef', 'name'], `zz-secret-${secretName}`);
          const r = resolveWith(adapter, t);
          if (!r.ok) throw new Error(r.message);
          expect(TargetSpec.parse(r.spec.target)).toEqual(r.spec.target);
          expect(r.spec.summary).not.toMatch(/\n/);
          expect(r.spec.summary).toContain(`${namespace}/${name} annotation ${annotation}`);
          expect(r.spec.summary.endsWith(`(${TARGET_REF})`)).toBe(true);
          expect(r.spec.summary).not.toContain('zz-secret-');
          expect(r.spec.summary).not.toContain('example.dev/lane');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('workload kinds per adapter', () => {
  const cases: [Seed, string, string | null][] = [
    ['hwlab-node-runtime', 'Deployment', 'apps/v1'],
    ['hwlab-node-runtime', 'StatefulSet', 'apps/v1'],
    ['hwlab-node-runtime', 'CronJob', null],
    ['agentrun-yaml-lane', 'StatefulSet', 'apps/v1'],
    ['agentrun-yaml-lane', 'Deployment', 'apps/v1'],
    ['agentrun-yaml-lane', 'Pod', null],
    ['web-probe-sentinel-cicd', 'CronJob', 'batch/v1'],
    ['web-probe-sentinel-cicd', 'Deployment', 'apps/v1'],
    ['web-probe-sentinel-cicd', 'StatefulSet', null],
  ];
  it.each(cases)('%s with a %s', (adapter, kind, apiVersion) => {
    let t = withPath(validTarget(adapter), ['workload', 'kind'], kind);
    // Only a CronJob sentinel carries a schedule.
    if (adapter === 'web-probe-sentinel-cicd' && kind !== 'CronJob') t = withPath(t, ['schedule'], undefined);
    const r = resolveWith(adapter, t);
    if (apiVersion === null) {
      expect(failure(r).message.startsWith(`${TARGET_REF}.workload.kind: `)).toBe(true);
    } else {
      expect(r.ok && r.spec.target).toMatchObject({ reader: 'k8s-annotation', kind, apiVersion });
    }
  });
});

describe('adapter-specific sections', () => {
  it('hwlab-node-runtime needs its GitOps checkout, with a relative path inside the repo', () => {
    const none = failure(resolveWith('hwlab-node-runtime', withPath(validTarget('hwlab-node-runtime'), ['gitops'], undefined)));
    expect(none.message.startsWith(`${TARGET_REF}.gitops: `)).toBe(true);
    const climb = failure(resolveWith('hwlab-node-runtime', withPath(validTarget('hwlab-node-runtime'), ['gitops', 'path'], '../other')));
    expect(climb.message.startsWith(`${TARGET_REF}.gitops.path: `)).toBe(true);
    const kz = resolveWith('hwlab-node-runtime', withPath(validTarget('hwlab-node-runtime'), ['gitops', 'kustomization'], { namespace: 'flux-system', name: 'a' }));
    expect(kz.ok).toBe(true);
  });

  it('agentrun-yaml-lane names an image repository, never a tag the pipeline owns', () => {
    for (const repo of ['registry.local/agentrun/agentrun:v1', 'registry.local/agentrun@sha256:abc', 'agentrun']) {
      const f = failure(resolveWith('agentrun-yaml-lane', withPath(validTarget('agentrun-yaml-lane'), ['image', 'repository'], repo)));
      expect(f.message.startsWith(`${TARGET_REF}.image.repository: `)).toBe(true);
    }
    expect(resolveWith('agentrun-yaml-lane', withPath(validTarget('agentrun-yaml-lane'), ['image', 'repository'], 'registry.local:5000/a/b')).ok).toBe(true);
  });

  it('web-probe-sentinel-cicd: a CronJob sentinel has a schedule and only a CronJob has one', () => {
    const noSchedule = failure(resolveWith('web-probe-sentinel-cicd', withPath(validTarget('web-probe-sentinel-cicd'), ['schedule'], undefined)));
    expect(noSchedule.message).toBe(`${TARGET_REF}.schedule: a CronJob sentinel needs a schedule, and only a CronJob has one`);
    const deployment = withPath(validTarget('web-probe-sentinel-cicd'), ['workload', 'kind'], 'Deployment');
    expect(failure(resolveWith('web-probe-sentinel-cicd', deployment)).message.startsWith(`${TARGET_REF}.schedule: `)).toBe(true);
    const badCron = failure(resolveWith('web-probe-sentinel-cicd', withPath(validTarget('web-probe-sentinel-cicd'), ['schedule'], 'hourly')));
    expect(badCron.message).toBe(`${TARGET_REF}.schedule: must be a five-field cron schedule`);
  });

  it('each adapter rejects the extras of the others: the shapes are distinct', () => {
    const extras: Record<Seed, [string, unknown]> = {
      'hwlab-node-runtime': ['gitops', { repo: 'o/g', branch: 'main', path: 'p' }],
      'agentrun-yaml-lane': ['image', { repository: 'registry.local/a/b' }],
      'web-probe-sentinel-cicd': ['schedule', '* * * * *'],
    };
    for (const adapter of SEEDS) {
      for (const other of SEEDS) {
        if (other === adapter) continue;
        const [key, value] = extras[other];
        const f = failure(resolveWith(adapter, { ...validTarget(adapter), [key]: value }));
        expect(f.message).toBe(`${TARGET_REF}: unknown key(s) ${key}`);
      }
    }
  });
});
