import { UsageError } from '../errors.ts';
import type { Session } from '../session.ts';
import type { Args } from '../verb.ts';

export const intervalMs = (a: Args): number => {
  const v = a.str('interval-seconds');
  if (v === undefined) return 2000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--interval-seconds must be a positive number, not ${JSON.stringify(v)}`);
  return n * 1000;
};

/**
 * Polls `view` until Ctrl-C, printing it whenever it changed. On a terminal each view replaces
 * the last (as watch(1) does); in a pipe or a file they follow one another, each under a
 * timestamped rule, so a log shows every change. Polling rather than an API watch: it works
 * alike on both drivers and a lost connection only delays the next view.
 */
export const watchLoop = async (s: Session, interval: number, view: () => Promise<string>): Promise<void> => {
  let last: string | null = null;
  const tty = !!s.io.stdout.isTTY;
  do {
    let text: string;
    try {
      text = await view();
    } catch (e) {
      text = `! cannot read: ${(e as Error).message} (retrying)`;
    }
    if (text !== last) {
      // The clock is the CLI's to read: the rule only tells a reader when the view changed.
      const rule = `--- ${new Date().toISOString()}`;
      s.out(tty ? `\u001b[H\u001b[2J${rule}\n${text}` : `${last === null ? '' : '\n'}${rule}\n${text}`);
      last = text;
    }
  } while (await s.sleep(interval));
};
