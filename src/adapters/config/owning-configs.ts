import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { parseConfigRef, resolvePath, type Resolved } from '../../core/configref.ts';
import { NO_PARSED_YAML_CACHE, type ParsedYamlCache } from './parsed-yaml.ts';
import { readYamlFile, type YamlRead } from './yaml-file.ts';

/**
 * The owning configs a tick reads, each file loaded once per tick however many configRefs
 * point into it. A ref may not leave the config directory, symlinks included.
 */
export type OwningConfigs = { resolve(ref: string): Promise<Resolved> };

export const createOwningConfigs = (configDir: string, parsed: ParsedYamlCache = NO_PARSED_YAML_CACHE): OwningConfigs => {
  const cache = new Map<string, Promise<YamlRead>>();
  const load = (file: string): Promise<YamlRead> => {
    let p = cache.get(file);
    if (!p) {
      p = (async (): Promise<YamlRead> => {
        const abs = resolve(configDir, file);
        try {
          const [root, real] = await Promise.all([realpath(configDir), realpath(abs)]);
          const rel = relative(root, real);
          if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return { ok: false, error: { file, path: '', message: 'resolves outside the config directory' } };
        } catch {
          // A missing file is reported by the read below with its own message.
        }
        return readYamlFile(abs, file, parsed);
      })();
      cache.set(file, p);
    }
    return p;
  };
  return {
    async resolve(text: string): Promise<Resolved> {
      let ref;
      try {
        ref = parseConfigRef(text);
      } catch (e) {
        return { ok: false, reason: (e as Error).message };
      }
      let read = await load(ref.file);
      // A cached document the ref does not resolve in is parsed again from the text, once per file.
      if (read.ok && read.reparse) {
        const resolved = resolvePath(read.doc, ref);
        if (resolved.ok) return resolved;
        read = read.reparse();
        cache.set(ref.file, Promise.resolve(read));
      }
      if (!read.ok) return { ok: false, reason: `${text}: ${read.error.path ? `${read.error.path}: ` : ''}${read.error.message}` };
      return resolvePath(read.doc, ref);
    },
  };
};
