/**
 * Which branch names a follower may name: exactly those `git check-ref-format --branch` accepts
 * (git's refs.c: check_refname_format on `refs/heads/<name>`, plus the two rules `--branch`
 * adds), run outside a repository, where no `@{-1}` shorthand is expanded. Unicode, `@` not
 * followed by `{`, `+`, `#` and long names are all fine. A rejected name is told the rule it broke.
 *
 * A property test runs the real `git check-ref-format --branch` on generated names and proves
 * both agree.
 */

export type BranchNameCheck = { ok: true } | { ok: false; rule: string };

// The ASCII characters git refuses anywhere in a ref name, besides control characters and space.
const FORBIDDEN = new Set(['~', '^', ':', '?', '*', '[', '\\']);

const describeChar = (c: string): string => {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f ? `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}` : c === ' ' ? 'a space' : `"${c}"`;
};

export const checkBranchName = (name: string): BranchNameCheck => {
  const bad = (rule: string): BranchNameCheck => ({ ok: false, rule });
  if (name === '') return bad('must not be empty');
  // git sees bytes; a string that is not well-formed UTF-16 has no UTF-8 form git could be given.
  if (!name.isWellFormed()) return bad('must be valid Unicode text (a lone surrogate has no UTF-8 form)');
  if (name.startsWith('-')) return bad('must not start with "-"');
  if (name === 'HEAD') return bad('must not be HEAD');
  for (const c of name) {
    const code = c.codePointAt(0) ?? 0;
    if (code <= 0x20 || code === 0x7f || FORBIDDEN.has(c)) return bad(`must not contain ${describeChar(c)} (git forbids control characters, space, ~ ^ : ? * [ and \\ in ref names)`);
  }
  if (name.includes('..')) return bad('must not contain ".."');
  if (name.includes('@{')) return bad('must not contain "@{"');
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return bad('must not have an empty component (a leading or trailing "/", or "//")');
  for (const component of name.split('/')) {
    if (component.startsWith('.')) return bad(`no "/"-separated component may start with "." (${JSON.stringify(component)})`);
    if (component.endsWith('.lock')) return bad(`no "/"-separated component may end with ".lock" (${JSON.stringify(component)})`);
  }
  if (name.endsWith('.')) return bad('must not end with "."');
  return { ok: true };
};
