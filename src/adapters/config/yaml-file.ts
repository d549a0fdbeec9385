import { readFile } from 'node:fs/promises';
import { CORE_SCHEMA, YAMLException, load } from 'js-yaml';
import type { InputError } from '../../core/registry.ts';
import { NO_PARSED_YAML_CACHE, type ParsedYamlCache } from './parsed-yaml.ts';

export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * A file read: its document, or the problem. A document that came from the parsed-config cache
 * carries `reparse`: the same text parsed afresh (and kept again), for a reader whose checks the
 * cached document failed, so a damaged entry costs a parse, never a wrong verdict on the file.
 */
export type YamlRead = { ok: true; doc: unknown; reparse?: () => YamlRead } | { ok: false; error: InputError };

/**
 * Reads one YAML file; syntax errors name the line and column, absurd sizes are refused. A file
 * whose text `cache` holds the parse of is not parsed again (see parsed-yaml.ts); one that
 * parses is kept there.
 */
export const readYamlFile = async (path: string, display: string, cache: ParsedYamlCache = NO_PARSED_YAML_CACHE): Promise<YamlRead> => {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_CONFIG_BYTES) return { ok: false, error: { file: display, path: '', message: `file is ${buf.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit` } };
    text = buf.toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, error: { file: display, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read: ${(e as Error).message}` } };
  }
  const parse = (): YamlRead => {
    const read = parseYamlText(text, display);
    if (read.ok) cache.put(text, read.doc);
    return read;
  };
  const kept = cache.get(text);
  return kept !== null ? { ok: true, doc: kept.doc, reparse: parse } : parse();
};

/**
 * How many nodes a walk of `doc` visits, counting a node reached through several aliases once per
 * path (as a schema check or JSON.stringify would), up to `limit` (then `limit + 1`). js-yaml
 * shares one object per anchor, so a "billion laughs" loads small and explodes only when walked.
 */
const expandedSize = (doc: unknown, limit: number): number => {
  let n = 0;
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++n > limit) return n;
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) stack.push(x);
  }
  return n;
};

/** Past this many nodes (aliases expanded) a file is refused: far above any real registry's. */
export const MAX_EXPANDED_NODES = 1_000_000;

/**
 * Parses one YAML document with js-yaml, YAML 1.2's core schema (no timestamps, no merge keys:
 * what a registry holds is strings, numbers, booleans, maps and lists). Not the `yaml` package,
 * which the project writes YAML with: its document model made reading a 1000-follower registry
 * and its lanes file 1.2 s of a tick without a JIT, against 0.26 s (docs/performance.md,
 * change 17). A repeated key (js-yaml compares keys as the JavaScript object will hold them, so
 * `1` and `"1"` repeat too) and a syntax error are bad input at their line and column; so is a
 * file whose aliases expand past MAX_EXPANDED_NODES.
 */
export const parseYamlText = (text: string, display: string): YamlRead => {
  let doc: unknown;
  try {
    doc = load(text, { schema: CORE_SCHEMA });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    const m = e.mark;
    return { ok: false, error: { file: display, path: m ? `line ${m.line + 1}, column ${m.column + 1}` : '', message: e.reason } };
  }
  if (expandedSize(doc, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES) {
    return { ok: false, error: { file: display, path: '', message: `its aliases expand to more than ${MAX_EXPANDED_NODES} nodes` } };
  }
  return { ok: true, doc };
};
