/** Order statistics of a sample; the bench reports medians, which noisy shared machines bend least. */

export type Summary = { n: number; median: number; min: number; max: number; p90: number };

const quantile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
};

export const summarize = (xs: readonly number[]): Summary => {
  const sorted = [...xs].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    p90: quantile(sorted, 0.9),
  };
};

export const median = (xs: readonly number[]): number => summarize(xs).median;

/** Rounds for the JSON report: enough digits to compare runs, not the noise below them. */
export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
