import { closerTick } from '../../loops/closer.ts';
import { observerTick, type TickReport } from '../../loops/observer.ts';
import { UsageError } from '../errors.ts';
import { outputOf, defineVerb } from '../verb.ts';
import { seconds } from './seconds.ts';

export const tick = defineVerb({
  name: 'tick',
  summary: 'run one tick of a loop: what each CronJob runs',
  usage: 'tick (observer | closer) [--deadline-seconds N] [-o text|json]',
  description:
    'The observer reads the mirror, the targets and the arming gate and dispatches; the closer folds the checks of runs in flight into Succeeded or Failed. Schedule both every minute (the CronJobs do; on the local driver, cron). Exit 1 when a follower had an error, 2 when stored state is corrupt.',
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
    const loop = a.positionals[0];
    if (loop !== 'observer' && loop !== 'closer') throw new UsageError('tick takes observer or closer');
    const format = outputOf(a, ['text', 'json'] as const);
    const ctx = await s.context({ dryRun: false, deadlineSeconds: seconds('deadline-seconds', a.str('deadline-seconds'), 200) });
    const r: TickReport = loop === 'observer' ? await observerTick(ctx) : await closerTick(ctx);
    if (format === 'json') s.out(JSON.stringify({ loop: r.loop, stoppedAtDeadline: r.stoppedAtDeadline, followers: r.followers.map(({ state: _s, corrupt: _c, ...f }) => f) }, null, 2));
    else for (const f of r.followers) s.out(`${loop} ${f.id}: ${f.phase ?? '-'}${f.dispatched ? ` dispatched ${f.dispatched}` : ''}${f.error ? ` ERROR ${f.error}` : ''} ${f.reason}`);
    if (r.stoppedAtDeadline) s.err(`${loop} tick reached its deadline; the remaining followers wait for the next tick`);
    if (r.followers.some((f) => f.corrupt)) return 'bad-input';
    return r.followers.some((f) => f.error) ? 'failed' : 'ok';
  },
});
