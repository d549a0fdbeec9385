// The registry schema: what parses, and the exact "file: path: message" errors for what does not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BudgetOverrides, Budgets, resolveBudgets } from '../../src/core/budgets.ts';
import { ConfigRef, parseConfigRef, resolvePath } from '../../src/core/configref.ts';
import { FollowerId } from '../../src/core/primitives.ts';
import { formatInputError, OWNING_CONFIG, parseRegistry, type InputError } from '../../src/core/registry.ts';
import { budgetOverridesArb, fcParams, fullBudgetsArb, followerIdArb } from '../support/arbitraries.ts';
import { AGENTRUN, HWLAB, SENTINEL, seedRegistryDoc } from './fixtures.ts';

const FILE = 'config/cicd-branch-followers.yaml';
type Doc = ReturnType<typeof seedRegistryDoc>;

const errorsFor = (edit: (d: Doc) => void): InputError[] => {
  const doc = seedRegistryDoc();
  edit(doc);
  const r = parseRegistry(FILE, doc);
  if (r.ok) throw new Error('expected the registry to be rejected');
  return r.errors;
};

const f0 = (d: Doc): Record<string, unknown> => d.followers[0] as Record<string, unknown>;

describe('parseRegistry', () => {
  it('accepts the seed registry and fills in the defaults', () => {
    const r = parseRegistry(FILE, seedRegistryDoc());
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const reg = r.value;
    expect(reg.followers.map((f) => [f.id, f.adapter, f.onSupersede])).toEqual([
      [HWLAB, 'hwlab-node-runtime', 'wait'],
      [AGENTRUN, 'agentrun-yaml-lane', 'cancel'],
      [SENTINEL, 'web-probe-sentinel-cicd', 'wait'],
    ]);
    expect(reg.followers[0]?.command).toEqual(['hwlab', 'nodes', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'v03', '--confirm', '--wait']);
    expect(reg.followers[1]?.command).toEqual(['agentrun', 'control-plane', 'trigger-current', '--node', 'JD01', '--lane', 'jd01-v02', '--confirm', '--wait']);
    expect(reg.followers[2]?.command).toEqual(['web-probe', 'sentinel', 'publish-current', '--node', 'JD01', '--lane', 'v03', '--sentinel', 'jd01-web-probe-sentinel', '--confirm', '--wait']);
    expect(reg.controller.image).toBe('ghcr.io/branch-follower/branch-follower:0.1.0');
    const doc = seedRegistryDoc();
    delete doc.controller['local'];
    const again = parseRegistry(FILE, doc);
    expect(again.ok && again.value.controller.local).toEqual({ stateDir: '.branch-follower', runRetentionDays: 7 });
  });

  it('takes a run retention in days for the local driver, positive, 7 by default', () => {
    const withLocal = (local: Record<string, unknown>) => {
      const doc = seedRegistryDoc();
      doc.controller['local'] = local;
      return parseRegistry(FILE, doc);
    };
    const d = withLocal({ stateDir: 'x' });
    expect(d.ok && d.value.controller.local.runRetentionDays).toBe(7);
    const h = withLocal({ stateDir: 'x', runRetentionDays: 0.5 });
    expect(h.ok && h.value.controller.local.runRetentionDays).toBe(0.5);
    for (const bad of [0, -1, 'week']) {
      const r = withLocal({ stateDir: 'x', runRetentionDays: bad });
      expect(!r.ok && r.errors.map((e) => e.path)).toEqual(['controller.local.runRetentionDays']);
    }
  });

  it('rejects an unknown key in a follower, naming the owning config it belongs in', () => {
    expect(errorsFor((d) => (f0(d)['image'] = 'hwlab:v3'))).toEqual([
      { file: FILE, path: 'followers[0].image', message: 'unknown key "image"; runtime, GitOps and Secret details belong in config/hwlab-node-lanes.yaml, referenced by a configRef' },
    ]);
    expect(errorsFor((d) => ((d.followers[1] as Record<string, unknown>)['secretRef'] = 'agentrun-token'))).toEqual([
      { file: FILE, path: 'followers[1].secretRef', message: 'unknown key "secretRef"; runtime, GitOps and Secret details belong in config/agentrun.yaml, referenced by a configRef' },
    ]);
    expect(errorsFor((d) => ((d.followers[2] as Record<string, unknown>)['namespace'] = 'sentinel'))[0]?.message).toBe(
      'unknown key "namespace"; runtime, GitOps and Secret details belong in config/hwlab-web-probe-sentinel/*.yaml, referenced by a configRef',
    );
  });

  it('hints at the owning config only for keys that belong there', () => {
    expect(errorsFor((d) => (f0(d)['colour'] = 'blue'))).toEqual([{ file: FILE, path: 'followers[0].colour', message: 'unknown key "colour"' }]);
    expect(errorsFor((d) => (d.controller['webhookUrl'] = 'https://hooks.example'))).toEqual([{ file: FILE, path: 'controller.webhookUrl', message: 'unknown key "webhookUrl"' }]);
    expect(errorsFor((d) => ((d as Record<string, unknown>)['extra'] = 1))).toEqual([{ file: FILE, path: 'extra', message: 'unknown key "extra"' }]);
    expect(errorsFor((d) => (f0(d)['budgets'] = { retries: 3 }))).toEqual([{ file: FILE, path: 'followers[0].budgets.retries', message: 'unknown key "retries"' }]);
    // A generic follower's owning config is whatever its configRefs name.
    expect(errorsFor((d) => Object.assign(f0(d), { adapter: 'generic', token: 'x' }))[0]?.message).toBe(`unknown key "token"; runtime, GitOps and Secret details belong in ${OWNING_CONFIG.generic}, referenced by a configRef`);
  });

  it('rejects duplicate follower ids, pointing at both', () => {
    expect(errorsFor((d) => ((d.followers[2] as Record<string, unknown>)['id'] = HWLAB))).toEqual([
      { file: FILE, path: 'followers[2].id', message: `duplicate follower id "${HWLAB}" (first at followers.0.id)` },
    ]);
  });

  it.each([
    ['41 characters', 'a'.repeat(41), 'must be at most 40 characters'],
    ['upper case', 'HWLAB-jd01', 'must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit)'],
    ['an underscore', 'hwlab_jd01', 'must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit)'],
    ['a leading dash', '-hwlab', 'must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit)'],
    ['a trailing dash', 'hwlab-', 'must be a DNS-1123 label (lower-case letters, digits and "-", starting and ending with a letter or digit)'],
  ])('rejects an id with %s', (_label, id, message) => {
    expect(errorsFor((d) => (f0(d)['id'] = id))).toContainEqual({ file: FILE, path: 'followers[0].id', message });
  });

  it('accepts every DNS-1123 label of at most 40 characters as an id, and rejects longer ones', () => {
    expect(FollowerId.safeParse('a'.repeat(40)).success).toBe(true);
    fc.assert(
      fc.property(followerIdArb, (id) => {
        expect(FollowerId.safeParse(id).success).toBe(true);
        expect(FollowerId.safeParse(`${id}${'x'.repeat(41 - id.length)}`).success).toBe(false);
      }),
      fcParams(),
    );
  });

  it('rejects an empty argv and empty argv elements', () => {
    expect(errorsFor((d) => (f0(d)['command'] = []))).toEqual([{ file: FILE, path: 'followers[0].command', message: 'the trigger argv must not be empty' }]);
    expect(errorsFor((d) => (f0(d)['command'] = ['hwlab', '']))).toEqual([{ file: FILE, path: 'followers[0].command[1]', message: 'argv elements must not be empty' }]);
    expect(errorsFor((d) => (f0(d)['command'] = 'hwlab nodes control-plane'))[0]?.path).toBe('followers[0].command');
  });

  it('rejects an unknown adapter', () => {
    expect(errorsFor((d) => (f0(d)['adapter'] = 'helm'))).toEqual([
      { file: FILE, path: 'followers[0].adapter', message: 'Invalid option: expected one of "generic"|"hwlab-node-runtime"|"agentrun-yaml-lane"|"web-probe-sentinel-cicd"' },
    ]);
  });

  it('rejects checks that do not start with trigger, repeat a label, or name an unknown one', () => {
    expect(errorsFor((d) => (f0(d)['checks'] = ['pipeline', 'trigger']))).toEqual([
      { file: FILE, path: 'followers[0].checks', message: 'the first check must be "trigger": a run is not closed out while its dispatch runs' },
    ]);
    expect(errorsFor((d) => (f0(d)['checks'] = ['trigger', 'trigger']))).toEqual([{ file: FILE, path: 'followers[0].checks', message: 'check labels must be unique' }]);
    expect(errorsFor((d) => (f0(d)['checks'] = ['trigger', 'smoke']))[0]?.path).toBe('followers[0].checks[1]');
    expect(errorsFor((d) => (f0(d)['checks'] = []))[0]?.path).toBe('followers[0].checks');
  });

  it.each([
    ['a parent directory', '../secrets.yaml#token'],
    ['an absolute path', '/etc/branch-follower/x.yaml#a'],
    ['a "." segment', 'hwlab/./lanes.yaml#a'],
    ['a ".." in the middle', 'hwlab/../../x.yaml#a'],
  ])('rejects a configRef escaping the config directory through %s', (_label, ref) => {
    expect(errorsFor((d) => (f0(d)['source'] = { configRef: ref }))).toEqual([
      { file: FILE, path: 'followers[0].source.configRef', message: 'the file must stay inside the config directory (no absolute paths, no "." or ".." segments)' },
    ]);
  });

  it.each(['hwlab-node-lanes.yaml', 'hwlab-node-lanes.json#a', 'hwlab-node-lanes.yaml#', 'hwlab-node-lanes.yaml#a..b'])('rejects the malformed configRef %j', (ref) => {
    expect(errorsFor((d) => (f0(d)['target'] = { configRef: ref }))).toEqual([{ file: FILE, path: 'followers[0].target.configRef', message: 'must look like "file.yaml#dotted.path"' }]);
  });

  it('rejects a document that is not a mapping, at the root', () => {
    const r = parseRegistry(FILE, null);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatInputError)).toEqual([`${FILE}: the whole file: Invalid input: expected object, received null`]);
  });

  it('formats errors as "file: path: message"', () => {
    expect(formatInputError({ file: FILE, path: 'followers[0].id', message: 'must be at most 40 characters' })).toBe(`${FILE}: followers[0].id: must be at most 40 characters`);
  });
});

describe('configRef', () => {
  const doc = {
    lanes: { v03: { source: { repo: 'pikasTech/HWLAB', branch: 'v0.3' } } },
    nodes: { JD01: { lanes: { v03: { runtime: { reader: 'file', path: '/var/lib/hwlab/sha' } } } } },
    sentinels: [{ id: 'a' }, { id: 'b', target: null }],
  };

  it('parses "file#dotted.path"', () => {
    expect(parseConfigRef('hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime')).toEqual({
      file: 'hwlab-node-lanes.yaml',
      path: ['nodes', 'JD01', 'lanes', 'v03', 'runtime'],
      text: 'hwlab-node-lanes.yaml#nodes.JD01.lanes.v03.runtime',
    });
    expect(parseConfigRef('hwlab-web-probe-sentinel/sentinels.yml#jd01-web-probe-sentinel.target').file).toBe('hwlab-web-probe-sentinel/sentinels.yml');
    expect(() => parseConfigRef('no-hash.yaml')).toThrow('not a configRef: "no-hash.yaml"');
    expect(ConfigRef.safeParse({ configRef: 'agentrun.yaml#lanes.jd01-v02.source' }).success).toBe(true);
    expect(ConfigRef.safeParse({ configRef: 'agentrun.yaml#lanes', extra: 1 }).success).toBe(false);
  });

  it('resolves mapping keys and list indexes', () => {
    expect(resolvePath(doc, parseConfigRef('hwlab-node-lanes.yaml#lanes.v03.source'))).toEqual({ ok: true, value: { repo: 'pikasTech/HWLAB', branch: 'v0.3' } });
    expect(resolvePath(doc, parseConfigRef('f.yaml#sentinels.1.id'))).toEqual({ ok: true, value: 'b' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#sentinels.1.target'))).toEqual({ ok: true, value: null });
  });

  it('names how far the walk got when it fails', () => {
    expect(resolvePath(doc, parseConfigRef('hwlab-node-lanes.yaml#lanes.v04.source'))).toEqual({ ok: false, reason: 'hwlab-node-lanes.yaml#lanes.v04: key not found' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#lanes.v03.source.repo.owner'))).toEqual({ ok: false, reason: 'f.yaml#lanes.v03.source.repo.owner: f.yaml#lanes.v03.source.repo is not a mapping' });
    expect(resolvePath('text', parseConfigRef('f.yaml#a'))).toEqual({ ok: false, reason: 'f.yaml#a: f.yaml (the whole file) is not a mapping' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#sentinels.x'))).toEqual({ ok: false, reason: 'f.yaml#sentinels.x: f.yaml#sentinels is not a mapping' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#sentinels.7'))).toEqual({ ok: false, reason: 'f.yaml#sentinels.7: key not found' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#sentinels.1.target.x'))).toEqual({ ok: false, reason: 'f.yaml#sentinels.1.target.x: f.yaml#sentinels.1.target is not a mapping' });
  });

  it('never walks into inherited properties', () => {
    expect(resolvePath(doc, parseConfigRef('f.yaml#lanes.toString'))).toEqual({ ok: false, reason: 'f.yaml#lanes.toString: key not found' });
    expect(resolvePath(doc, parseConfigRef('f.yaml#__proto__'))).toEqual({ ok: false, reason: 'f.yaml#__proto__: key not found' });
  });
});

describe('resolveBudgets', () => {
  const defaults = { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 };

  it('names where each value came from', () => {
    expect(resolveBudgets(AGENTRUN, undefined, defaults)).toEqual({ ...defaults, origins: { triggerSeconds: 'controller.defaults', closeoutSeconds: 'controller.defaults', maxAttempts: 'controller.defaults' }, source: 'controller.defaults' });
    expect(resolveBudgets(HWLAB, { closeoutSeconds: 2400 }, defaults)).toEqual({
      triggerSeconds: 600,
      closeoutSeconds: 2400,
      maxAttempts: 2,
      origins: { triggerSeconds: 'controller.defaults', closeoutSeconds: 'follower', maxAttempts: 'controller.defaults' },
      source: `followers[${HWLAB}].budgets (closeoutSeconds) + controller.defaults`,
    });
    expect(resolveBudgets(SENTINEL, { triggerSeconds: 900, closeoutSeconds: 3600, maxAttempts: 3 }, defaults)).toMatchObject({
      triggerSeconds: 900,
      closeoutSeconds: 3600,
      maxAttempts: 3,
      source: `followers[${SENTINEL}].budgets`,
    });
    expect(resolveBudgets(HWLAB, { maxAttempts: 5, triggerSeconds: 60 }, defaults).source).toBe(`followers[${HWLAB}].budgets (triggerSeconds, maxAttempts) + controller.defaults`);
    expect(resolveBudgets(HWLAB, {}, defaults).source).toBe('controller.defaults');
  });

  it('takes each value from the follower when it overrides it, else from the defaults', () => {
    fc.assert(
      fc.property(followerIdArb, budgetOverridesArb, fullBudgetsArb, (id, own, defs) => {
        expect(BudgetOverrides.safeParse(own).success).toBe(true);
        const r = resolveBudgets(id, own, defs);
        for (const k of ['triggerSeconds', 'closeoutSeconds', 'maxAttempts'] as const) {
          expect(r[k]).toBe(own[k] ?? defs[k]);
          expect(r.origins[k]).toBe(own[k] === undefined ? 'controller.defaults' : 'follower');
        }
        expect(Budgets.safeParse({ triggerSeconds: r.triggerSeconds, closeoutSeconds: r.closeoutSeconds, maxAttempts: r.maxAttempts }).success).toBe(true);
        expect(r.source === 'controller.defaults').toBe(Object.values(own).every((v) => v === undefined));
      }),
      fcParams(),
    );
  });

  it('budgets are bounded: positive whole seconds up to a week, 1 to 20 attempts', () => {
    expect(Budgets.safeParse({ triggerSeconds: 0, closeoutSeconds: 1, maxAttempts: 1 }).success).toBe(false);
    expect(Budgets.safeParse({ triggerSeconds: 1.5, closeoutSeconds: 1, maxAttempts: 1 }).success).toBe(false);
    expect(Budgets.safeParse({ triggerSeconds: 7 * 24 * 3600 + 1, closeoutSeconds: 1, maxAttempts: 1 }).success).toBe(false);
    expect(Budgets.safeParse({ triggerSeconds: 1, closeoutSeconds: 1, maxAttempts: 21 }).success).toBe(false);
    expect(Budgets.safeParse({ triggerSeconds: 7 * 24 * 3600, closeoutSeconds: 1, maxAttempts: 20 }).success).toBe(true);
  });
});

describe('a local registry names no cluster-only field', () => {
  const minimal = (driver: 'local' | 'kubernetes') => ({
    controller: { driver, gitMirror: { readUrl: 'file:///srv/mirror' } },
    followers: [{ id: 'webapp-main', adapter: 'generic', source: { configRef: 'w.yaml#source' }, target: { configRef: 'w.yaml#target' }, command: ['./deploy.sh'], checks: ['trigger', 'target'] }],
  });

  it('the local driver needs only driver and gitMirror: namespace, schedules and budgets default, source is absent', () => {
    const r = parseRegistry(FILE, minimal('local'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.controller).toMatchObject({
      namespace: 'branch-follower',
      schedules: { observer: '* * * * *', closer: '* * * * *' },
      defaults: { budgets: { triggerSeconds: 600, closeoutSeconds: 1800, maxAttempts: 2 } },
    });
    expect(r.value.controller.source).toBeUndefined();
  });

  it('the kubernetes driver needs controller.source, named by its path', () => {
    const r = parseRegistry(FILE, minimal('kubernetes'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map(formatInputError)).toEqual([expect.stringMatching(/^config\/cicd-branch-followers\.yaml: controller\.source: the kubernetes driver needs controller\.source/)]);
  });
});
