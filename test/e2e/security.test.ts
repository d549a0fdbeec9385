// Security promises, each checked end to end where it can be: argv never reaches a shell; the
// controller's Role grants exactly what its code calls and nothing on Secrets; every pod meets
// the restricted Pod Security Standard; configRefs cannot leave the config directory; and no
// secret value is ever written to state, events, logs or output.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { dispatchJob } from '../../src/adapters/kubernetes/job-spec.ts';
import { ROLE_RULES, SERVE_ROLE_RULES, TARGET_READER_RULES, allows, type PolicyRule } from '../../src/adapters/kubernetes/rbac.ts';
import { renderManifests } from '../../src/adapters/kubernetes/manifests.ts';
import { parseRegistry } from '../../src/core/registry.ts';
import { runName } from '../../src/core/run-name.ts';
import { createWorld, tickUntil, type World } from '../support/cli-world.ts';
import { createK8sWorld, createSeedWorld, NAMESPACE, type K8sWorld } from '../support/k8s-world.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const A = { id: 'hwlab-jd01-v03', repo: 'pikasTech/HWLAB', branch: 'v0.3' };
const B = { id: 'agentrun-jd01-v02', repo: 'pikasTech/agentrun', branch: 'v0.2' };
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
// Only makes the many CLI starts cheaper (every child inherits it); it changes nothing they do.
const compileCache = await mkdtemp(join(tmpdir(), 'bf-security-cc-'));
process.env.NODE_COMPILE_CACHE = compileCache;
afterAll(async () => {
  delete process.env.NODE_COMPILE_CACHE;
  await rm(compileCache, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});
const local = async (...args: Parameters<typeof createWorld>): Promise<World> => {
  const w = await createWorld(...args);
  cleanups.push(() => w.cleanup());
  return w;
};

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every file under `dir`, relative path -> content. */
const filesUnder = async (dir: string): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(relative(dir, join(e.parentPath, e.name)), await readFile(join(e.parentPath, e.name), 'utf8'));
  }
  return out;
};

const setRegistry = (w: World, edit: (followers: Record<string, unknown>[], controller: Record<string, unknown>) => void): Promise<void> =>
  w.writeRegistry((reg) => edit(reg.followers as Record<string, unknown>[], reg.controller as Record<string, unknown>));

const editLanes = async (w: World, edit: (lanes: Record<string, Record<string, unknown>>) => void): Promise<void> => {
  const file = join(w.configDir, 'lanes.yaml');
  const doc = parse(await readFile(file, 'utf8')) as { lanes: Record<string, Record<string, unknown>> };
  edit(doc.lanes);
  await writeFile(file, stringify(doc));
};

describe('argv never reaches a shell', () => {
  // Each element would do something if a shell ever saw it: expand, substitute, chain, redirect, glob.
  const HOSTILE = [
    '$(touch pwned-subst)',
    '`touch pwned-backtick`',
    '; touch pwned-semicolon',
    '| touch pwned-pipe',
    '&& touch pwned-and',
    '|| touch pwned-or',
    '> pwned-redirect',
    '< /etc/passwd',
    '*',
    '*.yaml',
    '~',
    '$HOME',
    '${BRANCH_FOLLOWER_SHA}',
    "'single quoted'",
    '"double quoted"',
    'two words\tand a tab',
    'a\nnew line; touch pwned-newline',
    '\\',
    '#not a comment',
    '!!',
    '--',
    '-rf',
  ];

  it('hands every element to the trigger command and to the argv-json target reader literally', async () => {
    const w = await local([A]);
    // Real executables started by execve: a shebang script that records the argv it received.
    const record = (file: string, extra: string) =>
      `#!${process.execPath}\nconst fs = require('node:fs');\nfs.writeFileSync(${JSON.stringify(file)}, JSON.stringify(process.argv.slice(2)));\n${extra}\n`;
    await writeFile(join(w.configDir, 'trigger-argv.cjs'), record('trigger-argv.json', "fs.writeFileSync('targets/hwlab-jd01-v03.sha', process.env.BRANCH_FOLLOWER_SHA + '\\n');"));
    await writeFile(
      join(w.configDir, 'target-argv.cjs'),
      record('target-argv.json', "let sha = null; try { sha = fs.readFileSync('targets/hwlab-jd01-v03.sha', 'utf8').trim(); } catch {}\nprocess.stdout.write(JSON.stringify({ sha }));"),
    );
    for (const f of ['trigger-argv.cjs', 'target-argv.cjs']) await chmod(join(w.configDir, f), 0o755);
    await setRegistry(w, (followers) => {
      followers[0]!.command = ['./trigger-argv.cjs', ...HOSTILE];
    });
    await editLanes(w, (lanes) => {
      lanes[A.id]!.target = { reader: 'argv-json', argv: ['./target-argv.cjs', ...HOSTILE] };
    });
    const before = new Set((await filesUnder(w.dir)).keys());
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.armAll();
    const sha = await w.git.commit(A.repo, A.branch);
    expect((await w.cli(['tick', 'observer'])).code).toBe(0);
    await tickUntil(w, async () => (await w.row(A.id)).lastSucceededSha === sha);

    expect(JSON.parse(await readFile(join(w.configDir, 'trigger-argv.json'), 'utf8'))).toEqual(HOSTILE);
    expect(JSON.parse(await readFile(join(w.configDir, 'target-argv.json'), 'utf8'))).toEqual(HOSTILE);
    const created = [...(await filesUnder(w.dir)).keys()].filter((p) => !before.has(p));
    expect(created.filter((p) => /pwned/.test(p))).toEqual([]);
    // Only what the run itself records appeared: the argv records, the target, the state dir.
    expect(created.filter((p) => !/^config\/(state\/|trigger-argv\.json$|target-argv\.json$|targets\/)/.test(p))).toEqual([]);
  });

  it('runs a dispatch Job with the argv as the container command: no shell, no args, no entrypoint wrapper', () => {
    const argv = ['deploy', '$(id)', '; rm -rf /', '*'];
    const job = dispatchJob(
      { followerId: A.id, sha: 'a'.repeat(40), episode: 1, attempt: 1, name: runName(A.id, 'a'.repeat(40), 1, 1), argv, repo: A.repo, branch: A.branch, budgets: { triggerSeconds: 60, closeoutSeconds: 600, maxAttempts: 2 } },
      { namespace: NAMESPACE, image: 'img:1' },
    );
    const containers = job.spec?.template.spec?.containers ?? [];
    expect(containers).toHaveLength(1);
    expect(containers[0]?.command).toEqual(argv);
    expect(containers[0]?.args).toBeUndefined();
    expect(job.spec?.template.spec?.initContainers).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// RBAC

const FORBIDDEN_VERBS = ['escalate', 'bind', 'impersonate', '*'];
const FORBIDDEN_RESOURCES = ['secrets', '*', 'pods/exec', 'pods/attach', 'pods/portforward', 'serviceaccounts/token', 'nodes', 'nodes/proxy', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'];

const ruleProblems = (rules: readonly PolicyRule[], where: string): string[] =>
  rules.flatMap((r, i) => [
    ...r.apiGroups.filter((g) => g === '*').map(() => `${where}[${i}]: wildcard apiGroup`),
    ...r.resources.filter((x) => FORBIDDEN_RESOURCES.includes(x) || x.endsWith('/*')).map((x) => `${where}[${i}]: grants ${x}`),
    ...r.verbs.filter((v) => FORBIDDEN_VERBS.includes(v)).map((v) => `${where}[${i}]: grants the verb ${v}`),
  ]);

/** Every (group, resource, verb) a rule set grants. */
const grants = (rules: readonly PolicyRule[]): Set<string> => new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((x) => r.verbs.map((v) => `${g}/${x}:${v}`)))));

type Obj = Record<string, unknown>;
const kustomize = (): Obj[] =>
  parseAllDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, 'k8s')], { encoding: 'utf8' }))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);

describe('the controller Role', () => {
  it('grants nothing on Secrets, no wildcard, no escalate/bind/impersonate, and only in its own namespace', () => {
    expect(ruleProblems(ROLE_RULES, 'ROLE_RULES')).toEqual([]);
    expect(ruleProblems(TARGET_READER_RULES, 'TARGET_READER_RULES')).toEqual([]);
  });

  it.skipIf(!hasKubectl)('is rendered into k8s/ exactly, namespaced, bound only to the controller ServiceAccount', () => {
    const objs = kustomize();
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').map((o) => o.kind)).toEqual([]);
    const roles = objs.filter((o) => o.kind === 'Role');
    expect(roles).toHaveLength(1);
    const rules = (roles[0]!.rules as PolicyRule[]).map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs }));
    expect(ruleProblems(rules, 'k8s/ Role')).toEqual([]);
    expect(grants(rules)).toEqual(grants(ROLE_RULES));
    for (const rb of objs.filter((o) => o.kind === 'RoleBinding')) {
      expect((rb.subjects as Obj[]).map((s) => s.kind)).toEqual(['ServiceAccount']);
    }
    // No pod mounts a Secret; the only Secret a pod sees is the webhook URL, which the kubelet
    // resolves into the notifier's environment variable (the Role needs no Secret access for it).
    const refs: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (v && typeof v === 'object') {
        const o = v as Obj;
        if ((o.valueFrom as Obj | undefined)?.secretKeyRef) refs.push(`${path} env ${String(o.name)}`);
        for (const [k, x] of Object.entries(o)) {
          if (k === 'secret' || k === 'secretName' || k === 'secretRef') refs.push(`${path}.${k}`);
          else if (k !== 'secretKeyRef') walk(x, `${path}.${k}`);
        }
      }
    };
    walk(objs, 'k8s');
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => !r.endsWith(' env BRANCH_FOLLOWER_WEBHOOK_URL')), 'Secrets a pod reads').toEqual([]);
  });

  it('covers every request of Kubernetes-driver lifecycles, and grants nothing they do not call', async () => {
    const used = new Set<string>();
    const denied: string[] = [];
    let requests = 0;
    const audit = (w: K8sWorld): void => {
      for (const r of w.api.requests.all().filter((x) => x.verb !== 'discovery')) {
        requests++;
        const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
        const own = r.namespace === NAMESPACE;
        if (own) used.add(`${r.group}/${resource}:${r.verb}`);
        if (!allows(own ? ROLE_RULES : TARGET_READER_RULES, r.group, resource, r.verb)) denied.push(`${r.verb} ${r.group}/${resource} in ${r.namespace ?? '(cluster)'}`);
      }
    };
    const runIn = (w: K8sWorld) => async (args: string[], code = 0): Promise<void> => {
      const r = await w.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(code);
    };

    // Generic followers: the controller namespace's own PipelineRuns, a Job adopted after a
    // crash, a Job deleted by onSupersede: cancel, and every verb an operator runs that reads
    // or arms. (plan and apply run with the operator's own rights: apply creates RBAC.)
    const F = { id: 'alpha', repo: 'pikasTech/HWLAB', branch: 'v0.3', checks: ['trigger', 'pipeline', 'target'], onSupersede: 'cancel' as const };
    const g = await createK8sWorld([F]);
    cleanups.push(() => g.cleanup());
    const run = runIn(g);
    g.setTarget(F.id, await g.git.commit(F.repo, F.branch));
    g.api.requests.reset();
    await run(['tick', 'observer']);
    await run(['kill-switch', 'off', '--confirm', '--reason', 'rbac audit']);
    await run(['arm', '--follower', F.id, '--confirm', '--reason', 'rbac audit']);
    const first = await g.git.commit(F.repo, F.branch);
    await run(['run-once', '--all', '--dry-run']);
    // A tick that died after creating the Job and before recording it: the next one adopts it.
    const req = { followerId: F.id, sha: first, episode: 2, attempt: 1, name: runName(F.id, first, 2, 1), argv: ['deploy', '--follower', F.id, '--confirm'], repo: F.repo, branch: F.branch, budgets: { triggerSeconds: 300, closeoutSeconds: 600, maxAttempts: 2 } };
    g.api.store.put('jobs', JSON.parse(JSON.stringify(dispatchJob(req, { namespace: NAMESPACE, image: 'ghcr.io/branch-follower/branch-follower:0.1.0' }))) as Obj);
    await run(['tick', 'observer']);
    expect(g.storedState(F.id)?.inFlight?.name).toBe(req.name);
    g.settleJobs({ deploy: true, pipeline: 'True' });
    await run(['tick', 'closer']);
    expect(g.storedState(F.id)?.lastSucceededSha).toBe(first);
    await g.git.commit(F.repo, F.branch);
    await run(['tick', 'observer']);
    const newest = await g.git.commit(F.repo, F.branch);
    await run(['tick', 'observer']);
    g.settleJobs({ deploy: true, pipeline: 'True' });
    await run(['run-once', '--follower', F.id, '--confirm']);
    expect(g.storedState(F.id)?.lastSucceededSha).toBe(newest);
    // An observer pod writes a dispatch ahead and its Job create fails; the pod is gone when a
    // newer commit comes, and the next tick asks the API server about that pod.
    await g.git.commit(F.repo, F.branch);
    g.api.faults.add({ match: { verb: 'create', resource: 'jobs' }, respond: { status: 403 } });
    const podEnv = { BRANCH_FOLLOWER_POD_NAME: 'branch-follower-observer-29000000-abcde', BRANCH_FOLLOWER_POD_UID: '0b5e7d1c-2f4a-4c6e-8a9b-7c6d5e4f3a2b' };
    expect((await g.cli(['tick', 'observer'], { env: podEnv })).code).toBe(1);
    g.api.faults.clear();
    const latest = await g.git.commit(F.repo, F.branch);
    await run(['tick', 'observer']);
    expect(g.storedState(F.id)?.inFlight?.sha).toBe(latest);
    g.settleJobs({ deploy: true, pipeline: 'True' });
    await run(['tick', 'closer']);
    await run(['status', '--live']);
    await run(['events', '--follower', F.id]);
    await run(['logs', '--follower', F.id]);
    await run(['disarm', '--follower', F.id]);
    await run(['kill-switch', 'on', '--reason', 'rbac audit done']);
    audit(g);

    // The shipped seed followers: their targets (a Deployment, a StatefulSet, a CronJob) and
    // PipelineRuns live in other namespaces, read with the target-reader Role.
    const s = await createSeedWorld({ driver: 'kubernetes' });
    cleanups.push(() => s.cleanup());
    const seeds = [...s.wiring.keys()];
    const repos = [
      ['hwlab-jd01-v03', 'pikasTech/HWLAB', 'v0.3'],
      ['agentrun-jd01-v02', 'pikasTech/agentrun', 'v0.2'],
      ['web-probe-sentinel-master', 'pikasTech/unidesk', 'master'],
    ] as const;
    expect(seeds.sort()).toEqual(repos.map(([id]) => id).sort());
    for (const [id, repo, branch] of repos) s.setTarget(id, await s.git.commit(repo, branch));
    s.api.requests.reset();
    s.armDirect();
    for (const [, repo, branch] of repos) await s.git.commit(repo, branch);
    await runIn(s)(['tick', 'observer']);
    s.settleJobs({ deploy: true, pipeline: 'True' });
    await runIn(s)(['tick', 'closer']);
    for (const id of seeds) expect(s.storedState(id)?.phase, id).toBe('Succeeded');
    await runIn(s)(['status', '--live']);
    audit(s);

    expect(requests).toBeGreaterThan(40);
    expect([...new Set(denied)], 'requests the Roles do not allow').toEqual([]);
    expect([...grants(ROLE_RULES)].filter((x) => !used.has(x)).sort(), 'granted by the Role but never called').toEqual([]);
    console.log(`rbac audit: ${requests} requests, ${used.size} of ${grants(ROLE_RULES).size} granted (group/resource, verb) pairs called, 0 outside the Roles`);
  });
});

// ---------------------------------------------------------------------------------------------
// Pod Security Standard: restricted (https://kubernetes.io/docs/concepts/security/pod-security-standards/)

const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
const SAFE_SYSCTLS = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'];

/** Every check of the baseline and restricted profiles a pod spec can fail, as messages. */
const restrictedViolations = (spec: Obj, where: string): string[] => {
  const out: string[] = [];
  const bad = (m: string) => out.push(`${where}: ${m}`);
  const psc = (spec.securityContext ?? {}) as Obj;
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[k] === true) bad(`${k} is true`);
  for (const v of (spec.volumes ?? []) as Obj[]) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.includes(type)) bad(`volume ${String(v.name)} is of type ${type}`);
  }
  for (const s of (psc.sysctls ?? []) as Obj[]) if (!SAFE_SYSCTLS.includes(String(s.name))) bad(`unsafe sysctl ${String(s.name)}`);
  const seccompOk = (sc: Obj | undefined) => ['RuntimeDefault', 'Localhost'].includes(String((sc?.seccompProfile as Obj | undefined)?.type));
  const containers = [...((spec.initContainers ?? []) as Obj[]), ...((spec.containers ?? []) as Obj[]), ...((spec.ephemeralContainers ?? []) as Obj[])];
  if (containers.length === 0) bad('no containers');
  for (const c of containers) {
    const sc = (c.securityContext ?? {}) as Obj;
    const name = `container ${String(c.name)}`;
    if (sc.privileged === true) bad(`${name} is privileged`);
    if (sc.allowPrivilegeEscalation !== false) bad(`${name} does not set allowPrivilegeEscalation: false`);
    const caps = (sc.capabilities ?? {}) as { add?: string[]; drop?: string[] };
    if (!(caps.drop ?? []).includes('ALL')) bad(`${name} does not drop ALL capabilities`);
    for (const add of caps.add ?? []) if (add !== 'NET_BIND_SERVICE') bad(`${name} adds capability ${add}`);
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) bad(`${name} does not run as non-root`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) bad(`${name} runs as uid 0`);
    if (!seccompOk(sc) && !(sc.seccompProfile === undefined && seccompOk(psc))) bad(`${name} has no RuntimeDefault/Localhost seccomp profile`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') bad(`${name} procMount ${String(sc.procMount)}`);
    for (const p of (c.ports ?? []) as Obj[]) if (p.hostPort !== undefined && p.hostPort !== 0) bad(`${name} uses hostPort ${String(p.hostPort)}`);
    const sel = (sc.seLinuxOptions ?? psc.seLinuxOptions) as Obj | undefined;
    if (sel && (sel.user !== undefined || sel.role !== undefined)) bad(`${name} sets SELinux user/role`);
    const apparmor = (sc.appArmorProfile ?? psc.appArmorProfile) as Obj | undefined;
    if (apparmor && apparmor.type === 'Unconfined') bad(`${name} is AppArmor-unconfined`);
  }
  return out;
};

const jobFor = (argv: string[]) =>
  dispatchJob(
    { followerId: A.id, sha: 'b'.repeat(40), episode: 1, attempt: 2, name: runName(A.id, 'b'.repeat(40), 1, 2), argv, repo: A.repo, branch: A.branch, budgets: { triggerSeconds: 60, closeoutSeconds: 600, maxAttempts: 2 } },
    { namespace: NAMESPACE, image: 'img:1' },
  );

describe('the restricted Pod Security Standard', () => {
  it('the checker itself flags what the profile forbids', () => {
    const privileged = { hostNetwork: true, volumes: [{ name: 'h', hostPath: { path: '/' } }], containers: [{ name: 'c', securityContext: { privileged: true, runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } } }] };
    const found = restrictedViolations(privileged, 'pod').join('\n');
    for (const m of ['hostNetwork', 'hostPath', 'privileged', 'allowPrivilegeEscalation', 'drop ALL', 'SYS_ADMIN', 'non-root', 'uid 0', 'seccomp']) expect(found).toContain(m);
  });

  it('holds for the dispatch Job', () => {
    const job = JSON.parse(JSON.stringify(jobFor(['deploy']))) as { spec: { template: { spec: Obj } } };
    expect(restrictedViolations(job.spec.template.spec, 'dispatch Job')).toEqual([]);
  });

  it("holds for serve's Deployment (rendered from a registry that enables it), whose root filesystem is read-only", () => {
    const reg = parse(readFileSync(join(ROOT, 'config', 'cicd-branch-followers.yaml'), 'utf8')) as { controller: { serve: Obj } };
    reg.controller.serve = { enabled: true, push: { secretEnv: 'BRANCH_FOLLOWER_PUSH_SECRET' } };
    const parsed = parseRegistry('registry', reg);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const objs = JSON.parse(JSON.stringify(renderManifests(parsed.value, { registryFiles: { 'cicd-branch-followers.yaml': '' } }))) as Obj[];
    const deployment = objs.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: Obj } } } | undefined;
    expect(deployment).toBeDefined();
    const spec = deployment!.spec.template.spec;
    expect(restrictedViolations(spec, 'Deployment branch-follower-serve')).toEqual([]);
    for (const c of [...(spec.initContainers as Obj[]), ...(spec.containers as Obj[])]) expect((c.securityContext as Obj).readOnlyRootFilesystem, String(c.name)).toBe(true);
    // serve's own Role: nothing on Secrets, no wildcard; the secret reaches it only as an env var the kubelet resolves.
    expect(ruleProblems(SERVE_ROLE_RULES, 'SERVE_ROLE_RULES')).toEqual([]);
    expect(objs.filter((o) => o.kind === 'Role').map((o) => (o.metadata as Obj).name)).toEqual(['branch-follower', 'branch-follower-serve']);
  });

  it.skipIf(!hasKubectl)('holds for every pod template rendered from k8s/', () => {
    const cronJobs = kustomize().filter((o) => o.kind === 'CronJob');
    expect(cronJobs.length).toBeGreaterThanOrEqual(2);
    for (const cj of cronJobs) {
      const spec = ((((cj.spec as Obj).jobTemplate as Obj).spec as Obj).template as Obj).spec as Obj;
      expect(restrictedViolations(spec, `CronJob ${String((cj.metadata as Obj).name)}`)).toEqual([]);
    }
    // The namespace enforces the profile too, so a pod that slipped through would be refused.
    const ns = kustomize().find((o) => o.kind === 'Namespace');
    expect(((ns?.metadata as Obj | undefined)?.labels as Record<string, string> | undefined)?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

// ---------------------------------------------------------------------------------------------
// configRefs

describe('configRefs cannot escape the config directory', () => {
  it('refuses "..", absolute paths, a symlinked file and a symlinked directory leading out; nothing outside is read', async () => {
    const w = await local([A, B]);
    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    const marker = `outside-${randomBytes(6).toString('hex')}`;
    // An owning config outside the config dir that would resolve fine if it were followed.
    const outside = join(w.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'lanes.yaml'), stringify({ lanes: { x: { source: { repo: A.repo, branch: A.branch }, target: { reader: 'file', path: `/tmp/${marker}` } } } }));
    await symlink('../outside/lanes.yaml', join(w.configDir, 'linked.yaml'));
    await symlink('../outside', join(w.configDir, 'linked-dir'));

    for (const [ref, pattern] of [
      ['../outside/lanes.yaml#lanes.x.target', /followers\[0\]\.target\.configRef: the file must stay inside the config directory/],
      [`${outside}/lanes.yaml#lanes.x.target`, /followers\[0\]\.target\.configRef: the file must stay inside the config directory/],
    ] as const) {
      await setRegistry(w, (followers) => void ((followers[0]!.target as Obj).configRef = ref));
      const r = await w.cli(['tick', 'observer']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    for (const ref of ['linked.yaml#lanes.x.target', 'linked-dir/lanes.yaml#lanes.x.target']) {
      await setRegistry(w, (followers) => void ((followers[0]!.target as Obj).configRef = ref));
      const r = await w.cli(['tick', 'observer']);
      const row = await w.row(A.id);
      expect(row.phase).toBe('Blocked');
      expect(row.reason).toMatch(new RegExp(`^target configRef unresolvable: ${escapeRe(ref.split('#')[0] ?? '')}(#[\\w.-]+)?: resolves outside the config directory`));
      expect(r.stdout + r.stderr).not.toContain(marker);
      expect((await w.row(B.id)).phase).toBe('Noop');
    }
    const plan = await w.cli(['plan']);
    expect(plan.stdout + plan.stderr).not.toContain(marker);
    for (const [p, text] of await filesUnder(w.stateDir)) expect(text.includes(marker), p).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets

type Hook = { url: (path: string) => string; bodies: string[]; paths: string[]; close: () => Promise<void> };
const startHook = async (respond: (req: IncomingMessage) => number): Promise<Hook> => {
  const bodies: string[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      bodies.push(body);
      paths.push(req.url ?? '');
      const status = respond(req);
      res.writeHead(status, status === 302 ? { location: 'http://127.0.0.1:1/elsewhere' } : {});
      res.end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    bodies,
    paths,
    close: () => new Promise((r) => server.close(() => r())),
  };
};

describe('no secret value is ever written to state, events or logs', () => {
  it('a webhook token and an owning config with a secretRef: absent from state, events, run logs and output; the trigger environment lacks the webhook variable', async () => {
    const token = `xoxb-${randomBytes(12).toString('hex')}`;
    const hook = await startHook((req) => (req.url?.includes('/fail/') ? 500 : req.url?.includes('/redirect/') ? 302 : 200));
    cleanups.push(hook.close);
    const w = await local([A, B], { budgets: { maxAttempts: 2 } });
    const VAR = 'BRANCH_FOLLOWER_WEBHOOK_URL';
    await setRegistry(w, (followers, controller) => {
      controller.notify = { webhookUrlEnv: VAR };
      for (const f of followers) f.command = ['./deploy-env.sh'];
    });
    // The deploy dumps its whole environment, so a leaked variable would be seen.
    await writeFile(join(w.configDir, 'deploy-env.sh'), '#!/bin/sh\nenv > "env-$BRANCH_FOLLOWER_ID-$BRANCH_FOLLOWER_ATTEMPT.txt"\nexec ./deploy.sh\n');
    await chmod(join(w.configDir, 'deploy-env.sh'), 0o755);
    // Secrets live in owning configs by reference only.
    await editLanes(w, (lanes) => {
      for (const l of Object.values(lanes)) l.secrets = { deployToken: { secretRef: { name: 'deploy-token', key: 'token' } } };
    });

    const outputs: string[] = [];
    const run = async (args: string[], url = hook.url(`/services/T0/B0/${token}`)): Promise<void> => {
      const r = await w.cli(args, { env: { [VAR]: url } });
      outputs.push(r.stdout, r.stderr);
    };
    const ticks = async (done: () => Promise<boolean>, url?: string): Promise<void> => {
      for (let i = 0; i < 40 && !(await done()); i++) {
        await new Promise((r) => setTimeout(r, 150));
        await run(['tick', 'closer'], url);
        await run(['tick', 'observer'], url);
      }
      expect(await done()).toBe(true);
    };

    await w.setTarget(A.id, await w.git.commit(A.repo, A.branch));
    await w.setTarget(B.id, await w.git.commit(B.repo, B.branch));
    await w.armAll();
    await run(['tick', 'observer']);
    // Succeeded
    const good = await w.git.commit(A.repo, A.branch);
    await ticks(async () => (await w.row(A.id)).lastSucceededSha === good);
    // Failed, retried, Blocked
    await w.failDeploys(A.id, true);
    await w.git.commit(A.repo, A.branch);
    await ticks(async () => (await w.row(A.id)).phase === 'Blocked');
    // Receivers that fail, redirect, or a URL carrying the token as credentials: the error
    // paths log about the webhook without the URL.
    await w.failDeploys(B.id, true);
    await w.git.commit(B.repo, B.branch);
    await ticks(async () => (await w.row(B.id)).phase === 'Failed' || (await w.row(B.id)).phase === 'Blocked', hook.url(`/fail/${token}`));
    await ticks(async () => (await w.row(B.id)).phase === 'Blocked', hook.url(`/redirect/${token}`));
    await w.failDeploys(B.id, false);
    const fixed = await w.git.commit(B.repo, B.branch);
    await ticks(async () => (await w.row(B.id)).lastSucceededSha === fixed, `http://bot:${token}@127.0.0.1:1/hook`);

    for (const args of [['status', '-o', 'json'], ['status', '--live', '-o', 'yaml'], ['events', '--follower', A.id, '-o', 'json'], ['events', '--follower', B.id], ['logs', '--follower', A.id], ['logs', '--follower', B.id], ['plan'], ['run-once', '--all', '--dry-run']]) {
      await run(args);
    }

    // The notifier really used the URL (so the token was in play), and posted no secret itself.
    expect(hook.paths.filter((p) => p.includes(token)).length).toBeGreaterThanOrEqual(3);
    expect(hook.bodies.some((b) => b.includes('Succeeded')) && hook.bodies.some((b) => b.includes('Blocked'))).toBe(true);
    for (const b of hook.bodies) expect(b).not.toContain(token);
    const logged = outputs.join('\n');
    expect(logged).toMatch(/webhook notification for .* failed: HTTP 500/);
    expect(logged).not.toContain(token);
    for (const [p, text] of await filesUnder(w.stateDir)) expect(text.includes(token), `${p} holds the token`).toBe(false);
    const envs = [...(await filesUnder(w.configDir))].filter(([p]) => p.startsWith('env-'));
    expect(envs.length).toBeGreaterThanOrEqual(4);
    for (const [p, text] of envs) {
      expect(text, p).toContain('BRANCH_FOLLOWER_SHA=');
      expect(text, p).not.toContain(VAR);
      expect(text, p).not.toContain(token);
    }
  });
});

describe('no echoed content, no echoed secrets', () => {
  it('a read URL with credentials is refused naming the user, never the password', async () => {
    const w = await local([A]);
    const password = `Pw-${randomBytes(8).toString('hex')}`;
    await setRegistry(w, (_f, controller) => {
      controller.gitMirror = { readUrl: `http://alice:${password}@127.0.0.1:1/git` };
    });
    for (const args of [['plan'], ['status'], ['tick', 'observer'], ['run-once', '--all', '--dry-run']]) {
      const r = await w.cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('controller.gitMirror.readUrl');
      expect(r.stderr).toContain('http://alice:***@127.0.0.1:1/git');
      expect(r.stdout + r.stderr).not.toContain(password);
    }
  });

  it('a file target that resolves to the wrong file (a passwd file holding a token) is described, never copied into state, events, notifications or output', async () => {
    const token = `xoxb-${randomBytes(12).toString('hex')}`;
    const hook = await startHook(() => 200);
    cleanups.push(hook.close);
    // The target reader's budget is the trigger budget: 1 s, so the follower is Blocked (and notified) soon.
    const w = await local([A], { budgets: { triggerSeconds: 1 } });
    const VAR = 'BRANCH_FOLLOWER_WEBHOOK_URL';
    await setRegistry(w, (_f, controller) => {
      controller.notify = { webhookUrlEnv: VAR };
    });
    const passwd = `root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nsvc:${token}:1000:1000::/home/svc:/bin/sh\n`;
    await writeFile(join(w.configDir, 'passwd'), passwd);
    await symlink(join(w.configDir, 'passwd'), join(w.configDir, 'targets', `${A.id}.sha`));
    await w.git.commit(A.repo, A.branch);
    const outputs: string[] = [];
    const run = async (args: string[]): Promise<void> => {
      const r = await w.cli(args, { env: { [VAR]: hook.url(`/services/T0/B0/${token}`) } });
      outputs.push(r.stdout, r.stderr);
    };
    await run(['tick', 'observer']);
    expect((await w.row(A.id)).reason).toMatch(/: holds 3 lines; expected one line with a commit sha/);
    await new Promise((r) => setTimeout(r, 1500));
    await run(['tick', 'observer']);
    expect((await w.row(A.id)).phase).toBe('Blocked');
    for (const args of [['status', '-o', 'json'], ['status', '--live'], ['events', '--follower', A.id, '-o', 'json'], ['run-once', '--all', '--dry-run']]) await run(args);
    expect(hook.bodies.some((b) => b.includes('Blocked'))).toBe(true);

    const leaks = ['root:x', '/bin/bash', 'nologin', token];
    const stored = [...(await filesUnder(w.stateDir)).values()].join('\n');
    for (const text of [stored, outputs.join('\n'), ...hook.bodies]) for (const leak of leaks) expect(text).not.toContain(leak);
  });
});
