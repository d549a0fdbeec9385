import type { FollowerReport } from '../../loops/observer.ts';
import { UsageError } from '../errors.ts';
import { table, TABLE_WIDTH, wrap } from '../format.ts';
import { defineVerb, followerFlag } from '../verb.ts';
import { seconds } from './seconds.ts';

/** Phases in which a run has been closed out: its verdict is in. */
const CLOSED: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Blocked', 'Superseded']);

/** What run-once did (or, dry, would do) for one follower, in words. */
const describe = (f: FollowerReport, dryRun: boolean): string => {
  if (dryRun) {
    const d = f.decision;
    if (d?.kind === 'dispatch') return `dispatch ${d.name}`;
    return d?.kind ?? 'close out';
  }
  const closed = f.phase !== null && CLOSED.has(f.phase);
  if (f.dispatched) return closed ? `dispatched ${f.dispatched} and closed it out: ${f.phase}` : `dispatched ${f.dispatched}`;
  return f.wrote ? 'recorded' : 'nothing';
};

export const runOnce = defineVerb({
  name: 'run-once',
  summary: 'one observer and one closer tick (--dry-run shows what would happen)',
  usage: 'run-once (--all | --follower ID...) (--dry-run | --confirm [--wait])',
  description:
    'Without --confirm nothing is written or dispatched: it shows what each follower would do. With --confirm it really ticks (the arming gates still apply); --wait keeps ticking until each run ends and exits 1 if one failed, was blocked or the wait timed out.',
  flags: [
    { name: 'all', help: 'every follower in the registry' },
    followerFlag('only this follower', true),
    { name: 'dry-run', help: 'show what would happen; write and dispatch nothing (the default without --confirm)' },
    { name: 'confirm', help: 'really write and dispatch' },
    { name: 'wait', help: 'with --confirm: keep ticking until each run ends' },
    { name: 'poll-seconds', value: 'N', help: 'with --wait: seconds between ticks (default 2)' },
    { name: 'timeout-seconds', value: 'N', help: 'with --wait: give up waiting after this long (default 3600); the runs go on' },
  ],
  examples: [
    { command: 'branch-follower run-once --all --dry-run', what: 'what every follower would do; writes nothing' },
    { command: 'branch-follower run-once --follower hwlab-jd01-v03 --confirm --wait', what: 'deploy now if needed, and wait for the verdict' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { runOnce: runOnceLoop } = await import('../../loops/run-once.ts');
    const all = a.flag('all');
    const only = await s.followers(a.list('follower'));
    if (all === !!only) throw new UsageError('run-once needs exactly one of --all or --follower ID');
    const confirm = a.flag('confirm');
    if (a.flag('dry-run') && confirm) throw new UsageError('--dry-run and --confirm exclude each other');
    const dryRun = !confirm;
    const pollMs = seconds('poll-seconds', a.str('poll-seconds'), 2) * 1000;
    const timeoutMs = seconds('timeout-seconds', a.str('timeout-seconds'), 3600) * 1000;
    if (!confirm && !a.flag('dry-run')) s.err('without --confirm nothing is written or dispatched; this is what would happen:');
    const r = await runOnceLoop(await s.context({ dryRun }), {
      only,
      wait: a.flag('wait') && !dryRun,
      pollMs,
      timeoutMs,
      progress: (l) => (dryRun ? undefined : s.err(l)),
    });
    const rows = r.followers.map((f) => [f.id, f.phase ?? '-', describe(f, dryRun)]);
    // The reasons are prose: under the table, wrapped, so the table keeps to 120 columns.
    const reasons = r.followers.map((f) => wrap(`${f.id}: ${f.error ? `ERROR ${f.error}` : f.reason}`));
    s.out(`${table(['ID', dryRun ? 'WOULD-BE PHASE' : 'PHASE', dryRun ? 'WOULD' : 'DID'], rows, { paint: { index: 1, paint: s.paint }, width: TABLE_WIDTH, shrink: [2] })}\n\n${reasons.join('\n')}`);
    if (r.timedOut) s.err('gave up waiting (--timeout-seconds); the runs go on and the next ticks close them out');
    if (r.followers.some((f) => f.corrupt)) return 'bad-input';
    const bad = r.followers.some((f) => f.phase === 'Failed' || f.phase === 'Blocked' || f.error);
    return (a.flag('wait') && (bad || r.timedOut)) || r.followers.some((f) => f.error) ? 'failed' : 'ok';
  },
});
