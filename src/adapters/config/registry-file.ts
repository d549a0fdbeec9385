import { maskUserinfo } from '../../core/redact.ts';
import { dirname, relative, resolve } from 'node:path';
import { parseRegistry, type Registry } from '../../core/registry.ts';
import { checkMirrorUrl } from '../git/mirror-url.ts';
import { BadInputError } from './input-error.ts';
import { NO_PARSED_YAML_CACHE, type ParsedYamlCache } from './parsed-yaml.ts';
import { readYamlFile } from './yaml-file.ts';

export const DEFAULT_REGISTRY = 'config/cicd-branch-followers.yaml';

export type LoadedRegistry = {
  registry: Registry;
  /** Absolute path of the registry file. */
  path: string;
  /** The registry's directory: configRefs, the local state dir and trigger cwd are relative to it. */
  dir: string;
  /** The path as the user should read it in messages. */
  display: string;
  /** Where parsed config files are kept: the registry was read through it, and so are its owning configs. */
  configCache: ParsedYamlCache;
};

export const loadRegistry = async (path: string, cwd = process.cwd(), configCache: ParsedYamlCache = NO_PARSED_YAML_CACHE): Promise<LoadedRegistry> => {
  const abs = resolve(cwd, path);
  const display = relative(cwd, abs) || abs;
  let read = await readYamlFile(abs, display, configCache);
  if (!read.ok) throw new BadInputError([read.error]);
  let parsed = parseRegistry(display, read.doc);
  // A cached document that fails the checks is parsed again from the text before the file is blamed.
  if (!parsed.ok && read.reparse) {
    read = read.reparse();
    if (!read.ok) throw new BadInputError([read.error]);
    parsed = parseRegistry(display, read.doc);
  }
  if (!parsed.ok) throw new BadInputError(parsed.errors);
  // Source authority is a property of the registry: a forge or work-tree read URL is bad input, not a runtime error.
  const mirror = checkMirrorUrl(parsed.value.controller.gitMirror.readUrl);
  // The reason quotes the URL: its userinfo (refused, but typed by someone) is masked.
  if (!mirror.ok) throw new BadInputError([{ file: display, path: 'controller.gitMirror.readUrl', message: maskUserinfo(mirror.reason) }]);
  return { registry: parsed.value, path: abs, dir: dirname(abs), display, configCache };
};
