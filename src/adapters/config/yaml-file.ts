import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
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

export const parseYamlText = (text: string, display: string): YamlRead => {
  const doc = parseDocument(text, { uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    return { ok: false, error: { file: display, path: pos ? `line ${pos.line}, column ${pos.col}` : '', message: err.message.split('\n')[0] ?? err.message } };
  }
  try {
    return { ok: true, doc: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    // toJS refuses alias bombs ("billion laughs") by throwing: still bad input, named by file.
    return { ok: false, error: { file: display, path: '', message: (e as Error).message } };
  }
};
