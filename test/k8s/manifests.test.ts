import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ARMING_CONFIGMAP, gateFor, parseArmingData } from '../../src/core/arming.ts';
import { parseRegistry, type Registry } from '../../src/core/registry.ts';
import { parsedYamlName } from '../../src/adapters/config/parsed-yaml.ts';
import { parseYamlText } from '../../src/adapters/config/yaml-file.ts';
import {
  armingConfigMap,
  IMAGE_NODE_MODULES,
  readRegistryFiles,
  CONFIG_CACHE_ENV,
  NODE_FLAGS_ENV,
  REGISTRY_CONFIGMAP,
  REGISTRY_FILE,
  REGISTRY_MOUNT,
  REGISTRY_PARSED_CONFIGMAP,
  REGISTRY_PARSED_MOUNT,
  TICK_NODE_FLAGS,
  TICK_NODE_OPTIONS,
  registryConfigMap,
  registryFilesFromData,
  registryKey,
  registryPathOfKey,
  renderManifestFiles,
  renderManifests,
  RUN_AS,
  SOURCE_LAUNCHER,
  SOURCE_DIR,
  TARGET_NAMESPACE_PLACEHOLDER,
  TICK_DEADLINE_SECONDS,
} from '../../src/adapters/kubernetes/manifests.ts';
import { roleRule, ROLE_RULES, SERVE_ROLE_RULES, SERVICE_ACCOUNT, TARGET_READER_RULES } from '../../src/adapters/kubernetes/rbac.ts';
import { LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, STATE_SELECTOR } from '../../src/adapters/kubernetes/labels.ts';

type Obj = Record<string, unknown>;
type K8s = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Obj;

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE_REGISTRY = join(import.meta.dirname, 'fixtures', 'registry', REGISTRY_FILE);
const SHIPPED_REGISTRY = join(ROOT, 'config', REGISTRY_FILE);
const SHIPPED_K8S = join(ROOT, 'k8s');

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
const hasShippedRegistry = existsSync(SHIPPED_REGISTRY);
const hasGit = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasKubectl) console.warn('test/k8s: kubectl not on PATH: the `kubectl kustomize` checks are skipped');
if (!hasShippedRegistry) console.warn(`test/k8s: ${SHIPPED_REGISTRY} absent: the checks of the shipped k8s/ are skipped`);

const rec = (v: unknown): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`expected an object, got ${JSON.stringify(v)}`);
  return v as Obj;
};
const arr = (v: unknown): Obj[] => {
  if (!Array.isArray(v)) throw new Error(`expected a list, got ${JSON.stringify(v)}`);
  return v.map(rec);
};

const loadRegistry = async (path: string): Promise<Registry> => {
  const r = parseRegistry(path, parse(await readFile(path, 'utf8')));
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.file}: ${e.path}: ${e.message}`).join('\n'));
  return r.value;
};

const parseDocs = (text: string): K8s[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null)
    .map((d) => rec(d) as K8s);

const kustomize = (dir: string): K8s[] => parseDocs(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));

const keyOf = (o: K8s): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objs: readonly K8s[]): Map<string, K8s> => new Map(objs.map((o) => [keyOf(o), o]));
const one = (objs: readonly K8s[], kind: string, name?: string): K8s => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

/** Every pod template in the objects, with where it came from. */
const podTemplates = (objs: readonly K8s[]): { where: string; spec: Obj; labels: Record<string, string> }[] =>
  objs.flatMap((o) => {
    if (o.kind === 'CronJob') {
      const template = rec(rec(rec(rec(o.spec).jobTemplate).spec).template);
      return [{ where: keyOf(o), spec: rec(template.spec), labels: rec(rec(template.metadata).labels) as Record<string, string> }];
    }
    if (['Job', 'Deployment', 'StatefulSet', 'DaemonSet', 'Pod', 'ReplicaSet'].includes(o.kind)) {
      throw new Error(`unexpected workload ${keyOf(o)}: extend podTemplates`);
    }
    return [];
  });

/** The restricted Pod Security Standard, checked field by field as the admission plugin does. */
const expectRestricted = (where: string, spec: Obj): void => {
  const pod = rec(spec.securityContext);
  expect(pod.runAsNonRoot, `${where}: pod runAsNonRoot`).toBe(true);
  expect(pod.runAsUser, `${where}: pod runAsUser`).toBe(RUN_AS);
  expect(pod.fsGroup, `${where}: pod fsGroup`).toBe(RUN_AS);
  expect(rec(pod.seccompProfile).type, `${where}: pod seccomp`).toBe('RuntimeDefault');
  for (const forbidden of ['hostNetwork', 'hostPID', 'hostIPC']) expect(spec[forbidden], `${where}: ${forbidden}`).toBeUndefined();
  for (const v of arr(spec.volumes)) {
    const types = Object.keys(v).filter((k) => k !== 'name');
    expect(types.every((t) => ['emptyDir', 'configMap', 'secret', 'projected', 'downwardAPI', 'persistentVolumeClaim', 'ephemeral', 'csi'].includes(t)), `${where}: volume ${String(v.name)} type ${types.join()}`).toBe(true);
  }
  const containers = [...arr(spec.initContainers ?? []), ...arr(spec.containers)];
  expect(containers.length).toBeGreaterThanOrEqual(2);
  for (const c of containers) {
    const at = `${where}: container ${String(c.name)}`;
    const sc = rec(c.securityContext);
    expect(sc.allowPrivilegeEscalation, `${at}: allowPrivilegeEscalation`).toBe(false);
    expect(sc.privileged ?? false, `${at}: privileged`).toBe(false);
    expect(sc.readOnlyRootFilesystem, `${at}: readOnlyRootFilesystem`).toBe(true);
    expect(sc.runAsNonRoot, `${at}: runAsNonRoot`).toBe(true);
    expect(sc.runAsUser, `${at}: runAsUser`).toBe(RUN_AS);
    expect(rec(sc.capabilities).drop, `${at}: capabilities.drop`).toEqual(['ALL']);
    expect(rec(sc.capabilities).add, `${at}: capabilities.add`).toBeUndefined();
    expect(rec(sc.seccompProfile).type, `${at}: seccomp`).toBe('RuntimeDefault');
    expect(c.ports, `${at}: hostPort`).toBeUndefined();
    const res = rec(c.resources);
    for (const kind of ['requests', 'limits']) {
      expect(rec(res[kind]).cpu, `${at}: ${kind}.cpu`).toEqual(expect.any(String));
      expect(rec(res[kind]).memory, `${at}: ${kind}.memory`).toEqual(expect.any(String));
    }
    expect(arr(c.env ?? []).find((e) => e.name === 'HOME')?.value, `${at}: HOME`).toBe('/work');
  }
};

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

/** Every yaml file under dir, by path relative to it (an independent listing, not readRegistryFiles). */
const yamlTree = async (dir: string, prefix = ''): Promise<string[]> => {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) out.push(...(await yamlTree(join(dir, e.name), `${prefix}${e.name}/`)));
    else if (/\.ya?ml$/.test(e.name)) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
};

const temps: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'bf-k8s-'));
  temps.push(d);
  return d;
};
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

type Case = {
  name: string;
  registryPath: string;
  /** Files the registry ConfigMap must ship, relative to the registry's directory. */
  expectedFiles: () => Promise<string[]>;
  /** The kustomization directory; for the fixture, rendered into a temp dir first. */
  k8sDir: () => Promise<string>;
  enabled: boolean;
};

const cases: Case[] = [
  {
    name: 'fixture registry',
    registryPath: FIXTURE_REGISTRY,
    expectedFiles: async () => [REGISTRY_FILE, 'apps.yaml', 'web-sentinel/profiles.yaml'].sort(),
    k8sDir: async () => {
      const dir = await tempDir();
      const reg = await loadRegistry(FIXTURE_REGISTRY);
      const files = renderManifestFiles(reg, { registryFiles: await readRegistryFiles(FIXTURE_REGISTRY) });
      for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
      return dir;
    },
    enabled: true,
  },
  {
    name: 'shipped k8s/ and config/',
    registryPath: SHIPPED_REGISTRY,
    expectedFiles: async () => {
      // What the brief names: the registry and the owning configs of the seed adapters.
      const all = await yamlTree(join(ROOT, 'config'));
      for (const f of ['hwlab-node-lanes.yaml', 'agentrun.yaml']) expect(all).toContain(f);
      expect(all.some((f) => f.startsWith('hwlab-web-probe-sentinel/'))).toBe(true);
      return all;
    },
    k8sDir: async () => SHIPPED_K8S,
    enabled: hasShippedRegistry,
  },
];

for (const c of cases) {
  describe.skipIf(!c.enabled)(`k8s manifests: ${c.name}`, () => {
    let registry: Registry;
    let registryFiles: Record<string, string>;
    let dir: string;
    let objs: K8s[];
    let ns: string;

    beforeAll(async () => {
      registry = await loadRegistry(c.registryPath);
      registryFiles = await readRegistryFiles(c.registryPath);
      dir = await c.k8sDir();
      ns = registry.controller.namespace;
      objs = hasKubectl ? kustomize(dir) : [];
    });

    it('committed files equal what the renderer makes from the registry', async () => {
      const expected = renderManifestFiles(registry, { registryFiles });
      for (const [name, text] of Object.entries(expected)) {
        const actual = await readFile(join(dir, name), 'utf8').catch(() => '(missing)');
        expect(actual, `${name} is stale: run \`npx node scripts/render-k8s.ts\``).toBe(text);
      }
    });

    describe.skipIf(!hasKubectl)('kubectl kustomize', () => {
      it('renders exactly renderManifests() plus the disarmed arming ConfigMap, nothing more', () => {
        const expected = [...renderManifests(registry, { registryFiles }), armingConfigMap(ns)].map((o) => rec(JSON.parse(JSON.stringify(o))) as K8s);
        const got = byKey(objs);
        const want = byKey(expected);
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [k, o] of want) expect(got.get(k), k).toEqual(o);
      });

      it('is namespaced to the controller namespace, labelled, and has no cluster-wide objects', () => {
        const nsObj = one(objs, 'Namespace');
        expect(nsObj.metadata.name).toBe(ns);
        expect(nsObj.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
        for (const o of objs) {
          expect(['ClusterRole', 'ClusterRoleBinding', 'Secret']).not.toContain(o.kind);
          if (o.kind !== 'Namespace') expect(o.metadata.namespace, keyOf(o)).toBe(ns);
          for (const l of [LABEL_NAME, LABEL_PART_OF, LABEL_MANAGED_BY]) expect(o.metadata.labels?.[l], `${keyOf(o)} ${l}`).toBe('branch-follower');
        }
        expect(one(objs, 'ConfigMap', ARMING_CONFIGMAP).metadata.labels?.[LABEL_COMPONENT]).toBe('arming');
        expect(one(objs, 'ConfigMap', REGISTRY_CONFIGMAP).metadata.labels?.[LABEL_COMPONENT]).toBe('registry');
        // Nothing installed looks like follower state to the driver's one list call.
        const [m, comp] = STATE_SELECTOR.split(',').map((s) => s.split('='));
        expect(objs.filter((o) => o.metadata.labels?.[m![0]!] === m![1] && o.metadata.labels?.[comp![0]!] === comp![1])).toEqual([]);
      });

      it('grants exactly ROLE_RULES: no Secrets, no wildcards, no escalation verbs', () => {
        const role = one(objs, 'Role');
        expect(role.rules).toEqual(ROLE_RULES.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })));
        for (const r of arr(role.rules)) {
          const all = [...(r.apiGroups as string[]), ...(r.resources as string[]), ...(r.verbs as string[])];
          expect(all.some((s) => s.includes('*')), JSON.stringify(r)).toBe(false);
          expect((r.resources as string[]).some((s) => s === 'secrets' || s.startsWith('secrets/')), JSON.stringify(r)).toBe(false);
          expect((r.verbs as string[]).filter((v) => ['escalate', 'bind', 'impersonate', 'deletecollection'].includes(v))).toEqual([]);
          expect(r.nonResourceURLs).toBeUndefined();
        }
        const rb = one(objs, 'RoleBinding');
        expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
        expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: ns }]);
        expect(one(objs, 'ServiceAccount').metadata.name).toBe(SERVICE_ACCOUNT);
      });

      it('every pod template meets the restricted Pod Security Standard', () => {
        const pods = podTemplates(objs);
        expect(pods).toHaveLength(2);
        for (const p of pods) {
          expectRestricted(p.where, p.spec);
          expect(p.spec.serviceAccountName).toBe(SERVICE_ACCOUNT);
          expect(p.spec.automountServiceAccountToken).toBe(true);
          expect(p.spec.restartPolicy).toBe('Never');
        }
      });

      it('CronJobs follow the registry schedules, never overlap, and outlive the tick deadline', () => {
        const cronJobs = objs.filter((o) => o.kind === 'CronJob');
        expect(cronJobs.map((o) => o.metadata.labels?.[LABEL_COMPONENT]).sort()).toEqual(['closer', 'observer']);
        for (const cj of cronJobs) {
          const loop = cj.metadata.labels?.[LABEL_COMPONENT] as 'observer' | 'closer';
          const spec = rec(cj.spec);
          expect(spec.schedule, loop).toBe(registry.controller.schedules[loop]);
          expect(spec.concurrencyPolicy).toBe('Forbid');
          expect(spec.startingDeadlineSeconds).toBe(60);
          expect(spec.successfulJobsHistoryLimit).toEqual(expect.any(Number));
          expect(spec.failedJobsHistoryLimit).toEqual(expect.any(Number));
          const job = rec(rec(spec.jobTemplate).spec);
          expect(job.backoffLimit).toBe(0);
          expect(job.activeDeadlineSeconds).toBe(240);
          expect(job.ttlSecondsAfterFinished).toEqual(expect.any(Number));
          const pod = rec(rec(job.template).spec);
          const [main] = arr(pod.containers);
          expect(main!.image).toBe(registry.controller.image);
          expect(arr(pod.initContainers)[0]!.image).toBe(registry.controller.image);
          expect(main!.command).toEqual([
            'sh', SOURCE_LAUNCHER, 'tick', loop,
            '--registry', `${REGISTRY_MOUNT}/${REGISTRY_FILE}`, '--driver', 'kubernetes', '--deadline-seconds', String(TICK_DEADLINE_SECONDS),
          ]);
          expect(TICK_DEADLINE_SECONDS).toBeLessThan(job.activeDeadlineSeconds as number);
        }
      });

      it('the webhook URL comes from an optional Secret key the kubelet resolves', () => {
        for (const p of podTemplates(objs)) {
          const env = arr(arr(p.spec.containers)[0]!.env);
          const webhook = registry.controller.notify?.webhookUrlEnv;
          const refs = env.filter((e) => e.valueFrom !== undefined && rec(e.valueFrom).fieldRef === undefined);
          // The pod's own name and uid, from the downward API: the writer of a dispatch written ahead.
          const fields = env.filter((e) => e.valueFrom !== undefined && rec(e.valueFrom).fieldRef !== undefined);
          expect(fields.map((e) => [e.name, rec(rec(e.valueFrom).fieldRef).fieldPath])).toEqual([
            ['BRANCH_FOLLOWER_POD_NAME', 'metadata.name'],
            ['BRANCH_FOLLOWER_POD_UID', 'metadata.uid'],
          ]);
          if (!webhook) {
            expect(refs).toEqual([]);
            continue;
          }
          expect(refs).toHaveLength(1);
          expect(refs[0]!.name).toBe(webhook);
          const ref = rec(rec(refs[0]!.valueFrom).secretKeyRef);
          expect(ref.optional).toBe(true);
          expect(ref.name).toEqual(expect.any(String));
        }
      });

      it('the arming ConfigMap ships disarmed for every follower', () => {
        const cm = one(objs, 'ConfigMap', ARMING_CONFIGMAP);
        const read = parseArmingData('k8s', rec(cm.data) as Record<string, string>);
        expect(read.kind).toBe('ok');
        if (read.kind !== 'ok') return;
        expect(read.arming.killSwitch.on).toBe(true);
        expect(read.arming.allowlist).toEqual([]);
        expect(registry.followers.length).toBeGreaterThan(0);
        for (const f of registry.followers) {
          const gate = gateFor(read, f.id);
          expect(gate.armed, f.id).toBe(false);
          if (!gate.armed) expect(gate.gate).toBe('kill-switch');
        }
        expect(cm.data).toEqual({ killSwitch: '{"on":true,"by":"install","at":null,"reason":"ships disabled"}', allowlist: '[]' });
      });

      it('the registry ConfigMap, as mounted, holds exactly the config files', async () => {
        const cm = one(objs, 'ConfigMap', REGISTRY_CONFIGMAP);
        const data = rec(cm.data) as Record<string, string>;
        const expected = await c.expectedFiles();
        const root = dirname(c.registryPath);
        for (const p of podTemplates(objs)) {
          const vol = arr(p.spec.volumes).find((v) => v.configMap !== undefined)!;
          expect(rec(vol.configMap).name).toBe(REGISTRY_CONFIGMAP);
          const mount = arr(arr(p.spec.containers)[0]!.volumeMounts).find((m) => m.name === vol.name)!;
          expect(mount).toMatchObject({ mountPath: REGISTRY_MOUNT, readOnly: true });
          const items = arr(rec(vol.configMap).items);
          expect(items.map((i) => i.path).sort()).toEqual(expected);
          expect(items.map((i) => i.key).sort()).toEqual(Object.keys(data).sort());
          for (const item of items) {
            const onDisk = await readFile(join(root, item.path as string), 'utf8');
            expect(data[item.key as string], String(item.path)).toBe(onDisk);
          }
        }
      });

      it('the parsed registry ConfigMap holds every config file parsed, under the name a tick looks it up by, mounted read-only where the ticks look', async () => {
        const files = rec(one(objs, 'ConfigMap', REGISTRY_CONFIGMAP).data) as Record<string, string>;
        const parsed = rec(one(objs, 'ConfigMap', REGISTRY_PARSED_CONFIGMAP).data) as Record<string, string>;
        expect(Object.keys(parsed).sort()).toEqual(Object.values(files).map(parsedYamlName).sort());
        for (const text of Object.values(files)) {
          const read = parseYamlText(text, 'x.yaml');
          expect(read.ok).toBe(true);
          if (read.ok) expect(JSON.parse(parsed[parsedYamlName(text)] ?? 'null')).toEqual(read.doc);
        }
        for (const p of podTemplates(objs)) {
          const vol = arr(p.spec.volumes).find((v) => v.name === 'registry-parsed')!;
          expect(vol.configMap).toEqual({ name: REGISTRY_PARSED_CONFIGMAP, defaultMode: 0o444, optional: true });
          const c = arr(p.spec.containers)[0]!;
          expect(arr(c.volumeMounts).find((m) => m.name === 'registry-parsed')).toMatchObject({ mountPath: REGISTRY_PARSED_MOUNT, readOnly: true });
          const env = Object.fromEntries(arr(c.env).filter((e) => e.value !== undefined).map((e) => [e.name as string, e.value as string]));
          expect(env[CONFIG_CACHE_ENV]).toBe(REGISTRY_PARSED_MOUNT);
        }
        // The ticks' Node options: the heap limits in NODE_OPTIONS, the V8 tiers through the launcher.
        for (const cj of objs.filter((o) => o.kind === 'CronJob')) {
          const c = arr(rec(rec(rec(rec(rec(cj.spec).jobTemplate).spec).template).spec).containers)[0]!;
          const env = Object.fromEntries(arr(c.env).filter((e) => e.value !== undefined).map((e) => [e.name as string, e.value as string]));
          expect(env['NODE_OPTIONS']).toBe(TICK_NODE_OPTIONS);
          expect(env[NODE_FLAGS_ENV]).toBe(TICK_NODE_FLAGS);
        }
      });

      it('the init container clones the configured ref from the git mirror; the tick starts from the image\'s snapshot only when it was built from that source', async () => {
        expect(hasGit, 'git is needed for this check').toBe(true);
        const want = `${registry.controller.gitMirror.readUrl.replace(/\/+$/, '')}/${registry.controller.source!.repo}.git`;
        const cj = objs.find((o) => o.kind === 'CronJob' && o.metadata.labels?.[LABEL_COMPONENT] === 'observer')!;
        const pod = rec(rec(rec(rec(rec(cj.spec).jobTemplate).spec).template).spec);
        const init = arr(pod.initContainers);
        expect(init).toHaveLength(1);
        const env = Object.fromEntries(arr(init[0]!.env).map((e) => [e.name as string, e.value as string]));
        expect(env.BRANCH_FOLLOWER_SOURCE_URL).toBe(want);
        expect(env.BRANCH_FOLLOWER_SOURCE_REF).toBe(registry.controller.source!.ref);
        const command = init[0]!.command as string[];
        expect(command.slice(0, 2)).toEqual(['sh', '-c']);
        expect(command[2]).toContain('git clone');
        expect(command[2]).toContain('--depth 1');

        // Run the init script for real, against a local bare mirror that holds a decoy default
        // branch and the configured ref, with the pod's absolute paths moved into a temp dir.
        // The configured ref is a small project of the real launcher and build script whose CLI
        // prints with a package ('yaml') and says whether it runs bundled.
        const t = await tempDir();
        const seed = join(t, 'seed');
        const bare = join(t, 'mirror', `${registry.controller.source!.repo}.git`);
        const git = (cwd: string, ...args: string[]): string => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });
        await mkdir(join(seed, 'src'), { recursive: true });
        await writeFile(join(seed, 'package.json'), '{"type":"module"}\n');
        git(seed, 'init', '-q', '-b', 'decoy-default');
        await writeFile(join(seed, 'src', 'cli.ts'), "console.log('decoy');\n");
        git(seed, 'add', '.');
        git(seed, 'commit', '-q', '-m', 'decoy');
        git(seed, 'checkout', '-q', '-b', registry.controller.source!.ref);
        for (const f of ['scripts/build.ts', 'bin/branch-follower', 'bin/branch-follower.js', 'bin/bundle.js']) {
          await mkdir(dirname(join(seed, f)), { recursive: true });
          await writeFile(join(seed, f), await readFile(join(ROOT, f), 'utf8'));
        }
        await writeFile(join(seed, 'src', 'compile-cache.ts'), 'export const enableStartupCache = (_env: unknown): void => undefined;\n');
        await mkdir(join(seed, 'src', 'adapters', 'local'), { recursive: true });
        await writeFile(join(seed, 'src', 'adapters', 'local', 'supervisor.ts'), 'process.exit(0);\n');
        // A bare specifier: found only through the node_modules link the init container makes,
        // or inside the bundle. import.meta.url tells the bundle (dist/) from the sources (src/).
        await writeFile(
          join(seed, 'src', 'cli.ts'),
          "import { stringify } from 'yaml';\nconst n: number = 1;\nexport const runFromProcess = async (): Promise<void> => {\n  process.stdout.write(stringify({ argv: process.argv.slice(2), n, from: import.meta.url.includes('/dist/') ? 'bundle' : 'sources' }));\n};\nif (import.meta.main) await runFromProcess();\n",
        );
        // The start-up snapshot's entry says so too.
        await writeFile(
          join(seed, 'src', 'snapshot-entry.ts'),
          "import { startupSnapshot } from 'node:v8';\nimport { stringify } from 'yaml';\nstartupSnapshot.setDeserializeMainFunction(() => {\n  process.stdout.write(stringify({ argv: process.argv.slice(1), n: 1, from: 'snapshot' }));\n});\n",
        );
        git(seed, 'add', '.');
        git(seed, 'commit', '-q', '-m', 'the configured ref');
        await mkdir(dirname(bare), { recursive: true });
        run('git', ['clone', '-q', '--bare', seed, bare]);

        // The image: the configured ref's tree at /app, bundled as the Dockerfile does, with the
        // packages the bundler and the CLI need.
        const image = join(t, 'app');
        run('git', ['clone', '-q', '--branch', registry.controller.source!.ref, seed, image]);
        await mkdir(join(image, 'node_modules'));
        for (const pkg of ['yaml', 'rolldown']) await symlink(join(ROOT, 'node_modules', pkg), join(image, 'node_modules', pkg));
        run(process.execPath, [join(image, 'scripts', 'build.ts')], { cwd: image });

        const podRun = async (): Promise<{ init: string; tick: unknown }> => {
          const work = join(t, `work-${Math.random().toString(36).slice(2)}`);
          await mkdir(work, { recursive: true });
          // One pass, so a temp path that itself holds "/work" is not rewritten twice.
          const relocate = (s: string): string => s.replace(/\/app\b|\/work\b/g, (m) => (m === '/app' ? image : work));
          // The image's node: the one running this test (Node 24), first on the PATH.
          const podEnv = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: work, GIT_TERMINAL_PROMPT: '0' };
          const log = run(command[0]!, [command[1]!, relocate(command[2]!)], {
            env: { ...podEnv, BRANCH_FOLLOWER_SOURCE_REF: env.BRANCH_FOLLOWER_SOURCE_REF, BRANCH_FOLLOWER_SOURCE_URL: `file://${bare}` },
          });
          const head = run('git', ['rev-parse', registry.controller.source!.ref], { cwd: seed }).trim();
          expect(log).toContain(head);
          expect(run('git', ['rev-parse', 'HEAD'], { cwd: join(work, 'src') }).trim()).toBe(head);
          const main = arr(pod.containers)[0]!;
          const argv = (main.command as string[]).map(relocate);
          expect(argv[0]).toBe('sh');
          const out = run('sh', argv.slice(1), { cwd: relocate(main.workingDir as string), env: podEnv });
          return { init: log, tick: { ...rec(parse(out)), argv: argv.slice(2) } };
        };
        const expected = (from: string) => ({ argv: expect.any(Array), n: 1, from });

        // The image was built from the configured ref: the tick starts from the image's snapshot,
        // with the same words after the program.
        const same = await podRun();
        expect(same.init).toContain("running the image's bundle");
        expect(same.tick).toEqual({ ...expected('snapshot'), argv: ['tick', 'observer', '--registry', `${REGISTRY_MOUNT}/${REGISTRY_FILE}`, '--driver', 'kubernetes', '--deadline-seconds', String(TICK_DEADLINE_SECONDS)] });

        // The configured ref moved on: the image's bundle is not that source, so the sources run.
        await writeFile(join(seed, 'src', 'extra.ts'), 'export const x = 1;\n');
        git(seed, 'add', '.');
        git(seed, 'commit', '-q', '-m', 'a newer commit than the image');
        run('git', ['push', '-q', bare, registry.controller.source!.ref], { cwd: seed });
        const moved = await podRun();
        expect(moved.init).toContain('running the sources');
        expect(moved.tick).toEqual(expected('sources'));
      });
    });

    it('the target-reader example is outside the kustomization and grants only TARGET_READER_RULES', async () => {
      const kustomization = rec(parse(await readFile(join(dir, 'kustomization.yaml'), 'utf8')));
      expect(kustomization.resources).not.toContain('target-reader-role.example.yaml');
      const docs = parseDocs(await readFile(join(dir, 'target-reader-role.example.yaml'), 'utf8'));
      const role = one(docs, 'Role');
      expect(role.metadata.namespace).toBe(TARGET_NAMESPACE_PLACEHOLDER);
      expect(role.rules).toEqual(TARGET_READER_RULES.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })));
      expect(one(docs, 'RoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: ns }]);
    });
  });
}

describe('registry ConfigMap encoding', () => {
  const anySegment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
  const anyPath = fc.array(anySegment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
  // What people name config files: no leading or trailing "_" and no "__" in a part.
  const plainSegment = fc
    .array(fc.stringMatching(/^[A-Za-z0-9.-]{1,6}$/), { minLength: 1, maxLength: 3 })
    .map((chunks) => chunks.join('_'))
    .filter((s) => s !== '.' && s !== '..');
  const plainPath = fc.array(plainSegment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
  const tryKey = (p: string): string | null => {
    try {
      return registryKey(p);
    } catch {
      return null;
    }
  };

  it('a path it accepts survives the trip through a ConfigMap key and back', () => {
    fc.assert(
      fc.property(anyPath, (p) => {
        const key = tryKey(p);
        if (key === null) return;
        expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
        expect(registryPathOfKey(key)).toBe(p);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts plain file paths', () => {
    fc.assert(
      fc.property(plainPath, (p) => {
        expect(tryKey(p)).not.toBeNull();
      }),
    );
  });

  it('distinct accepted paths never share a key', () => {
    fc.assert(
      fc.property(anyPath, anyPath, (a, b) => {
        const ka = tryKey(a);
        const kb = tryKey(b);
        if (a !== b && ka !== null && kb !== null) expect(ka).not.toBe(kb);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses paths it could not map back, and registries without the registry file', () => {
    for (const bad of ['a__b.yaml', 'a_/b.yaml', 'a/_b.yaml', '../x.yaml', 'a/../b.yaml', '/etc/x.yaml', 'a b.yaml', 'a//b.yaml', './x.yaml']) {
      expect(() => registryKey(bad), bad).toThrow();
    }
    expect(() => registryConfigMap('ns', { 'other.yaml': 'a: 1\n' })).toThrow(REGISTRY_FILE);
    expect(() => registryConfigMap('ns', { [REGISTRY_FILE]: 'x'.repeat(1_100_000) })).toThrow(/1 MiB/);
  });

  it('the data maps back to the files it was made from', () => {
    const files = { [REGISTRY_FILE]: 'a: 1\n', 'x/y/z.yaml': 'b: 2\n', 'w.yml': '' };
    expect(registryFilesFromData(rec(registryConfigMap('ns', files).data) as Record<string, string>)).toEqual(files);
  });
});

describe('Dockerfile', () => {
  it('builds the image the manifests assume: Node 24, git, production deps in /app, uid 10001, node entrypoint', async () => {
    const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const lines = text.split('\n').map((l) => l.trim());
    // The base is a build argument (a machine that cannot pull builds on a local base), node:24-slim by default.
    expect(lines.find((l) => l.startsWith('ARG BASE='))).toBe('ARG BASE=node:24-slim');
    expect(lines.find((l) => l.startsWith('FROM '))).toBe('FROM ${BASE}');
    expect(text).toMatch(/apt-get install[^\n]*--no-install-recommends[^\n]*\bgit\b/);
    expect(text).toContain('rm -rf /var/lib/apt/lists/*');
    expect(lines).toContain('WORKDIR /app');
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(dirname(IMAGE_NODE_MODULES)).toBe('/app');
    expect(lines).toContain(`USER ${RUN_AS}:${RUN_AS}`);
    expect(lines.find((l) => l.startsWith('ENTRYPOINT'))).toBe('ENTRYPOINT ["node"]');
    // An allow-list context: node_modules, .git and local state never reach the image.
    const ignore = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim());
    expect(ignore).toContain('*');
    expect(ignore.filter((l) => l.startsWith('!')).sort()).toEqual(['!bin/', '!package-lock.json', '!package.json', '!scripts/build.ts', '!src/']);
    // The image's own copy is bundled at build time, as the pods bundle their clone.
    expect(lines).toContain('RUN node scripts/build.ts');
    expect(lines.find((l) => l.startsWith('CMD'))).toBe('CMD ["/app/dist/cli.js", "--help"]');
  });
});

describe('serve on Kubernetes (controller.serve)', () => {
  const withServe = (serve: Obj): Registry => {
    const r = parseRegistry('r.yaml', {
      controller: { namespace: 'bf', driver: 'kubernetes', gitMirror: { readUrl: 'http://mirror/git' }, source: { repo: 'o/controller', ref: 'main' }, serve },
      followers: [],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  };
  const files = { [REGISTRY_FILE]: 'controller: {}\n' };
  const objects = (serve: Obj): K8s[] => renderManifests(withServe(serve), { registryFiles: files }).map((o) => rec(JSON.parse(JSON.stringify(o))) as K8s);

  it('nothing of serve is applied or planned unless enabled; enabled adds its ServiceAccount, Role, RoleBinding, tick-metrics ConfigMap, Deployment and Service', () => {
    const off = objects({ enabled: false, push: { secretEnv: 'PUSH' } });
    expect(off.filter((o) => o.metadata.labels?.[LABEL_COMPONENT] === 'serve')).toEqual([]);
    const on = objects({ enabled: true, port: 9090, push: { secretEnv: 'PUSH' } });
    expect(on.filter((o) => o.metadata.labels?.[LABEL_COMPONENT] === 'serve').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/branch-follower-serve',
      'Role/branch-follower-serve',
      'RoleBinding/branch-follower-serve',
      'ConfigMap/branch-follower-tick-metrics',
      'Deployment/branch-follower-serve',
      'Service/branch-follower-serve',
    ]);
    const role = on.find((o) => o.kind === 'Role' && o.metadata.name === 'branch-follower-serve')!;
    expect(role.rules).toEqual(SERVE_ROLE_RULES.map(roleRule));
    const binding = on.find((o) => o.kind === 'RoleBinding' && o.metadata.name === 'branch-follower-serve')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'branch-follower-serve', namespace: 'bf' }]);
  });

  it('the Deployment runs `serve` on the registry, probes /healthz, is scraped at /metrics, and takes the push secret from a Secret', () => {
    const d = objects({ enabled: true, port: 9090, push: { secretEnv: 'PUSH' } }).find((o) => o.kind === 'Deployment')!;
    const template = rec(rec(d.spec).template);
    expect(rec(template.metadata).annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' });
    const pod = rec(template.spec);
    expect(pod.serviceAccountName).toBe('branch-follower-serve');
    const c = arr(pod.containers)[0]!;
    expect(c.command).toEqual(['sh', `${SOURCE_DIR}/bin/branch-follower`, 'serve', '--registry', `${REGISTRY_MOUNT}/${REGISTRY_FILE}`, '--driver', 'kubernetes', '--listen', '0.0.0.0:9090']);
    expect(arr(c.ports)).toEqual([{ name: 'http', containerPort: 9090, protocol: 'TCP' }]);
    for (const p of ['readinessProbe', 'livenessProbe']) expect(rec(rec(c[p]).httpGet)).toEqual({ path: '/healthz', port: 'http' });
    expect(rec(c.resources).limits).toBeDefined();
    expect(arr(c.env).find((e) => e.name === 'PUSH')).toEqual({ name: 'PUSH', valueFrom: { secretKeyRef: { name: 'branch-follower-push', key: 'secret' } } });
    expect(arr(pod.initContainers).map((i) => i.name)).toEqual(['clone-source']);
    const svc = objects({ enabled: true, port: 9090 }).find((o) => o.kind === 'Service')!;
    expect(rec(svc.spec).ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(rec(svc.spec).selector).toEqual(rec(rec(d.spec).selector).matchLabels);
    // Without a push receiver, no Secret is referenced at all.
    const bare = objects({ enabled: true }).find((o) => o.kind === 'Deployment')!;
    expect(JSON.stringify(bare)).not.toContain('secretKeyRef');
  });

  it('k8s/ always carries serve-rbac.yaml and serve.yaml; the kustomization lists them only when enabled', () => {
    const off = renderManifestFiles(withServe({ enabled: false }), { registryFiles: files });
    expect(Object.keys(off)).toEqual(expect.arrayContaining(['serve-rbac.yaml', 'serve.yaml']));
    expect(rec(parse(off['kustomization.yaml']!)).resources).not.toContain('serve.yaml');
    expect(off['serve.yaml']).toContain('Not part of kustomization.yaml');
    const on = renderManifestFiles(withServe({ enabled: true }), { registryFiles: files });
    expect(rec(parse(on['kustomization.yaml']!)).resources).toEqual(expect.arrayContaining(['serve-rbac.yaml', 'serve.yaml']));
    expect(on['serve.yaml']).not.toContain('Not part of kustomization.yaml');
  });
});
