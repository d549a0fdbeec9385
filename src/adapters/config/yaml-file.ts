import { readFile } from 'node:fs/promises';
import { LineCounter, isScalar, parseDocument, visit, type Node } from 'yaml';
import type { InputError } from '../../core/registry.ts';

export const MAX_CONFIG_BYTES = 1024 * 1024;

export type YamlRead = { ok: true; doc: unknown } | { ok: false; error: InputError };

/** Reads one YAML file; syntax errors name the line and column, absurd sizes are refused. */
export const readYamlFile = async (path: string, display: string): Promise<YamlRead> => {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_CONFIG_BYTES) return { ok: false, error: { file: display, path: '', message: `file is ${buf.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit` } };
    text = buf.toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, error: { file: display, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read: ${(e as Error).message}` } };
  }
  return parseYamlText(text, display);
};

/**
 * Where a mapping repeats a key, or null. yaml's own check (`uniqueKeys`) compares each key with
 * every earlier one of its map, O(n²): half a second for a 1000-key file like the lanes of a large
 * registry. One Set per map does it in O(n), and is stricter where it matters: keys are compared
 * as the JavaScript object will hold them, so `1` and `"1"` (which toJS would fold into one,
 * silently keeping the last) are a duplicate too.
 */
const repeatedKey = (doc: ReturnType<typeof parseDocument>): Node | null => {
  let found: Node | null = null;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const k = pair.key as Node | null;
        const id = k === null ? '' : isScalar(k) ? String(k.value) : String(k);
        if (seen.has(id)) {
          found = k;
          return visit.BREAK;
        }
        seen.add(id);
      }
      return undefined;
    },
  });
  return found;
};

export const parseYamlText = (text: string, display: string): YamlRead => {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter: lines });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    return { ok: false, error: { file: display, path: pos ? `line ${pos.line}, column ${pos.col}` : '', message: err.message.split('\n')[0] ?? err.message } };
  }
  const repeated = repeatedKey(doc);
  if (repeated) {
    const pos = repeated.range ? lines.linePos(repeated.range[0]) : null;
    return { ok: false, error: { file: display, path: pos ? `line ${pos.line}, column ${pos.col}` : '', message: 'Map keys must be unique' } };
  }
  try {
    return { ok: true, doc: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    // toJS refuses alias bombs ("billion laughs") by throwing: still bad input, named by file.
    return { ok: false, error: { file: display, path: '', message: (e as Error).message } };
  }
};
