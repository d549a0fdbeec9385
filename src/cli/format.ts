
/** Default tables fit this many columns (kubectl's habit: more goes to `-o wide`). */
export const TABLE_WIDTH = 120;

export type Paint = (key: string, text: string) => string;

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export const makePaint = (stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint => {
  const on = !!stream.isTTY && !('NO_COLOR' in env) && env.TERM !== 'dumb';
  const codes: Record<string, number> = { Succeeded: 32, Noop: 32, Failed: 31, Blocked: 31, Skipped: 33, Superseded: 33, Triggering: 36, ClosingOut: 36, PendingTrigger: 35 };
  return (key, text) => (on && codes[key] ? `\u001b[${codes[key]}m${text}\u001b[0m` : text);
};

export type TableOptions = {
  /** The column whose cell text picks its colour (a phase). */
  paint?: { index: number; paint: Paint };
  /** Fit into this width by shortening the `shrink` columns (with …); the others never shrink. */
  width?: number;
  shrink?: readonly number[];
};

const cut = (s: string, n: number): string => (s.length <= n ? s : n <= 1 ? s.slice(0, n) : `${s.slice(0, n - 1)}…`);

/** Left-aligned columns two spaces apart; the last column is not padded. */
export const table = (header: readonly string[], rows: readonly (readonly string[])[], o: TableOptions = {}): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  if (o.width !== undefined && o.shrink?.length) {
    const total = (): number => widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1);
    // Take one column at a time from the widest shrinkable one, never below its header.
    while (total() > o.width) {
      const i = [...o.shrink].filter((c) => (widths[c] ?? 0) > (header[c]?.length ?? 0)).sort((a, b) => (widths[b] ?? 0) - (widths[a] ?? 0))[0];
      if (i === undefined) break;
      widths[i] = (widths[i] ?? 0) - 1;
    }
  }
  const line = (cells: readonly string[], paintIt: boolean): string =>
    cells
      .map((c, i) => {
        const text = cut(c, widths[i] ?? c.length);
        const padded = i === cells.length - 1 ? text : text.padEnd(widths[i] ?? 0);
        return paintIt && o.paint && i === o.paint.index ? o.paint.paint(c, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(header, false), ...rows.map((r) => line(r, true))].join('\n');
};

/** Splits prose into lines of at most `width` characters (a longer word gets a line of its own). */
export const wrapLines = (text: string, width: number): string[] => {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out;
};

/** Word-wraps prose (not commands) to `width`, continuing lines with `indent`. */
export const wrap = (text: string, width = TABLE_WIDTH, indent = '  '): string => {
  const [first = '', ...rest] = wrapLines(text, width - indent.length);
  // The first line may use the indent's room too, when it fits.
  return [first, ...rest.map((l) => `${indent}${l}`)].join('\n');
};

export const toJson = (doc: unknown): string => JSON.stringify(doc, null, 2);
let yamlStringify: ((doc: unknown) => string) | null = null;

/**
 * Loads the YAML writer (the `yaml` package, ~240 KB of JavaScript): a verb awaits it before it
 * renders `-o yaml`, so the commands that print no YAML (every tick) do not load it at start-up.
 */
export const loadYamlWriter = async (): Promise<void> => {
  yamlStringify ??= (await import('yaml')).stringify;
};

/** `-o yaml`. Throws when loadYamlWriter has not been awaited: a verb's bug, not bad input. */
export const toYaml = (doc: unknown): string => {
  if (yamlStringify === null) throw new Error('toYaml before loadYamlWriter');
  return yamlStringify(doc).trimEnd();
};

/** Git's default abbreviation; `-o wide` shows full shas. */
export const abbrev = (sha: string | null | undefined): string => (sha ? sha.slice(0, 7) : '-');

/** "600s" as a person reads a budget: 10m, 40m, 90s. */
export const duration = (seconds: number): string =>
  seconds % 3600 === 0 && seconds >= 3600 ? `${seconds / 3600}h` : seconds % 60 === 0 && seconds >= 60 ? `${seconds / 60}m` : `${seconds}s`;
