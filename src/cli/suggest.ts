import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './errors.ts';
import type { Flag } from './verb.ts';

/** Edit distance (insertions, deletions, substitutions, adjacent swaps): how far a typo is. */
export const distance = (a: string, b: string): number => {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      let v = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
};

/**
 * The candidate nearest to a mistyped word, when it is near enough to be what was meant (at most
 * a third of the word's length away, or a prefix of exactly one candidate); else null.
 */
export const nearest = (word: string, candidates: readonly string[]): string | null => {
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  if (prefixed.length === 1) return prefixed[0] ?? null;
  let best: { c: string; d: number } | null = null;
  for (const c of candidates) {
    const d = distance(word, c);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.floor(word.length / 3) ? best.c : null;
};

const didYouMean = (n: string | null): string => (n ? `; did you mean ${n}?` : '');

/** `unknown verb "statsu"; did you mean status?` */
export const unknownVerb = (word: string, verbs: readonly string[]): string => `unknown verb "${word}"${didYouMean(nearest(word, verbs))}`;

/**
 * Checks the flags a person typed against the verb's before Node's strict parser sees them, so
 * a mistake reads in this CLI's words (with the nearest flag) instead of the parser's text.
 */
export const checkFlags = (argv: readonly string[], flags: readonly Flag[], options: ParseArgsOptionsConfig): void => {
  const { tokens } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: false, tokens: true });
  const byName = new Map(flags.map((f) => [f.name, f]));
  const spelled = flags.flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]);
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    // The parser names a known short flag by its long name; an unknown one by its letter.
    const flag = byName.get(t.name);
    if (!flag) throw new UsageError(`unknown flag ${t.rawName}${didYouMean(nearest(t.rawName, spelled))}`);
    // Node's parser would take the next flag as the value (and then call it ambiguous).
    if (flag.value && (t.value === undefined || (!t.inlineValue && t.value.startsWith('-')))) throw new UsageError(`--${flag.name} needs a value: --${flag.name} ${flag.value}`);
    if (!flag.value && t.inlineValue) throw new UsageError(`--${flag.name} is a switch and takes no value`);
  }
};
