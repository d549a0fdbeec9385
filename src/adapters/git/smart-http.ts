import { REQUEST_TYPE, RESULT_TYPE, lsRefsRequest, parseLsRefs, parseV2Capabilities } from './protocol-v2.ts';
import { parseAdvertisement } from './ref-advertisement.ts';
import { httpRequest } from '../http/request.ts';

/**
 * Reads an http(s) mirror repository's refs over git's smart-HTTP protocol from this process:
 * protocol v2 (`ls-refs` for just the wanted heads) where offered, else the v0 advertisement of
 * `GET <repo>/info/refs?service=git-upload-pack`. Forking `git ls-remote` for
 * each repository cost a tick most of its time at scale (each fork copies the page tables of a
 * large Node process, synchronously); the advertisement is all `ls-remote` reads anyway.
 *
 * It keeps the guarantees of the git path: no credentials are sent, a redirect is never
 * followed (it could lead away from the mirror), each read has a deadline, and an answer that
 * is not exactly a ref advertisement is not trusted.
 */

export type SmartHttpResult =
  /** `bytes`: response bytes received, over every request of the read. */
  | { kind: 'refs'; refs: ReadonlyMap<string, string>; protocol: 'v0' | 'v2'; bytes: number }
  /** The mirror asked (HTTP 429 or 503 with Retry-After) not to be read again before `until` (epoch ms). */
  | { kind: 'throttled'; until: number; message: string }
  | { kind: 'unreachable'; message: string }
  | { kind: 'untrusted'; message: string };

export type SmartHttpOptions = {
  /** One deadline for the whole read (both requests of a v2 read). */
  timeoutMs: number;
  /** The branches wanted: with them, protocol v2 asks for just their heads; without, every ref is read. */
  branches?: readonly string[];
  /** `auto` (default) speaks v2 when the mirror offers it; `v0` never asks for it. */
  protocol?: 'auto' | 'v0';
  /** The clock a Retry-After in seconds counts from. */
  now?: () => number;
  /** Past this many body bytes the answer is not trusted. */
  maxBytes: number;
};

export const ADVERTISEMENT_TYPE = 'application/x-git-upload-pack-advertisement';
// Some smart-HTTP servers answer only user agents that start with `git/`.
export const USER_AGENT = 'git/2.0 (branch-follower)';

export const infoRefsUrl = (repoUrl: string): string => `${repoUrl}/info/refs?service=git-upload-pack`;

/** A URL fit for a message: no user info, which a redirect target could carry. */
const shown = (location: string, base: string): string => {
  try {
    const u = new URL(location, base);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return JSON.stringify(location.slice(0, 200));
  }
};

/** When a 429 or 503 answer's `Retry-After` (seconds, or an HTTP date) says to come back, or null. */
export const retryAfter = (value: string | null, now: number): number | null => {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return now + Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(at, now) : null;
};

type Exchange = { kind: 'body'; bytes: Buffer } | Exclude<SmartHttpResult, { kind: 'refs' }>;

/**
 * Reads a repository's refs over smart HTTP: protocol v2 when the mirror offers it (the
 * capability advertisement, then one `ls-refs` with a `ref-prefix` per wanted branch), else the
 * v0 ref advertisement that the same first GET answers. `branches` undefined reads every ref.
 */
export const readAdvertisedRefs = async (repoUrl: string, opts: SmartHttpOptions): Promise<SmartHttpResult> => {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const now = opts.now ?? Date.now;
  const unreachable = (why: string): { kind: 'unreachable'; message: string } => ({ kind: 'unreachable', message: `${repoUrl}: ${why}` });
  const v2 = (opts.protocol ?? 'auto') === 'auto' && opts.branches !== undefined;
  let moved = 0;
  let step = 'GET info/refs';

  const exchange = async (what: string, url: string, type: string, init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Buffer }): Promise<Exchange> => {
    step = what;
    const res = await httpRequest(url, {
      method: init.method,
      signal,
      headers: {
        'User-Agent': USER_AGENT,
        Accept: type,
        // A cache between us and the mirror must not answer with yesterday's branch tips.
        'Cache-Control': 'no-cache',
        Pragma: 'no-cache',
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    if (res.status >= 300 && res.status < 400) {
      const location = res.header('location');
      res.discard();
      return unreachable(
        location === null
          ? `mirror answered with a redirect (HTTP ${res.status}) without a Location; configure the final URL`
          : `mirror answered with a redirect to ${shown(location, url)} (HTTP ${res.status}); configure the final URL as the read URL, redirects are not followed`,
      );
    }
    if (res.status !== 200) {
      res.discard();
      if (res.status === 404) return unreachable('repository not found on the mirror (HTTP 404)');
      if (res.status === 401 || res.status === 403) {
        return unreachable(`mirror refused the read (HTTP ${res.status}); the read URL must allow anonymous reads, no credentials are sent`);
      }
      const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (res.status === 429 || res.status === 503) {
        const until = retryAfter(res.header('retry-after'), now());
        if (until !== null) return { kind: 'throttled', until, message: `${repoUrl}: mirror answered ${status} to ${what} with Retry-After until ${new Date(until).toISOString()}` };
      }
      return unreachable(`mirror answered ${status} to ${what}`);
    }
    const got = (res.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (got !== type) {
      res.discard();
      return unreachable(
        `mirror answered ${what} with Content-Type ${got === '' ? '(none)' : JSON.stringify(got)}, not ${type}: not a smart-HTTP git server (a dumb-HTTP server, or not a git mirror at this URL)`,
      );
    }
    const bytes = await res.read(opts.maxBytes);
    if (bytes === 'too-large') return { kind: 'untrusted', message: `${repoUrl}: ${type === RESULT_TYPE ? 'the ls-refs answer' : 'the ref advertisement'} is larger than ${opts.maxBytes} bytes; the answer was not trusted` };
    moved += bytes.length;
    return { kind: 'body', bytes };
  };

  try {
    const first = await exchange('GET info/refs', infoRefsUrl(repoUrl), ADVERTISEMENT_TYPE, { method: 'GET', ...(v2 ? { headers: { 'Git-Protocol': 'version=2' } } : {}) });
    if (first.kind !== 'body') return first;
    const caps = v2 ? parseV2Capabilities(first.bytes) : null;
    if (caps !== null && opts.branches !== undefined) {
      if (!caps.ok) return unreachable(caps.message);
      if (caps.value.lsRefs) {
        const answer = await exchange('POST git-upload-pack', `${repoUrl}/git-upload-pack`, RESULT_TYPE, {
          method: 'POST',
          headers: { 'Git-Protocol': 'version=2', 'Content-Type': REQUEST_TYPE },
          body: lsRefsRequest(caps.value, opts.branches),
        });
        if (answer.kind !== 'body') return answer;
        const refs = parseLsRefs(answer.bytes, caps.value.objectFormat);
        return refs.ok ? { kind: 'refs', refs: refs.value, protocol: 'v2', bytes: moved } : unreachable(refs.message);
      }
    }
    // No v2 (or no ls-refs in it): the v0 advertisement, asked for plainly if the first answer was v2.
    const v0 = caps === null ? first : await exchange('GET info/refs', infoRefsUrl(repoUrl), ADVERTISEMENT_TYPE, { method: 'GET' });
    if (v0.kind !== 'body') return v0;
    const ad = parseAdvertisement(v0.bytes);
    if (!ad.ok) return ad.kind === 'unsupported' ? { kind: 'untrusted', message: `${repoUrl}: ${ad.message}` } : unreachable(ad.message);
    return { kind: 'refs', refs: ad.refs, protocol: 'v0', bytes: moved };
  } catch (e) {
    if (signal.aborted) return unreachable(`${step} timed out after ${opts.timeoutMs} ms and was aborted`);
    return unreachable(`${step} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
};

// The variables curl (and so git) takes a proxy from, per scheme: for http only the lowercase
// http_proxy, since HTTP_PROXY can be set by a CGI request's Proxy header.
const PROXY_VARS = {
  'http:': ['http_proxy', 'all_proxy', 'ALL_PROXY'],
  'https:': ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'],
} as const;
const CA_VARS = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'SSL_CERT_FILE', 'SSL_CERT_DIR'] as const;

/** Whether a NO_PROXY list (curl's rules: `*`, a host, or a domain suffix) exempts `host`. */
export const noProxyCovers = (host: string, noProxy: string | undefined): boolean => {
  if (noProxy === undefined) return false;
  const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  return noProxy
    .split(/[,\s]+/)
    .map((e) => e.trim().toLowerCase().replace(/^\*?\./, '').replace(/\.$/, ''))
    .some((e) => e === '*' || (e !== '' && (h === e || h.endsWith(`.${e}`))));
};

/**
 * Why the git path must read `repoUrl` instead, or null. git honours a proxy and a private CA
 * bundle from the environment it is given; this reader honours neither, so with one of them in play
 * the read stays with git, to reach the mirror the same way the operator configured.
 */
export const needsGitTransport = (repoUrl: string, env: NodeJS.ProcessEnv): string | null => {
  const url = new URL(repoUrl);
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  const proxy = (url.protocol === 'https:' ? PROXY_VARS['https:'] : PROXY_VARS['http:']).find((k) => (env[k] ?? '') !== '');
  if (proxy !== undefined && !noProxyCovers(url.hostname, noProxy)) return `${proxy} is set`;
  if (url.protocol === 'https:') {
    const ca = CA_VARS.find((k) => (env[k] ?? '') !== '');
    if (ca !== undefined) return `${ca} is set`;
  }
  return null;
};
