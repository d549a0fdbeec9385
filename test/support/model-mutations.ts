// Proves the model-based fault suite has teeth: each mutation removes one guard the suite checks,
// in a scratch copy of the tree (the working tree is never touched), runs the suite there at its
// default size, and reports whether it failed and with what. Every mutation must be caught.
//
//   npx node test/support/model-mutations.ts            # all of them
//   npx node test/support/model-mutations.ts M1 M8      # some
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

type Suite = 'local' | 'kubernetes';
export type Mutation = { id: string; what: string; file: string; from: string; to: string; suites: Suite[] };

export const MUTATIONS: readonly Mutation[] = [
  { id: 'M1', what: 'observer skips the gate re-read before dispatching', file: 'src/loops/observer.ts', from: 'const g = await gateNow(id);', to: 'const g = gate; void gateNow;', suites: ['local'] },
  { id: 'M2', what: 'casApply overwrites on conflict instead of re-reading', file: 'src/loops/cas.ts', from: '      entry = fresh;', to: '      entry = { version: fresh.version, state: entry.state };', suites: ['local'] },
  {
    id: 'M3a',
    what: 'Kubernetes dispatcher re-creates under another name instead of adopting',
    file: 'src/adapters/kubernetes/dispatcher.ts',
    from: 'if (isAlreadyExists(e)) return adopt(req);',
    to: "if (isAlreadyExists(e)) { void adopt; const again = { ...body, metadata: { ...body.metadata, name: `${req.name.slice(0, 55)}-r${Math.floor(Math.random() * 1000)}` } }; await c.call(() => c.batch.createNamespacedJob({ namespace, body: again })); return { name: req.name, kind: 'Job', startedAt: new Date().toISOString(), adopted: false }; }",
    suites: ['kubernetes'],
  },
  { id: 'M3b', what: 'Kubernetes dispatcher fails on AlreadyExists instead of adopting', file: 'src/adapters/kubernetes/dispatcher.ts', from: 'if (isAlreadyExists(e)) return adopt(req);', to: "if (isAlreadyExists(e)) { void adopt; throw new Error('exists'); }", suites: ['kubernetes'] },
  {
    id: 'M4',
    what: 'dispatch before the write-ahead PendingTrigger write',
    file: 'src/loops/observer.ts',
    from: '  const out = await casApply(ctx, id, start, compute);',
    to: [
      '  {',
      '    const pre = observe(start.state, observationFor(p, start.state, extra), gate, p.policy, ctx.now());',
      "    const pd = pre.effects.find((e) => e.kind === 'dispatch');",
      '    if (pd && p.resolution.ok && (await gateNow(id)).armed) await ctx.ports.dispatcher.dispatch({ followerId: id, sha: pd.sha, attempt: pd.attempt, name: pd.name, argv: p.follower.command, repo: p.resolution.spec.source.repo, branch: p.resolution.spec.source.branch, budgets: p.policy.budgets });',
      '  }',
      '  const out = await casApply(ctx, id, start, compute);',
    ].join('\n'),
    suites: ['local'],
  },
  { id: 'M5', what: 'dry-run guards pass writes through', file: 'src/loops/dry-run.ts', from: 'export const guardWrites = (p: Ports): Ports => ({', to: 'export const guardWrites = (p: Ports): Ports => p;\nexport const guardWritesUnused = (p: Ports): Ports => ({', suites: ['local'] },
  { id: 'M6', what: 'observer ignores ctx.dryRun', file: 'src/loops/observer.ts', from: '  if (ctx.dryRun) {\n    const next = await compute(start.state);', to: '  if (false) {\n    const next = await compute(start.state);', suites: ['local'] },
  { id: 'M7', what: 'closer reads the target together with the trigger', file: 'src/loops/closer.ts', from: "const targets = need.filter((n) => n.check === 'target');", to: "const targets = need.filter((n) => n.check === 'target' || n.check === 'trigger');", suites: ['local'] },
  { id: 'M8', what: 'Kubernetes state update without resourceVersion', file: 'src/adapters/kubernetes/state-store.ts', from: '...(resourceVersion !== undefined ? { resourceVersion } : {}),', to: '...({}),', suites: ['kubernetes'] },
  { id: 'M9', what: 'local state update ignores the version', file: 'src/adapters/local/state-store.ts', from: 'if (String(current.version) !== version) throw', to: 'if (false) throw', suites: ['local'] },
  { id: 'M10', what: 'observer skips the cancel of a superseded run (onSupersede: cancel)', file: 'src/loops/observer.ts', from: "if (!ctx.dryRun) for (const e of r.effects) if (e.kind === 'cancel') await ctx.ports.dispatcher.cancel(e.name);", to: 'void 0;', suites: ['local'] },
  { id: 'M11', what: 'closer skips the cancel of a run past its budget', file: 'src/loops/closer.ts', from: '&& first.cancel) await ctx.ports.dispatcher.cancel(run.name);', to: '&& first.cancel) void 0;', suites: ['local'] },
  { id: 'M12', what: 'won writes deliver nothing from their outbox', file: 'src/loops/cas.ts', from: 'const after = await deliver(ctx, written, (next.outbox?.items ?? []).filter((it) => keys.has(it.key)))', to: 'const after = await deliver(ctx, written, [])', suites: ['local'] },
  { id: 'M13', what: 'ticks never deliver what earlier ticks left in an outbox', file: 'src/loops/outbox.ts', from: '  if (ctx.dryRun) return [...stored];', to: '  if (ctx.dryRun || stored.length >= 0) return [...stored];', suites: ['local'] },
  { id: 'M14', what: 'each delivery posts a notification twice', file: 'src/loops/outbox.ts', from: '      await ctx.ports.notifier.notify(i.notification);', to: '      await ctx.ports.notifier.notify(i.notification); await ctx.ports.notifier.notify(i.notification);', suites: ['local'] },
];

const ROOT = join(import.meta.dirname, '..', '..');
const SUITE_FILE: Record<Suite, string> = { local: 'test/loops/model-local.test.ts', kubernetes: 'test/loops/model-k8s.test.ts' };

const run = (cwd: string, args: string[]): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });

export const runMutation = async (m: Mutation): Promise<{ caught: boolean; lines: string[] }> => {
  const dir = await mkdtemp(join(tmpdir(), 'bf-mutant-'));
  try {
    const skip = new Set(['node_modules', '.git', 'test-results']);
    await cp(ROOT, dir, { recursive: true, filter: (src) => !(src !== ROOT && skip.has(basename(src)) && join(src, '..') === ROOT) });
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const file = join(dir, m.file);
    const text = await readFile(file, 'utf8');
    const n = text.split(m.from).length - 1;
    if (n !== 1) return { caught: false, lines: [`the guard's code was not found exactly once in ${m.file} (${n} times): update this mutation`] };
    await writeFile(file, text.replace(m.from, m.to));
    let caught = true;
    const lines: string[] = [];
    for (const suite of m.suites) {
      const r = await run(dir, [join('node_modules', 'vitest', 'vitest.mjs'), 'run', SUITE_FILE[suite]]);
      const counterexample = /Counterexample: (.*)/.exec(r.out)?.[1] ?? '-';
      const violation = /Caused by: \w+: (.*)/.exec(r.out)?.[1] ?? '-';
      caught &&= r.code !== 0;
      lines.push(`[${suite}] ${r.code !== 0 ? 'CAUGHT' : 'SURVIVED'}; counterexample: ${counterexample}; check: ${violation}`);
    }
    return { caught, lines };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const only = new Set(process.argv.slice(2));
  let survived = 0;
  for (const m of MUTATIONS.filter((x) => only.size === 0 || only.has(x.id))) {
    const r = await runMutation(m);
    if (!r.caught) survived++;
    console.log(`${m.id} ${m.what} (${m.file})\n  ${r.lines.join('\n  ')}`);
  }
  process.exitCode = survived > 0 ? 1 : 0;
}
