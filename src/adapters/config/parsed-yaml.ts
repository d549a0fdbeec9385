import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import jsYamlPackage from 'js-yaml/package.json' with { type: 'json' };

/**
 * Parsed config files kept as JSON, by the SHA-256 of their text: a registry of 1000 followers and
 * its lanes file are ~360 KB of YAML, which js-yaml reads in ~250 ms without a JIT (most of a
 * tick at that size), while V8 reads the same values from JSON natively in a few. Reading YAML
 * is a pure function of the text, so an entry is valid for exactly the text whose hash names it
 * and can never be stale: an edited file has another hash.
 *
 * Two places hold entries:
 * - a directory of the user's (`$XDG_CACHE_HOME/branch-follower/parsed-yaml`, as Node's compile
 *   cache is kept), filled by whatever reads a file first: CLI calls and host cron ticks;
 * - the `branch-follower-registry-parsed` ConfigMap, which `apply` renders from the registry's
 *   files beside the registry ConfigMap and the CronJob pods mount read-only: a pod lives for
 *   one tick, so it could never reuse what it wrote itself.
 *
 * `BRANCH_FOLLOWER_CONFIG_CACHE` names another directory, or is `off`.
 */
export type ParsedYamlCache = {
  /** The document parsed from `text`, when an entry for it is kept; null otherwise (and for an unreadable entry). */
  get(text: string): { doc: unknown } | null;
  /** Keeps `doc` as what `text` parses to; best effort (a read-only or missing directory keeps nothing). */
  put(text: string, doc: unknown): void;
};

/** What the entries were parsed by: another js-yaml (or schema) makes other keys, never a stale hit. */
export const PARSED_YAML_FORMAT = `branch-follower parsed-yaml 1; js-yaml ${jsYamlPackage.version}; core schema`;

/** An entry's name: the SHA-256 (hex) of the format and the text, then `.json`. */
export const parsedYamlName = (text: string): string => `${createHash('sha256').update(PARSED_YAML_FORMAT).update('\n').update(text).digest('hex')}.json`;

/** Entries past this size are neither written nor read (far above a 1 MiB config file's JSON). */
export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

/**
 * `doc` as JSON when JSON gives it back exactly, else null: YAML's `.inf`, `.nan` and `-0` have
 * no JSON, and a `__proto__` key would come back from JSON.parse as an own property that js-yaml
 * does not make. (Aliases come back as copies: nothing here compares objects by identity.)
 */
export const encodeParsed = (doc: unknown): string | null => {
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || Object.is(v, -0)) return null;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '__proto__') return null;
        stack.push(x);
      }
    } else if (typeof v !== 'string' && typeof v !== 'boolean' && v !== null) return null;
  }
  const json = JSON.stringify(doc);
  return Buffer.byteLength(json) <= MAX_ENTRY_BYTES ? json : null;
};

export const NO_PARSED_YAML_CACHE: ParsedYamlCache = { get: () => null, put: () => undefined };

/**
 * Entries in `dir`; `put` writes each through a temporary file and a rename, so a reader never
 * sees half of one. With `create`, `put` makes the directory first (the user's cache directory);
 * without, a directory someone named is used only as it is (a pod's read-only mount, or a path
 * that does not exist: then nothing is kept).
 */
export const parsedYamlDir = (dir: string, o: { create: boolean } = { create: false }): ParsedYamlCache => ({
  get(text) {
    try {
      const buf = readFileSync(join(dir, parsedYamlName(text)));
      if (buf.length > MAX_ENTRY_BYTES) return null;
      return { doc: JSON.parse(buf.toString('utf8')) as unknown };
    } catch {
      // Missing, unreadable or not JSON: parse the text instead.
      return null;
    }
  },
  put(text, doc) {
    const json = encodeParsed(doc);
    if (json === null) return;
    const file = join(dir, parsedYamlName(text));
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      if (o.create) mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(tmp, json, { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // An optimisation only: a read-only pod volume or a full disk changes nothing else.
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Nothing was written where nothing can be.
      }
    }
  },
});

/**
 * The cache `env` asks for: BRANCH_FOLLOWER_CONFIG_CACHE (an existing directory, or `off`), else
 * the user's cache directory, made when first written.
 */
export const parsedYamlCacheFromEnv = (env: NodeJS.ProcessEnv): ParsedYamlCache => {
  const chosen = env['BRANCH_FOLLOWER_CONFIG_CACHE'];
  if (chosen === 'off') return NO_PARSED_YAML_CACHE;
  if (chosen) return parsedYamlDir(chosen);
  let home: string;
  try {
    home = env['HOME'] || homedir();
  } catch {
    return NO_PARSED_YAML_CACHE;
  }
  return parsedYamlDir(join(env['XDG_CACHE_HOME'] || join(home, '.cache'), 'branch-follower', 'parsed-yaml'), { create: true });
};
