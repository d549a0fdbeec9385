/**
 * What a bare mirror repository's own `config` file says about reading its refs from this
 * process: whether it is bare, its object format, and whether anything in it could make git
 * answer differently from a plain read of the ref files. Pure: the text comes in as a value.
 *
 * Deliberately narrow. Only the plain `[section]` / `[section "sub"]` + `key = value` lines git
 * itself writes are understood; a quoted or escaped value, a continued line, an include, a key
 * that changes which refs upload-pack shows, or a repository format this reader does not know
 * makes the answer `fallback`, and the repository is then read by git, which understands it all.
 */

export type ObjectFormat = 'sha1' | 'sha256';

export type RepoConfig =
  | {
      kind: 'understood';
      /** core.bare as written (last one wins, as in git), or null when the file does not set it. */
      bare: boolean | null;
      objectFormat: ObjectFormat;
    }
  /** Something git may read differently from this parser; `reason` names it (never a value). */
  | { kind: 'fallback'; reason: string };

export const OBJECT_ID_HEX: Readonly<Record<ObjectFormat, number>> = { sha1: 40, sha256: 64 };

const SECTION = /^\[([A-Za-z0-9.-]+)(?:\s+"([^"\\\n]*)")?\]$/;
const ENTRY = /^([A-Za-z][A-Za-z0-9-]*)(?:\s*=\s*(.*))?$/;
// Values git writes without quoting; anything else (quotes, backslashes, inline comments) is
// left to git, which knows its escaping rules.
const PLAIN_VALUE = /^[^"\\#;]*$/;

const parseBool = (value: string | undefined): boolean | null => {
  if (value === undefined) return true; // `bare` alone, without `=`, means true in git
  switch (value.toLowerCase()) {
    case 'true':
    case 'yes':
    case 'on':
    case '1':
      return true;
    case 'false':
    case 'no':
    case 'off':
    case '0':
    case '':
      return false;
    default:
      return null;
  }
};

/**
 * Keys (lower-case `section.key`, or a section) whose presence makes git's ref listing differ
 * from the ref files, or that this reader cannot evaluate: hidden refs, includes, a work tree.
 */
const FALLBACK_SECTIONS = new Set(['include', 'includeif']);
const FALLBACK_KEYS = new Set(['transfer.hiderefs', 'uploadpack.hiderefs', 'core.worktree']);

export const parseRepoConfig = (text: string): RepoConfig => {
  const fallback = (reason: string, line?: number): RepoConfig => ({ kind: 'fallback', reason: line === undefined ? reason : `${reason} (config line ${line})` });
  let section: string | null = null;
  let subsection: string | null = null;
  let bare: boolean | null = null;
  let version = 0;
  let objectFormat: string | null = null;
  const extensions: string[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, raw] of lines.entries()) {
    const n = i + 1;
    const line = raw.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const m = SECTION.exec(line);
      if (m === null) return fallback('a section header this reader does not parse', n);
      section = m[1]!.toLowerCase();
      subsection = m[2] ?? null;
      // `[core.sub]` is git's deprecated subsection syntax; leave it to git.
      if (section.includes('.')) return fallback('a dotted section header', n);
      if (FALLBACK_SECTIONS.has(section)) return fallback(`an ${section} section`, n);
      continue;
    }
    const m = ENTRY.exec(line);
    if (m === null || section === null) return fallback('a line this reader does not parse', n);
    const key = m[1]!.toLowerCase();
    const value = m[2];
    if (value !== undefined && !PLAIN_VALUE.test(value)) return fallback('a quoted, escaped or commented value', n);
    const name = `${section}.${key}`;
    if (FALLBACK_KEYS.has(name)) return fallback(`${name} is set`, n);
    if (section === 'core' && subsection === null) {
      if (key === 'bare') {
        const b = parseBool(value);
        if (b === null) return fallback('core.bare is not a plain boolean', n);
        bare = b;
      } else if (key === 'repositoryformatversion') {
        if (value === undefined || !/^\d{1,3}$/.test(value)) return fallback('core.repositoryformatversion is not a small integer', n);
        version = Number(value);
      }
    } else if (section === 'extensions') {
      if (subsection !== null) return fallback('an extensions subsection', n);
      extensions.push(key);
      if (key === 'objectformat') objectFormat = value ?? '';
    }
  }
  if (version > 1) return fallback(`repository format version ${version}`);
  const unknown = extensions.find((e) => e !== 'objectformat');
  // refstorage (reftable, git >= 2.45), worktreeconfig, partialclone, ...: git's to interpret.
  if (unknown !== undefined) return fallback(`extensions.${unknown} is set`);
  // Extensions only count from format version 1; git 2.39 refuses a v0 repository with v1-only ones.
  if (objectFormat !== null && version !== 1) return fallback(`extensions.objectformat with repository format version ${version}`);
  if (objectFormat !== null && objectFormat !== 'sha1' && objectFormat !== 'sha256') return fallback('an object format this reader does not know');
  return { kind: 'understood', bare, objectFormat: (objectFormat ?? 'sha1') as ObjectFormat };
};
