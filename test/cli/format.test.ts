// The shared table: fitting a width by shortening only the columns allowed to shrink.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { table, wrap } from '../../src/cli/format.ts';
import { fcParams } from '../support/arbitraries.ts';

const cell = fc.string({ unit: fc.constantFrom('a', 'b', '-', '/', '@', '1', 'Z'), maxLength: 60 });

describe('table', () => {
  it('fits the width whenever the fixed columns and the shrinkable headers leave room; fixed cells are never cut', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((n) =>
          fc.record({
            header: fc.array(fc.constantFrom('ID', 'PHASE', 'SOURCE', 'TARGET', 'X'), { minLength: n, maxLength: n }),
            rows: fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 5 }),
            shrink: fc.subarray([...Array(n).keys()]),
            width: fc.integer({ min: 20, max: 160 }),
          }),
        ),
        ({ header, rows, shrink, width }) => {
          const out = table(header, rows, { width, shrink });
          const lines = out.split('\n');
          expect(lines).toHaveLength(rows.length + 1);
          // The least the table can be: fixed columns whole, shrinkable ones down to their header.
          const least = header.reduce((sum, h, i) => sum + (shrink.includes(i) ? h.length : Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))), 0) + 2 * (header.length - 1);
          if (least <= width) for (const l of lines) expect(l.length).toBeLessThanOrEqual(width);
          rows.forEach((r, ri) =>
            r.forEach((c, ci) => {
              if (!shrink.includes(ci) && c !== '') expect(lines[ri + 1]).toContain(c);
            }),
          );
        },
      ),
      fcParams(),
    );
  });

  it('leaves a table that fits as it is', () => {
    const rows = [['a', 'bb'], ['ccc', 'd']];
    expect(table(['ID', 'X'], rows, { width: 120, shrink: [0, 1] })).toBe(table(['ID', 'X'], rows));
    expect(table(['ID', 'SOURCE'], [['x', 'acme/webapp@main']], { width: 12, shrink: [1] })).toBe('ID  SOURCE\nx   acme/we…');
  });
});

describe('wrap', () => {
  it('never loses a word and keeps lines within the width unless one word is longer', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', ':', '.'), minLength: 1, maxLength: 30 }), { maxLength: 30 }), fc.integer({ min: 10, max: 120 }), (words, width) => {
        const out = wrap(words.join(' '), width);
        expect(out.split(/\s+/).filter(Boolean)).toEqual(words);
        for (const l of out.split('\n')) if (l.length > width) expect(l.trim().split(' '), l).toHaveLength(1);
      }),
      fcParams(),
    );
  });
});
