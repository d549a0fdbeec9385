import { hostname, userInfo } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BadInputError } from './adapters/config/input-error.ts';
import { enableStartupCache } from './compile-cache.ts';
import { DEFAULT_REGISTRY, loadRegistry, type LoadedRegistry } from './adapters/config/registry-file.ts';
import { CorruptStateError } from './adapters/ports.ts';
import type { ArmingEdit } from './core/arming.ts';
import { formatInputError } from './core/registry.ts';
import { changeArming } from './loops/arming.ts';
import { compose, kubernetesDriver, localStateDir, namespaceOf } from './loops/compose.ts';
import type { LoopContext } from './loops/context.ts';
import { closerTick } from './loops/closer.ts';
import { listEvents, readLogs } from './loops/inspect.ts';
import { observerTick, type TickReport } from './loops/observer.ts';
import { planFollowers } from './loops/plan.ts';
import { unknownFollowers } from './loops/prepare.ts';
import { runOnce } from './loops/run-once.ts';
import { status } from './loops/status.ts';
import { makePaint, renderStatus, table } from './render.ts';

export type Io = {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
};

class UsageError extends Error {
  override name = 'UsageError';
}

const COMMON = {
  registry: { type: 'string' },
  driver: { type: 'string' },
  'state-dir': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type Verb = {
  summary: string;
  usage: string;
  options: ParseArgsConfig['options'];
  positionals?: number;
};

const VERBS: Record<string, Verb> = {
  plan: { summary: 'show the followers, their configRef summaries and what apply would change', usage: 'plan', options: {} },
  apply: { summary: 'deploy or update the controller on the cluster', usage: 'apply [--confirm] [--wait]', options: { confirm: { type: 'boolean' }, wait: { type: 'boolean' } } },
  status: {
    summary: 'show each follower from the state store (--live adds fresh reads; writes nothing)',
    usage: 'status [--live] [--follower ID] [-o table|wide|json|yaml]',
    options: { live: { type: 'boolean' }, follower: { type: 'string', multiple: true }, output: { type: 'string', short: 'o' } },
  },
  'run-once': {
    summary: 'one observer and one closer tick (--dry-run shows what would happen)',
    usage: 'run-once (--all | --follower ID...) (--dry-run | --confirm [--wait])',
    options: {
      all: { type: 'boolean' },
      follower: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      confirm: { type: 'boolean' },
      wait: { type: 'boolean' },
      'poll-seconds': { type: 'string' },
      'timeout-seconds': { type: 'string' },
    },
  },
  events: { summary: "a follower's transitions (events merged with stored history)", usage: 'events --follower ID [-o table|json]', options: { follower: { type: 'string' }, output: { type: 'string', short: 'o' } } },
  logs: { summary: "the log of a follower's latest dispatch", usage: 'logs --follower ID', options: { follower: { type: 'string' } } },
  arm: { summary: 'add a follower to the allowlist (needs --confirm)', usage: 'arm --follower ID --confirm [--reason TEXT] [--by WHO]', options: { follower: { type: 'string' }, confirm: { type: 'boolean' }, reason: { type: 'string' }, by: { type: 'string' } } },
  disarm: { summary: 'remove a follower (or all) from the allowlist: instant', usage: 'disarm (--follower ID | --all) [--reason TEXT] [--by WHO]', options: { follower: { type: 'string' }, all: { type: 'boolean' }, reason: { type: 'string' }, by: { type: 'string' } } },
  'kill-switch': { summary: 'on: brake now (instant); off: release (needs --confirm)', usage: 'kill-switch (on | off --confirm) [--reason TEXT] [--by WHO]', options: { confirm: { type: 'boolean' }, reason: { type: 'string' }, by: { type: 'string' } }, positionals: 1 },
  tick: { summary: 'run one tick of a loop: what each CronJob runs', usage: 'tick (observer | closer) [--deadline-seconds N] [-o text|json]', options: { 'deadline-seconds': { type: 'string' }, output: { type: 'string', short: 'o' } }, positionals: 1 },
};

const globalHelp = (): string =>
  [
    'branch-follower: follows git branches on the cluster git mirror and deploys each new commit once.',
    '',
    'Usage: branch-follower <verb> [flags]',
    '',
    ...Object.entries(VERBS).map(([v, d]) => `  ${v.padEnd(12)} ${d.summary}`),
    '',
    'Common flags: --registry PATH (default config/cicd-branch-followers.yaml), --driver local|kubernetes,',
    '  --state-dir DIR (local), --kubeconfig PATH, --context NAME, -n/--namespace NS, -h/--help',
    'Exit codes: 0 success, 1 a follower failed or is blocked (when waiting) or a tick had errors, 2 bad usage or bad input.',
  ].join('\n');

const verbHelp = (name: string, v: Verb): string => `Usage: branch-follower ${v.usage}\n\n${v.summary}\n\nCommon flags: --registry PATH, --driver local|kubernetes, --state-dir DIR, --kubeconfig PATH, --context NAME, -n NS, -h`;

const who = (env: NodeJS.ProcessEnv, by: string | undefined): string => {
  if (by) return by;
  let user = env.USER ?? env.LOGNAME;
  try {
    user ??= userInfo().username;
  } catch {
    user ??= 'unknown';
  }
  return `${user}@${hostname()}`;
};

const seconds = (flag: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number of seconds, not ${JSON.stringify(v)}`);
  return n;
};

export const main = async (argv: string[], io: Io): Promise<number> => {
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  const [verbName, ...rest] = argv;
  if (!verbName || verbName === '--help' || verbName === '-h' || verbName === 'help') {
    out(globalHelp());
    return verbName ? 0 : 2;
  }
  if (verbName === '--version') {
    out('branch-follower 0.1.0');
    return 0;
  }
  const verb = VERBS[verbName];
  if (!verb) {
    err(`branch-follower: unknown verb "${verbName}"\n\n${globalHelp()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { ...COMMON, ...verb.options }, allowPositionals: true, strict: true });
    if (values.help) {
      out(verbHelp(verbName, verb));
      return 0;
    }
    if (positionals.length !== (verb.positionals ?? 0)) throw new UsageError(`expected: branch-follower ${verb.usage}`);
    const v = values as Record<string, string | boolean | string[] | undefined>;
    const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
    const flag = (k: string): boolean => v[k] === true;
    const list = (k: string): string[] => (Array.isArray(v[k]) ? (v[k] as string[]) : typeof v[k] === 'string' ? [v[k] as string] : []);
    const driver = str('driver');
    if (driver !== undefined && driver !== 'local' && driver !== 'kubernetes') throw new UsageError(`--driver must be local or kubernetes, not ${JSON.stringify(driver)}`);

    const loaded = await loadRegistry(str('registry') ?? DEFAULT_REGISTRY, io.cwd);
    const paint = makePaint(io.stdout, io.env);
    const cluster = { kubeconfig: str('kubeconfig'), context: str('context'), namespace: str('namespace') };
    const ctxFor = (dryRun: boolean, deadlineSeconds?: number): Promise<LoopContext> =>
      compose({ loaded, driver, dryRun, stateDir: str('state-dir'), log: (l) => err(l), env: io.env, deadlineSeconds, ...cluster });
    const onKubernetes = (driver ?? loaded.registry.controller.driver) === 'kubernetes';
    const namespace = namespaceOf({ loaded, namespace: cluster.namespace });
    const followerFlag = (k = 'follower'): Set<string> | undefined => {
      const ids = list(k);
      if (ids.length === 0) return undefined;
      const unknown = unknownFollowers(loaded.registry, ids);
      if (unknown.length) throw new UsageError(`unknown follower(s) ${unknown.join(', ')} in ${loaded.display}`);
      return new Set(ids);
    };

    switch (verbName) {
      case 'plan': {
        const plan = await planFollowers(await ctxFor(true));
        out(plan.text);
        if (!onKubernetes) return plan.ok ? 0 : 1;
        try {
          const { planManifests, renderDiff } = await import('./loops/apply.ts');
          const diff = await planManifests(await kubernetesDriver({ loaded, ...cluster }, io.env, null), loaded, namespace);
          out(`\nmanifests against the live cluster (namespace ${namespace}):\n${renderDiff(diff)}`);
        } catch (e) {
          err(`cannot diff the manifests against the cluster: ${(e as Error).message}`);
          return 1;
        }
        return plan.ok ? 0 : 1;
      }
      case 'apply': {
        if (!onKubernetes) {
          out(`the local driver has nothing to deploy: its state lives in ${localStateDir(loaded, str('state-dir'))}; schedule \`branch-follower tick observer\` and \`branch-follower tick closer\` (e.g. from cron) every minute.`);
          return 0;
        }
        const { applyController, planManifests, renderDiff } = await import('./loops/apply.ts');
        const drv = await kubernetesDriver({ loaded, ...cluster }, io.env, null);
        if (!flag('confirm')) {
          const diff = await planManifests(drv, loaded, namespace);
          out(`would apply to namespace ${namespace} (nothing changed: add --confirm to do it):\n${renderDiff(diff)}`);
          return 0;
        }
        const r = await applyController(drv, loaded, namespace, { wait: flag('wait'), timeoutMs: 120_000 });
        out(r.text);
        return 0;
      }
      case 'status': {
        const output = (str('output') ?? 'table') as 'table' | 'wide' | 'json' | 'yaml';
        if (!['table', 'wide', 'json', 'yaml'].includes(output)) throw new UsageError(`-o must be table, wide, json or yaml, not ${JSON.stringify(output)}`);
        const r = await status(await ctxFor(true), { live: flag('live'), only: followerFlag() });
        out(renderStatus(r.rows, output, paint, r.mirror));
        for (const p of r.problems) err(p);
        return r.problems.some((p) => p.includes('corrupt')) ? 2 : 0;
      }
      case 'run-once': {
        const all = flag('all');
        const only = followerFlag();
        if (all === !!only) throw new UsageError('run-once needs exactly one of --all or --follower ID');
        const confirm = flag('confirm');
        const dryRun = flag('dry-run') || !confirm;
        if (flag('dry-run') && confirm) throw new UsageError('--dry-run and --confirm exclude each other');
        if (!confirm && !flag('dry-run')) err('without --confirm nothing is written or dispatched; this is what would happen:');
        const ctx = await ctxFor(dryRun);
        const r = await runOnce(ctx, {
          only,
          wait: flag('wait') && !dryRun,
          pollMs: seconds('poll-seconds', str('poll-seconds'), 2) * 1000,
          timeoutMs: seconds('timeout-seconds', str('timeout-seconds'), 3600) * 1000,
          progress: (l) => (dryRun ? undefined : err(l)),
        });
        const rows = r.followers.map((f) => [f.id, f.phase ?? '-', describe(f, dryRun), f.error ?? f.reason]);
        out(table(['ID', dryRun ? 'WOULD-BE PHASE' : 'PHASE', dryRun ? 'WOULD' : 'DID', 'REASON'], rows, { index: 1, paint }));
        if (r.timedOut) err('gave up waiting (--timeout-seconds); the runs go on and the next ticks close them out');
        if (r.followers.some((f) => f.error?.includes('corrupt'))) return 2;
        const bad = r.followers.some((f) => f.phase === 'Failed' || f.phase === 'Blocked' || f.error);
        return flag('wait') && (bad || r.timedOut) ? 1 : r.followers.some((f) => f.error) ? 1 : 0;
      }
      case 'events': {
        const id = str('follower');
        if (!id) throw new UsageError('events needs --follower ID');
        const format = str('output') ?? 'table';
        if (format !== 'table' && format !== 'json') throw new UsageError(`-o must be table or json, not ${JSON.stringify(format)}`);
        followerFlag();
        const events = await listEvents(await ctxFor(true), id);
        if (format === 'json') out(JSON.stringify({ follower: id, events }, null, 2));
        else out(table(['AT', 'FROM', 'TO', 'SHA', 'ATTEMPT', 'REASON'], events.map((e) => [e.at, e.from, e.to, e.sha?.slice(0, 12) ?? '-', String(e.attempt ?? '-'), e.reason]), { index: 2, paint }));
        return 0;
      }
      case 'logs': {
        const id = str('follower');
        if (!id) throw new UsageError('logs needs --follower ID');
        followerFlag();
        out(await readLogs(await ctxFor(true), id));
        return 0;
      }
      case 'arm':
      case 'disarm':
      case 'kill-switch': {
        let edit: ArmingEdit;
        let needsConfirm = false;
        if (verbName === 'kill-switch') {
          const pos = positionals[0];
          if (pos !== 'on' && pos !== 'off') throw new UsageError('kill-switch takes on or off');
          edit = { kind: 'kill-switch', on: pos === 'on' };
          needsConfirm = pos === 'off';
        } else if (verbName === 'arm') {
          const id = str('follower');
          if (!id) throw new UsageError('arm needs --follower ID');
          followerFlag();
          edit = { kind: 'arm', id };
          needsConfirm = true;
        } else {
          const id = str('follower');
          if (flag('all') === !!id) throw new UsageError('disarm needs exactly one of --follower ID or --all');
          edit = id ? { kind: 'disarm', id } : { kind: 'disarm-all' };
        }
        const apply = !needsConfirm || flag('confirm');
        const ch = await changeArming(await ctxFor(!apply), edit, { by: who(io.env, str('by')), reason: str('reason') ?? '' }, apply);
        const summary = `kill switch ${ch.after.killSwitch.on ? 'ON (braked)' : 'off'}; allowlist: ${ch.after.allowlist.map((e) => e.id).join(', ') || '(empty)'}`;
        if (!apply) out(`would set: ${summary}\nnothing changed: add --confirm to do it`);
        else out(`${ch.written ? 'set' : 'already'}: ${summary}`);
        return 0;
      }
      case 'tick': {
        const loop = positionals[0];
        if (loop !== 'observer' && loop !== 'closer') throw new UsageError('tick takes observer or closer');
        const format = str('output') ?? 'text';
        if (format !== 'text' && format !== 'json') throw new UsageError(`-o must be text or json, not ${JSON.stringify(format)}`);
        const ctx = await ctxFor(false, seconds('deadline-seconds', str('deadline-seconds'), 200));
        const r: TickReport = loop === 'observer' ? await observerTick(ctx) : await closerTick(ctx);
        if (format === 'json') out(JSON.stringify({ loop: r.loop, stoppedAtDeadline: r.stoppedAtDeadline, followers: r.followers.map(({ state: _s, ...f }) => f) }, null, 2));
        else for (const f of r.followers) out(`${loop} ${f.id}: ${f.phase ?? '-'}${f.dispatched ? ` dispatched ${f.dispatched}` : ''}${f.error ? ` ERROR ${f.error}` : ''} ${f.reason}`);
        if (r.stoppedAtDeadline) err(`${loop} tick reached its deadline; the remaining followers wait for the next tick`);
        if (r.followers.some((f) => f.error?.includes('corrupt'))) return 2;
        return r.followers.some((f) => f.error) ? 1 : 0;
      }
    }
    return 2;
  } catch (e) {
    if (e instanceof BadInputError) {
      err(e.problems.map(formatInputError).join('\n'));
      return 2;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`branch-follower ${verbName}: ${(e as Error).message}\nusage: branch-follower ${verb.usage}`);
      return 2;
    }
    if (e instanceof CorruptStateError) {
      err(`corrupt stored data, left for a person: ${e.message}`);
      return 2;
    }
    err(`branch-follower ${verbName}: ${(e as Error).message}`);
    return 1;
  }
};

const describe = (f: { decision: { kind: string } | null; dispatched: string | null; wrote: boolean }, dryRun: boolean): string => {
  if (f.dispatched) return `dispatch ${f.dispatched}`;
  const d = f.decision;
  if (d?.kind === 'dispatch' && 'name' in d) return `dispatch ${String(d.name)}`;
  if (dryRun) return d?.kind ?? 'close out';
  return f.wrote ? 'recorded' : 'nothing';
};

// Only when executed directly (node src/cli.ts ...), not when imported by tests.
if (import.meta.main) {
  // Modules imported from here on (the Kubernetes driver) come from the compile cache; the
  // launcher (bin/branch-follower.js) enables it before anything is loaded.
  enableStartupCache(process.env);
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  process.exitCode = code;
}
