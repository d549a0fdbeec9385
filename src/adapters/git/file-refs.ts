import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parseLooseRef, parsePackedRefs } from './ref-files.ts';
import { OBJECT_ID_HEX, parseRepoConfig, type RepoConfig } from './repo-config.ts';

/**
 * Reads a file:// mirror repository's branch heads from this process, from the bare
 * repository's own files, as git's files ref backend does: `refs/heads/<branch>` when that loose
 * file exists, else the branch's line in `packed-refs`, else the branch is missing. Spawning
 * `git ls-remote` (and `git rev-parse` before it) for each repository cost a tick several times
 * its git floor from a large Node process; the files are all that `ls-remote` reads anyway.
 *
 * Only a repository this reader fully understands is answered here; for anything else (reftable,
 * a newer repository format, an unknown extension, a symbolic or malformed ref, a symlink under
 * refs/, hidden refs, a file past the size cap) the answer is `fallback` and the caller reads the
 * repository with git as before: slower, never a guess.
 *
 * Races: git writes a loose ref by renaming a new file over it and rewrites `packed-refs` by
 * renaming a whole new file over it, so each file read is some complete version of it. Reading
 * the loose file first and `packed-refs` second matches the order git changes them in:
 * `pack-refs` renames the new `packed-refs` in before it prunes the loose files, and deleting a
 * ref drops it from `packed-refs` before its loose file goes. So a read can at worst return the
 * value a ref held a moment ago (the next tick sees the new one); it never returns an object id
 * the ref did not hold. No lock is taken: git's own readers take none either.
 */

export type FileRefs =
  /** `refs/heads/<branch>` -> object id, for each asked branch that exists. */
  | { kind: 'refs'; refs: ReadonlyMap<string, string> }
  | { kind: 'untrusted'; message: string }
  | { kind: 'fallback'; reason: string };

/** Above this a ref or config file is not read here (MAX_OUTPUT_BYTES of the git path). */
export const MAX_REF_FILE_BYTES = 64 * 1024 * 1024;

type Read = { kind: 'text'; text: string } | { kind: 'none' } | { kind: 'fallback'; reason: string };

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

// Strict: a byte sequence that is not UTF-8 must not decode to a name that some other ref has.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Above this a loose ref is not one object id (nor a symbolic ref git would follow): it is left to
 * git, which parses it as unknown anyway.
 */
const MAX_LOOSE_REF_BYTES = 4096;
// One buffer for every loose ref this process reads: the reads are synchronous, never interleaved.
const LOOSE_REF_BUFFER = Buffer.allocUnsafe(MAX_LOOSE_REF_BYTES + 1);

/**
 * A regular file's text; `none` when nothing is there (or, for a loose ref, a directory of refs
 * whose names extend it); never follows a symlink. A loose ref (`looseRef`) is read with one
 * read(2) into a small buffer: readFileSync's own fstat and its read that finds the end are two
 * more system calls per ref, 4000 a tick at 2000 branches (docs/performance.md, change 22).
 */
const readRegular = async (path: string, what: string, looseRef = false): Promise<Read> => {
  const dirIsNone = looseRef;
  // Synchronous: ref files are tiny, and a promise-based open/stat/read/close is four thread-pool
  // round trips each (docs/performance.md, change 19).
  let fd: number;
  try {
    // O_NOFOLLOW: a symlinked ref is git's legacy symbolic ref, or points anywhere; git decides.
    // O_NONBLOCK: opening a FIFO would block until a writer came, and a synchronous open blocks
    // the whole process (no timer fires); it opens at once instead, is not a regular file, and
    // is left to git, whose read the timeout kills. On a regular file it changes nothing.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const c = code(e);
    if (c === 'ENOENT' || c === 'ENOTDIR' || (c === 'EISDIR' && dirIsNone)) return { kind: 'none' };
    if (c === 'ELOOP') return { kind: 'fallback', reason: `${what} is a symlink` };
    return { kind: 'fallback', reason: `${what} cannot be opened (${c ?? 'error'})` };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory() && dirIsNone) return { kind: 'none' };
    if (!st.isFile()) return { kind: 'fallback', reason: `${what} is not a regular file` };
    const max = looseRef ? MAX_LOOSE_REF_BYTES : MAX_REF_FILE_BYTES;
    if (st.size > max) return { kind: 'fallback', reason: `${what} is larger than ${max} bytes` };
    // A regular file's read(2) stops short only at its end: a whole small buffer means more is there.
    const buf = looseRef ? LOOSE_REF_BUFFER.subarray(0, readSync(fd, LOOSE_REF_BUFFER, 0, LOOSE_REF_BUFFER.length, 0)) : readFileSync(fd);
    if (buf.length > max) return { kind: 'fallback', reason: `${what} is larger than ${max} bytes` };
    try {
      return { kind: 'text', text: UTF8.decode(buf) };
    } catch {
      return { kind: 'fallback', reason: `${what} is not UTF-8` };
    }
  } finally {
    closeSync(fd);
  }
};

/** Whether `path` is a symlink (anything under refs/ that is one is left to git). */
const isSymlink = async (path: string): Promise<boolean | 'none'> => {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch (e) {
    const c = code(e);
    if (c === 'ENOENT' || c === 'ENOTDIR') return 'none';
    throw e;
  }
};

/** Reads and parses the repository's `config`; a missing or unreadable one is left to git. */
export const readRepoConfig = async (gitDir: string): Promise<RepoConfig> => {
  try {
    const r = await readRegular(join(gitDir, 'config'), 'config');
    if (r.kind === 'none') return { kind: 'fallback', reason: 'no config file' };
    if (r.kind === 'fallback') return r;
    return parseRepoConfig(r.text);
  } catch (e) {
    return { kind: 'fallback', reason: `config cannot be read (${code(e) ?? 'error'})` };
  }
};

/**
 * The asked branches' heads of the bare repository at `gitDir` (already checked bare), read
 * from its files. `config` is what `readRepoConfig` answered for it.
 */
export const readFileRefs = async (gitDir: string, branches: readonly string[], config: RepoConfig): Promise<FileRefs> => {
  if (config.kind === 'fallback') return config;
  const width = OBJECT_ID_HEX[config.objectFormat];
  try {
    // reftable (git >= 2.45) keeps refs elsewhere; its `refs/heads` is a stub.
    if ((await isSymlink(join(gitDir, 'reftable'))) !== 'none') return { kind: 'fallback', reason: 'a reftable/ directory' };
    for (const dir of ['refs', 'refs/heads']) {
      const s = await isSymlink(join(gitDir, dir));
      if (s === 'none') return { kind: 'fallback', reason: `no ${dir}/ directory` };
      if (s) return { kind: 'fallback', reason: `${dir} is a symlink` };
    }
    const refs = new Map<string, string>();
    const unresolved: string[] = [];
    // Paths below are joined by hand: the ref reader passes only branch names git accepts
    // (checkBranchName), which have no empty, "." or ".." component, so path.join would
    // normalize nothing; at 2000 branches its normalizing cost ~10 ms a tick without a JIT.
    const heads = join(gitDir, 'refs', 'heads');
    for (const branch of branches) {
      const parts = branch.split('/');
      let path = heads;
      let absent = false;
      // Every directory under refs/heads on the way: a symlinked one is git's to resolve (the
      // ref file itself is opened without following a symlink).
      for (const part of parts.slice(0, -1)) {
        path = `${path}/${part}`;
        const s = await isSymlink(path);
        if (s === 'none') {
          absent = true;
          break;
        }
        if (s) return { kind: 'fallback', reason: `a symlink under refs/heads` };
      }
      if (absent) {
        unresolved.push(branch);
        continue;
      }
      const r = await readRegular(`${path}/${parts.at(-1)!}`, 'a loose ref', true);
      if (r.kind === 'fallback') return r;
      if (r.kind === 'none') {
        unresolved.push(branch);
        continue;
      }
      const loose = parseLooseRef(r.text, width);
      if (loose.kind === 'unknown') return { kind: 'fallback', reason: `a loose ref that is ${loose.reason}` };
      if (loose.kind === 'wrong-width') {
        return { kind: 'untrusted', message: `refs/heads/${branch} holds a ${loose.width}-hex object id in a ${config.objectFormat} repository` };
      }
      refs.set(`refs/heads/${branch}`, loose.oid);
    }
    if (unresolved.length === 0) return { kind: 'refs', refs };
    const packed = await readRegular(join(gitDir, 'packed-refs'), 'packed-refs');
    if (packed.kind === 'fallback') return packed;
    if (packed.kind === 'text') {
      const p = parsePackedRefs(packed.text, width);
      if (p.kind === 'unknown') return { kind: 'fallback', reason: p.reason };
      if (p.kind === 'wrong-width') {
        return { kind: 'untrusted', message: `packed-refs line ${p.line} holds a ${p.width}-hex object id in a ${config.objectFormat} repository` };
      }
      for (const branch of unresolved) {
        const ref = `refs/heads/${branch}`;
        const oid = p.refs.get(ref);
        if (oid !== undefined) refs.set(ref, oid);
      }
    }
    return { kind: 'refs', refs };
  } catch (e) {
    return { kind: 'fallback', reason: `reading the ref files failed (${code(e) ?? 'error'})` };
  }
};
