import { readLogs } from '../../loops/inspect.ts';
import { UsageError } from '../errors.ts';
import { defineVerb, followerFlag } from '../verb.ts';

export const logs = defineVerb({
  name: 'logs',
  summary: "the log of a follower's latest dispatch",
  usage: 'logs --follower ID',
  description: "The deploy command's output: the Job's pod log on Kubernetes, the process's log file on the local driver.",
  flags: [followerFlag('the follower (required)')],
  examples: [
    { command: 'branch-follower logs --follower hwlab-jd01-v03', what: 'the latest run of that follower' },
    { command: 'branch-follower logs --follower hwlab-jd01-v03 --driver local --state-dir /var/lib/bf', what: 'from a local installation' },
  ],
  async run(s, a) {
    const id = a.str('follower');
    if (!id) throw new UsageError('logs needs --follower ID');
    await s.followers([id]);
    s.out(await readLogs(await s.context({ dryRun: true }), id));
    return 'ok';
  },
});
