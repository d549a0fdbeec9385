import type { TickReport } from '../../loops/observer.ts';
import { UsageError, type Outcome } from '../errors.ts';
import { outputOf, defineVerb } from '../verb.ts';
import { seconds } from './seconds.ts';

/** Worst first: what a person must look at decides the exit code cron and monitoring see. */
export const tickOutcome = (r: TickReport): Outcome => {
  if (r.followers.some((f) => f.corrupt)) return 'bad-input';
  if (r.followers.some((f) => f.error)) return 'failed';
  if (r.unreachable.length) return 'mirror-unreadable';
  return r.followers.some((f) => f.phase === 'Blocked') ? 'needs-person' : 'ok';
};

export const tick = defineVerb({
  name: 'tick',
  summary: 'run one tick of a loop: what each CronJob runs',
  usage: 'tick (observer | closer) [--deadline-seconds N] [-o text|json]',
  description:
    'The observer reads the mirror, the targets and the arming gate and dispatches; the closer folds the checks of runs in flight into Succeeded or Failed. Schedule both every minute (the CronJobs do; on the local driver, cron). Exit codes (worst first): 2 stored state is corrupt, 1 a follower had an error, 4 the git mirror could not be read, 3 a follower is Blocked (needs a person), else 0.',
  positional: { name: 'LOOP', choices: ['observer', 'closer'], help: 'which loop' },
  flags: [
    { name: 'deadline-seconds', value: 'N', help: 'start no follower after this many seconds (default 200), so the tick ends before the next one' },
    { name: 'output', short: 'o', value: 'text|json', help: 'output format (default text)', complete: ['text', 'json'] },
  ],
  examples: [
    { command: 'branch-follower tick observer', what: 'one observer tick' },
    { command: '* * * * * branch-follower tick closer --registry /etc/bf/registry.yaml', what: 'a crontab line for a local installation' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const [{ closerTick }, { observerTick }, { reportLine }, { runTick }] = await Promise.all([
      import('../../loops/closer.ts'),
      import('../../loops/observer.ts'),
      import('../../loops/report-line.ts'),
      import('../../loops/tick-record.ts'),
    ]);
    const loop = a.positionals[0];
    if (loop !== 'observer' && loop !== 'closer') throw new UsageError('tick takes observer or closer');
    const format = outputOf(a, ['text', 'json'] as const);
    const ctx = await s.context({ dryRun: false, deadlineSeconds: seconds('deadline-seconds', a.str('deadline-seconds'), 200) });
    const r = await runTick(ctx, loop, () => (loop === 'observer' ? observerTick(ctx) : closerTick(ctx)));
    if (format === 'json')
      s.out(JSON.stringify({ loop: r.loop, stoppedAtDeadline: r.stoppedAtDeadline, unreachable: r.unreachable, followers: r.followers.map(({ state: _s, corrupt: _c, ...f }) => f) }, null, 2));
    else for (const f of r.followers) s.out(`${loop} ${reportLine(f)}`);
    if (r.stoppedAtDeadline) s.err(`${loop} tick reached its deadline; the remaining followers wait for the next tick`);
    for (const u of r.unreachable) s.err(`git mirror unreadable: ${u}`);
    return tickOutcome(r);
  },
});
