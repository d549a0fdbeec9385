import { NO_POKES, onPoke, onTickEnd, type Pokes } from '../core/push.ts';

/**
 * Runs the work a poke asks for, coalesced per key as core/push.ts decides: one run at a time per
 * key and at most one waiting, whose request is every poke it absorbed merged into one (the newest
 * sha, the union of followers). A run that throws is logged and counts as ended, so a failed poke
 * never wedges its key; the schedule stays the floor either way.
 */
export type Coalescer<T> = {
  poke(key: string, request: T): void;
  /** Resolves once nothing runs or waits (tests, shutdown). */
  idle(): Promise<void>;
};

export const createCoalescer = <T>(o: { run: (key: string, request: T) => Promise<void>; merge: (older: T, newer: T) => T; log: (line: string) => void }): Coalescer<T> => {
  let pokes: Pokes = NO_POKES;
  const waiting = new Map<string, T>();
  const inFlight = new Set<Promise<void>>();
  const start = (key: string, request: T): void => {
    const p = (async () => {
      try {
        await o.run(key, request);
      } catch (e) {
        o.log(`serve: the tick woken for ${JSON.stringify(key)} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      const r = onTickEnd(pokes, key);
      pokes = r.pokes;
      const next = waiting.get(key);
      waiting.delete(key);
      if (r.start && next !== undefined) start(key, next);
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  return {
    poke(key, request) {
      const r = onPoke(pokes, key);
      pokes = r.pokes;
      if (r.start) return start(key, request);
      const older = waiting.get(key);
      waiting.set(key, older === undefined ? request : o.merge(older, request));
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
};
