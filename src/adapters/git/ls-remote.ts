import type { MirrorScheme } from './mirror-url.ts';

/**
 * Above this many branches of one repository, list every head once instead of naming each
 * branch on the command line: the answer is the same, and argv stays small.
 */
export const PATTERN_LIMIT = 64;

/**
 * The argv of the one `git ls-remote` that reads a repository's wanted branches. Only the
 * mirror's own scheme is allowed (no redirect or helper can switch to ssh or ext::), no
 * credential helper runs, and a redirect away from the mirror is not followed.
 */
export const lsRemoteArgv = (url: string, scheme: MirrorScheme, branches: readonly string[]): string[] => [
  '-c', 'protocol.version=2',
  '-c', 'protocol.allow=never',
  '-c', `protocol.${scheme}.allow=always`,
  '-c', 'credential.helper=',
  '-c', 'core.askPass=',
  '-c', 'http.followRedirects=false',
  // --heads always: git turns it into protocol v2's `ref-prefix refs/heads/`, while patterns
  // alone (tail matches) make it list every ref of the mirror, pull refs and tags included.
  'ls-remote',
  '--heads',
  ...(branches.length > PATTERN_LIMIT ? ['--', url] : ['--', url, ...branches.map((b) => `refs/heads/${b}`)]),
];

export type LsRemoteRefs = { ok: true; refs: ReadonlyMap<string, string> } | { ok: false; message: string };

// A ref name holds no control character or space (git check-ref-format), but may hold any other
// byte, unicode spaces included.
const LINE = /^([0-9a-f]{40}|[0-9a-f]{64})\t([^\x00-\x20\x7f]+)$/;

/**
 * Parses `git ls-remote` output into ref name -> sha. Strict: any line that is not
 * `<sha><TAB><ref>` makes the whole answer untrustworthy, as does one ref with two shas, or
 * shas of two lengths (SHA-1 and SHA-256 ids never mix in one repository).
 */
export const parseLsRemote = (stdout: string): LsRemoteRefs => {
  const refs = new Map<string, string>();
  let width = 0;
  const lines = stdout.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const m = LINE.exec(line);
    if (m === null) return { ok: false, message: `unexpected ls-remote output on line ${i + 1}: ${JSON.stringify(line.slice(0, 120))}` };
    const sha = m[1]!;
    const ref = m[2]!;
    if (width === 0) width = sha.length;
    else if (sha.length !== width) return { ok: false, message: `ls-remote mixed ${width}- and ${sha.length}-hex object ids (line ${i + 1})` };
    const seen = refs.get(ref);
    if (seen !== undefined && seen !== sha) {
      return { ok: false, message: `ls-remote listed ${ref} twice with different shas (${seen}, ${sha})` };
    }
    refs.set(ref, sha);
  }
  return { ok: true, refs };
};

/** The sha of exactly `refs/heads/<branch>`, never a ref that merely ends with it. */
export const branchSha = (refs: ReadonlyMap<string, string>, branch: string): string | null =>
  refs.get(`refs/heads/${branch}`) ?? null;
