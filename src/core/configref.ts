import { z } from 'zod';

/**
 * A configRef points into an owning config: `file#dotted.path`. The file is relative to the
 * registry's directory and may not climb out of it; the path walks mapping keys (and list
 * indexes written as digits).
 */
const REF = /^([A-Za-z0-9_.\/-]+\.ya?ml)#([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$/;

export const ConfigRefString = z
  .string()
  .regex(REF, 'must look like "file.yaml#dotted.path"')
  .refine((s) => {
    const file = s.split('#')[0] ?? '';
    return !file.startsWith('/') && !file.split('/').some((p) => p === '..' || p === '.' || p === '');
  }, 'the file must stay inside the config directory (no absolute paths, no "." or ".." segments)');

export const ConfigRef = z.object({ configRef: ConfigRefString }).strict();
export type ConfigRef = z.infer<typeof ConfigRef>;

export type ParsedConfigRef = { file: string; path: string[]; text: string };

export const parseConfigRef = (text: string): ParsedConfigRef => {
  const m = REF.exec(text);
  if (!m || !m[1] || !m[2]) throw new Error(`not a configRef: ${JSON.stringify(text)}`);
  return { file: m[1], path: m[2].split('.'), text };
};

export type Resolved =
  | { ok: true; value: unknown }
  | { ok: false; reason: string };

/** Walks a parsed YAML document; the failure names how far the walk got, for the Blocked reason. */
export const resolvePath = (doc: unknown, ref: ParsedConfigRef): Resolved => {
  let cur: unknown = doc;
  for (let i = 0; i < ref.path.length; i++) {
    const key = ref.path[i] as string;
    const at = `${ref.file}#${ref.path.slice(0, i + 1).join('.')}`;
    if (Array.isArray(cur) && /^\d+$/.test(key)) {
      cur = cur[Number(key)];
    } else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
      cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : undefined;
    } else {
      return { ok: false, reason: `${at}: ${i === 0 ? `${ref.file} (the whole file)` : `${ref.file}#${ref.path.slice(0, i).join('.')}`} is not a mapping` };
    }
    if (cur === undefined) return { ok: false, reason: `${at}: key not found` };
  }
  return { ok: true, value: cur };
};
