import { UsageError } from '../errors.ts';

export const seconds = (flag: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number of seconds, not ${JSON.stringify(v)}`);
  return n;
};
