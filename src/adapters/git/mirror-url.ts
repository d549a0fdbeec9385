import { fileURLToPath } from 'node:url';
import { RepoName } from '../../core/primitives.ts';

/**
 * Source authority: refs are read only from the cluster's git mirror named in the registry.
 * These checks refuse, before any git runs, every read URL that would let a decision come from
 * somewhere else: a forge's live branches, a developer's work tree, a `.worktree/` checkout,
 * a path relative to whatever directory the controller happens to run in, or a transport
 * (ssh, ext::, scp-style) that hands control to local configuration and keys.
 */

export type MirrorScheme = 'http' | 'https' | 'git' | 'file';

export type MirrorUrlCheck = { ok: true } | { ok: false; reason: string };

export class MirrorUrlError extends Error {
  override name = 'MirrorUrlError';
}

// Hosts whose branches are the upstream, not the mirror; reading them directly bypasses the
// mirror that the cluster deploys from. Subdomains (www., api., ssh.) count too.
const FORGE_HOSTS = [
  'github.com',
  'githubusercontent.com',
  'gitlab.com',
  'bitbucket.org',
  'codeberg.org',
  'gitee.com',
  'sourceforge.net',
  'dev.azure.com',
  'visualstudio.com',
  'sr.ht',
  'launchpad.net',
] as const;

// A `.worktree` segment is a host checkout; `.git` is a work tree's own repository.
const LOCAL_STATE_SEGMENTS = new Set(['.worktree', '.worktrees', '.git']);

const isForgeHost = (host: string): string | null => {
  const h = host.toLowerCase().replace(/\.$/, '');
  return FORGE_HOSTS.find((f) => h === f || h.endsWith(`.${f}`)) ?? null;
};

const decodeSegment = (s: string): string | null => {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
};

/** The path segments of a URL as written (before `..` is normalised away), decoded. */
const rawPathSegments = (readUrl: string): string[] | null => {
  const afterScheme = readUrl.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const segments: string[] = [];
  for (const raw of afterScheme.split(/[?#]/)[0]!.split('/')) {
    const s = decodeSegment(raw);
    if (s === null) return null;
    segments.push(s);
  }
  return segments;
};

/** Why a path names local git state or escapes its directory, or null when it does not. */
export const localStateInPath = (segments: readonly string[]): string | null => {
  for (const s of segments) {
    if (s === '.' || s === '..') return `contains a "${s}" path segment`;
    if (LOCAL_STATE_SEGMENTS.has(s)) return `contains a "${s}/" segment (a work tree or host checkout, not a mirror)`;
    if (s.includes('\\') || s.includes('\0')) return 'contains a backslash or NUL in a path segment';
  }
  return null;
};

const SCP_LIKE = /^[^/:\s]+@[^/:\s]+:/;

/**
 * Whether `readUrl` may serve as the git mirror's read URL. Pure apart from URL parsing:
 * whether a file:// repository is bare is checked per repository when it is read.
 */
export const checkMirrorUrl = (readUrl: string): MirrorUrlCheck => {
  const refuse = (reason: string): MirrorUrlCheck => ({ ok: false, reason: `git mirror read URL ${JSON.stringify(readUrl)} ${reason}` });
  if (typeof readUrl !== 'string' || readUrl.trim() === '') return refuse('is empty');
  if (readUrl !== readUrl.trim() || /[\s\0]/.test(readUrl)) return refuse('contains whitespace or control characters');
  if (SCP_LIKE.test(readUrl)) return refuse('is an scp-style ssh address; use the mirror\'s http(s)://, git:// or file:// read URL');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(readUrl)?.[1]?.toLowerCase();
  if (scheme === undefined) return refuse('has no scheme: a plain or relative path depends on the working directory; use an absolute file:///path');
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') return refuse('uses ssh, which depends on local keys and configuration; use the mirror\'s http(s)://, git:// or file:// read URL');
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'git' && scheme !== 'file') {
    return refuse(`uses the unsupported scheme "${scheme}:"; use http(s)://, git:// or file://`);
  }
  if (!readUrl.slice(scheme.length).startsWith('://')) return refuse(`must be written as ${scheme}://...`);
  let url: URL;
  try {
    url = new URL(readUrl);
  } catch {
    return refuse('is not a valid URL');
  }
  if (url.username !== '' || url.password !== '') return refuse('embeds credentials; the read URL is printed in status and must not carry secrets');
  if (url.search !== '' || url.hash !== '' || readUrl.includes('?') || readUrl.includes('#')) {
    return refuse('has a query or fragment; repositories are addressed as <readUrl>/<owner>/<repo>.git');
  }
  const segments = rawPathSegments(readUrl);
  if (segments === null) return refuse('has malformed percent-encoding');
  const local = localStateInPath(segments);
  if (local !== null) return refuse(local);

  if (scheme === 'file') {
    if (url.host !== '' && url.host.toLowerCase() !== 'localhost') {
      return refuse(`names the host "${url.host}": a file:// mirror must be an absolute path (file:///path); a relative path depends on the working directory`);
    }
    try {
      if (!fileURLToPath(url).startsWith('/')) return refuse('is not an absolute path');
    } catch (e) {
      return refuse(`is not a usable file path (${(e as Error).message})`);
    }
    return { ok: true };
  }

  if (url.hostname === '') return refuse('has no host');
  const forge = isForgeHost(url.hostname);
  if (forge !== null) {
    return refuse(`reads from the forge ${forge} directly; decisions read refs only from the cluster's git mirror`);
  }
  return { ok: true };
};

/** Throws a MirrorUrlError naming the reason when `readUrl` cannot be the mirror's read URL. */
export const assertMirrorUrl = (readUrl: string): MirrorScheme => {
  const check = checkMirrorUrl(readUrl);
  if (!check.ok) throw new MirrorUrlError(check.reason);
  return readUrl.slice(0, readUrl.indexOf(':')).toLowerCase() as MirrorScheme;
};

/** `<readUrl>/<owner>/<repo>.git`; throws on a repository name that is not `owner/name`. */
export const repoUrl = (readUrl: string, repo: string): string => {
  const parsed = RepoName.safeParse(repo);
  if (!parsed.success) throw new MirrorUrlError(`repository ${JSON.stringify(repo)} must be owner/name`);
  // `owner/name.git` and `owner/name` are the same repository on the mirror.
  const name = repo.endsWith('.git') ? repo.slice(0, -'.git'.length) : repo;
  const segments = `${name}.git`.split('/');
  const local = localStateInPath(segments);
  if (local !== null || segments.some((s) => s === '' || s === '.git')) {
    throw new MirrorUrlError(`repository ${JSON.stringify(repo)} ${local ?? 'does not name a repository'}`);
  }
  return `${readUrl.replace(/\/+$/, '')}/${name}.git`;
};

/** The absolute directory a file:// repository URL names. */
export const filePathOf = (fileUrl: string): string => fileURLToPath(new URL(fileUrl));
