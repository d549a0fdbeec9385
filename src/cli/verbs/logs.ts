import { defineVerb, followerFlag, requiredFollower } from '../verb.ts';
import { positiveInt } from './seconds.ts';

export const logs = defineVerb({
  name: 'logs',
  summary: "the log of a follower's latest dispatch",
  usage: 'logs --follower ID [--attempt N]',
  description: "The deploy command's output: the Job's pod log on Kubernetes, the process's log file on the local driver.",
  flags: [followerFlag('the follower (required)'), { name: 'attempt', value: 'N', help: 'the newest run of attempt N (1 is the first try of a commit), for an earlier attempt than the latest' }],
  examples: [
    { command: 'branch-follower logs --follower hwlab-jd01-v03', what: 'the latest run of that follower' },
    { command: 'branch-follower logs --follower hwlab-jd01-v03 --attempt 1', what: 'the first attempt, after a retry has run' },
    { command: 'branch-follower logs --follower hwlab-jd01-v03 --driver local --state-dir /var/lib/bf', what: 'from a local installation' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { readLogs } = await import('../../loops/inspect.ts');
    const id = await requiredFollower(s, a, 'logs');
    const attempt = a.str('attempt');
    s.out(await readLogs(await s.context({ dryRun: true }), id, attempt === undefined ? undefined : positiveInt('attempt', attempt)));
    return 'ok';
  },
});
