import { UsageError } from '../errors.ts';

export const seconds = (flag: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number of seconds, not ${JSON.stringify(v)}`);
  return n;
};

/** A whole number from 1 up (an attempt number), or a usage error naming the flag. */
export const positiveInt = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a whole number from 1 up, not ${JSON.stringify(v)}`);
  return n;
};
