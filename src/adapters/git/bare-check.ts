import { lstatSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readRepoConfig } from './file-refs.ts';
import type { GitResult } from './git-process.ts';
import { localStateInPath } from './mirror-url.ts';
import type { RepoConfig } from './repo-config.ts';

export type BareCheck =
  /** `config`: what the repository's own config file says, for reading its refs in process. */
  | { kind: 'bare'; path: string; config: RepoConfig }
  /** Nothing usable at the path: the mirror does not have this repository. */
  | { kind: 'absent'; message: string }
  /** Something is there, but reading it would break source authority. */
  | { kind: 'refused'; message: string };

// Synchronous metadata calls: a handful per repository, each a thread-pool round trip when
// promise-based (docs/performance.md, change 19).
const exists = (p: string, want: 'file' | 'dir'): boolean => {
  try {
    const s = statSync(p);
    return want === 'dir' ? s.isDirectory() : s.isFile();
  } catch {
    return false;
  }
};

/** Whether anything (a symlink included) is at `p`; an error reading it counts as nothing. */
const present = (p: string): boolean => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/**
 * A file:// mirror repository must be a bare repository directory. git itself would happily
 * serve `<path>/.git` of a work tree, follow a gitfile, or read a linked worktree's refs, so
 * each of those is refused here before `ls-remote` runs. Whether it is bare is read from its
 * `config` (`core.bare`) when that file answers plainly; otherwise `revParse` runs
 * `git --git-dir=<path> rev-parse --is-bare-repository` (explicit git dir: no discovery).
 */
export const checkBareRepo = async (
  path: string,
  revParse: (gitDir: string) => Promise<GitResult>,
): Promise<BareCheck> => {
  try {
    lstatSync(path);
  } catch {
    return { kind: 'absent', message: `repository ${path} does not exist on the mirror` };
  }
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return { kind: 'absent', message: `repository ${path} cannot be resolved: ${(e as Error).message}` };
  }
  const local = localStateInPath(real.split('/').slice(1));
  if (local !== null) return { kind: 'refused', message: `repository ${path} resolves to ${real}, which ${local}` };
  if (!exists(real, 'dir')) {
    return { kind: 'refused', message: `repository ${path} is not a directory (a gitfile or other file cannot be a mirror repository)` };
  }
  if (present(join(real, '.git'))) {
    return { kind: 'refused', message: `repository ${path} is a work tree (it has a .git), not a bare mirror repository` };
  }
  if (exists(join(real, 'commondir'), 'file')) {
    return { kind: 'refused', message: `repository ${path} is a linked worktree's git directory, not a bare mirror repository` };
  }
  if (!exists(join(real, 'HEAD'), 'file') || !exists(join(real, 'objects'), 'dir')) {
    return { kind: 'absent', message: `repository ${path} is not a git repository (no HEAD and objects)` };
  }
  const notBare = { kind: 'refused', message: `repository ${path} is not a bare repository (core.bare is not true): a work tree's repository is not a mirror` } as const;
  const config = await readRepoConfig(real);
  if (config.kind === 'understood' && config.bare !== null) return config.bare ? { kind: 'bare', path: real, config } : notBare;
  const r = await revParse(real);
  if (r.kind !== 'exit' || r.code !== 0) {
    const why = r.kind === 'exit' ? r.stderr.trim() : r.kind;
    return { kind: 'absent', message: `repository ${path} could not be inspected: ${why}` };
  }
  if (r.stdout.trim() !== 'true') return notBare;
  return { kind: 'bare', path: real, config };
};
