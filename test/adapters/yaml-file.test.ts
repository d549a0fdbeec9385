// The YAML reader every config file goes through (js-yaml, core schema): repeated keys are bad
// input, named by file, line and column, whatever the map's size; aliases cannot explode.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { MAX_EXPANDED_NODES, parseYamlText } from '../../src/adapters/config/yaml-file.ts';

const key = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), fc.integer({ min: 0, max: 999 }).map(String));

describe('parseYamlText', () => {
  it('reads a map with distinct keys as it is, and refuses one repeated key at its line', () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { minLength: 1, maxLength: 60 }), fc.nat(), fc.nat(), (keys, pick, at) => {
        const entries = keys.map((k, i) => [k, { n: i }] as const);
        const text = stringify({ lanes: Object.fromEntries(entries) });
        const ok = parseYamlText(text, 'lanes.yaml');
        if (!ok.ok) return false;
        expect(ok.doc).toEqual({ lanes: Object.fromEntries(entries) });
        // The same text with one key written again, at a chosen place among the others.
        const lines = text.split('\n');
        const blocks: string[][] = [];
        for (const l of lines.slice(1)) {
          if (l.startsWith('  ') && !l.startsWith('    ')) blocks.push([l]);
          else if (l !== '') blocks.at(-1)!.push(l);
        }
        const again = blocks[pick % blocks.length]!;
        const where = 1 + (at % (blocks.length + 1));
        const edited = ['lanes:', ...blocks.slice(0, where - 1).flat(), ...again, ...blocks.slice(where - 1).flat()];
        const r = parseYamlText(edited.join('\n') + '\n', 'lanes.yaml');
        expect(r.ok).toBe(false);
        if (r.ok) return false;
        expect(r.error.file).toBe('lanes.yaml');
        expect(r.error.message).toBe('duplicated mapping key');
        // The second occurrence is the one named: its line holds the repeated key.
        const line = Number(/^line (\d+), column \d+$/.exec(r.error.path)?.[1]);
        const dupKey = again[0]!.trim().split(':')[0];
        const firstLine = edited.findIndex((l) => l.startsWith('  ') && !l.startsWith('    ') && l.trim().split(':')[0] === dupKey);
        return line - 1 > firstLine && edited[line - 1]!.trim().split(':')[0] === dupKey;
      }),
      { numRuns: 200 },
    );
  });

  it('treats keys the JavaScript object would fold into one as repeated (1 and "1")', () => {
    expect(parseYamlText('1: a\n"1": b\n', 'x.yaml')).toMatchObject({ ok: false, error: { file: 'x.yaml', path: expect.stringMatching(/^line 2, /), message: 'duplicated mapping key' } });
    expect(parseYamlText('a: [1, {x: 1, x: 2}]\n', 'x.yaml')).toMatchObject({ ok: false, error: { file: 'x.yaml', path: expect.stringMatching(/^line 1, /), message: 'duplicated mapping key' } });
  });

  it('names a repeated key without echoing it or its value', () => {
    const r = parseYamlText('token: s3cret-1\ntoken: s3cret-2\n', 'x.yaml');
    expect(JSON.stringify(r)).not.toMatch(/s3cret|token/);
  });

  it('reads the core schema: dates and binary are not types of a registry', () => {
    expect(parseYamlText('at: 2026-01-01\nn: 0x10\nb: true\nz: ~\n', 'x.yaml')).toEqual({ ok: true, doc: { at: '2026-01-01', n: 16, b: true, z: null } });
    expect(parseYamlText('x: !!binary aGk=\n', 'x.yaml')).toMatchObject({ ok: false, error: { path: 'line 1, column 4' } });
  });

  it('keeps a few aliases, and refuses a file whose aliases expand past the limit ("billion laughs")', () => {
    expect(parseYamlText('a: &x [1, 2]\nb: *x\n', 'x.yaml')).toEqual({ ok: true, doc: { a: [1, 2], b: [1, 2] } });
    const levels = ['l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
    expect(parseYamlText(levels.join('\n') + '\n', 'bomb.yaml')).toEqual({ ok: false, error: { file: 'bomb.yaml', path: '', message: `its aliases expand to more than ${MAX_EXPANDED_NODES} nodes` } });
  });
});
