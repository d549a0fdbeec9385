import { UsageError } from '../errors.ts';
import type { Session } from '../session.ts';
import type { Args } from '../verb.ts';

export const intervalMs = (a: Args, dflt = 2): number => {
  const v = a.str('interval-seconds');
  if (v === undefined) return dflt * 1000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--interval-seconds must be a positive number, not ${JSON.stringify(v)}`);
  return n * 1000;
};

/** Something that says "look again now" (a Kubernetes watch), until the signal ends it. */
export type Wake = (poke: () => void, signal: AbortSignal) => void;

/**
 * Shows `view` until Ctrl-C, printing it whenever it changed: after each `interval`, and at once
 * when `wake` pokes. On a terminal each view replaces the last (as watch(1) does); in a pipe or a
 * file they follow one another, each under a timestamped rule, so a log keeps every change.
 */
export const watchLoop = async (s: Session, interval: number, view: () => Promise<string>, wake?: Wake): Promise<void> => {
  const stop = new AbortController();
  const outer = s.io.signal;
  const end = () => stop.abort();
  outer?.addEventListener('abort', end, { once: true });
  if (outer?.aborted) stop.abort();
  let dirty = false;
  let poke: (() => void) | null = null;
  wake?.(() => {
    dirty = true;
    poke?.();
  }, stop.signal);
  const nap = (): Promise<boolean> =>
    new Promise((resolve) => {
      if (stop.signal.aborted) return resolve(false);
      if (dirty) return resolve(true);
      const done = (more: boolean) => {
        clearTimeout(t);
        poke = null;
        stop.signal.removeEventListener('abort', aborted);
        resolve(more);
      };
      const aborted = () => done(false);
      const t = setTimeout(() => done(true), interval);
      poke = () => done(true);
      stop.signal.addEventListener('abort', aborted, { once: true });
    });
  let last: string | null = null;
  const tty = !!s.io.stdout.isTTY;
  try {
    do {
      dirty = false;
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
    } while (await nap());
  } finally {
    stop.abort();
    outer?.removeEventListener('abort', end);
  }
};
