import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EMPTY_TICK_TOTALS, foldTick, TickTotals } from '../../core/tick-metrics.ts';
import { WHOLE_FILE } from '../../core/primitives.ts';
import { CorruptStateError, type TickLog } from '../ports.ts';
import { readFileOrNull, replaceFile, withFileLock } from './atomic-file.ts';

/**
 * The tick totals as `<stateDir>/tick-metrics.json`, folded by each tick itself under a lock
 * (both loops share the file; each tick is folded exactly once, so no id is needed), replaced
 * atomically: a tick killed half-way leaves the previous totals whole. A file that fails its
 * schema is left for a person, and ticks stop counting into it (they log why). A tick that
 * found corrupt state is not counted here (bad input writes nothing); Kubernetes counts it.
 */
export const TICK_METRICS_FILE = 'tick-metrics.json';

const where = (issue: z.core.$ZodIssue | undefined): string => (issue?.path ?? []).map(String).join('.') || WHOLE_FILE;

const readTotals = async (file: string): Promise<TickTotals> => {
  const text = await readFileOrNull(file);
  if (text === null) return EMPTY_TICK_TOTALS;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CorruptStateError(`${file}: ${WHOLE_FILE}`, "not JSON");
  }
  const r = TickTotals.safeParse(raw);
  if (!r.success) throw new CorruptStateError(`${file}: ${where(r.error.issues[0])}`, r.error.issues[0]?.message ?? 'invalid');
  return r.data;
};

export const createLocalTickLog = (stateDir: string): TickLog => {
  const file = path.join(stateDir, TICK_METRICS_FILE);
  const lock = path.join(stateDir, 'tick-metrics.lock');
  return {
    async record(summary) {
      // Bad input (a stored state failing its schema, exit 2) writes nothing, not even this count:
      // the state directory stays exactly as the person who must look at it left it.
      if (summary.outcome === 'corrupt-state') return;
      await mkdir(stateDir, { recursive: true });
      await withFileLock(lock, async () => {
        const next = foldTick(await readTotals(file), summary, null);
        await replaceFile(file, `${JSON.stringify(TickTotals.parse(next))}\n`);
      });
    },
    totals: () => readTotals(file),
    // Each tick folds itself in: there is nothing more to keep.
    collect: () => readTotals(file),
  };
};
