import type { FollowerEvent } from '../../adapters/ports.ts';
import { abbrev, table, TABLE_WIDTH, toJson } from '../format.ts';
import { outputOf, defineVerb, followerFlag, intervalFlag, outputFlag, watchFlag, requiredFollower } from '../verb.ts';
import { intervalMs } from './watch.ts';

const key = (e: FollowerEvent): string => `${e.at}|${e.from}|${e.to}|${e.sha ?? ''}`;
const row = (e: FollowerEvent): string[] => [e.at, e.from, e.to, abbrev(e.sha), String(e.attempt ?? '-'), e.reason];
const HEADER = ['AT', 'FROM', 'TO', 'SHA', 'ATTEMPT', 'REASON'];

export const events = defineVerb({
  name: 'events',
  summary: "a follower's transitions (events merged with stored history)",
  usage: 'events --follower ID [-o table|wide|json] [-w]',
  description: 'Oldest first, each transition once. With -w, prints each new transition as it happens (one line each; one JSON object per line with -o json).',
  flags: [followerFlag('the follower (required)'), outputFlag(['table', 'wide', 'json'], 'the table cuts long reasons to fit 120 columns; wide shows them whole'), watchFlag('keep watching: print each new transition as it happens'), intervalFlag],
  examples: [
    { command: 'branch-follower events --follower hwlab-jd01-v03', what: 'every transition so far' },
    { command: 'branch-follower events --follower hwlab-jd01-v03 -w', what: 'and then each new one as it happens' },
    { command: 'branch-follower events --follower hwlab-jd01-v03 -o json', what: 'as JSON' },
  ],
  async run(s, a) {
    // Loaded with the verb that needs it, not by every verb's start-up (docs/performance.md, change 14).
    const { listEvents } = await import('../../loops/inspect.ts');
    const id = await requiredFollower(s, a, 'events');
    const format = outputOf(a, ['table', 'wide', 'json'] as const);
    const ctx = await s.context({ dryRun: true });
    const first = await listEvents(ctx, id);
    if (!a.flag('watch')) {
      const fit = format === 'wide' ? {} : { width: TABLE_WIDTH, shrink: [5] };
      s.out(format === 'json' ? toJson({ follower: id, events: first }) : table(HEADER, first.map(row), { paint: { index: 2, paint: s.paint }, ...fit }));
      return 'ok';
    }
    // Watching prints a stream: a header once, then one line (or JSON object) per transition.
    const seen = new Set<string>();
    const print = (list: FollowerEvent[], withHeader: boolean): void => {
      const fresh = list.filter((e) => !seen.has(key(e)));
      for (const e of fresh) seen.add(key(e));
      if (format === 'json') for (const e of fresh) s.out(JSON.stringify(e));
      else if (fresh.length || withHeader) {
        // Fixed widths, so lines printed later line up under the header.
        const line = (c: string[]) => [c[0]?.padEnd(24), c[1]?.padEnd(14), c[2]?.padEnd(14), c[3]?.padEnd(7), c[4]?.padEnd(7), c[5]].join('  ');
        s.out([...(withHeader ? [line(HEADER)] : []), ...fresh.map((e) => line(row(e)))].join('\n'));
      }
    };
    print(first, true);
    const interval = intervalMs(a);
    while (await s.sleep(interval)) {
      try {
        print(await listEvents(ctx, id), false);
      } catch (e) {
        s.err(`cannot read events (retrying): ${(e as Error).message}`);
      }
    }
    return 'ok';
  },
});
