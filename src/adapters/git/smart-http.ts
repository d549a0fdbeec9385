import { parseAdvertisement } from './ref-advertisement.ts';

/**
 * Reads an http(s) mirror repository's refs over git's smart-HTTP protocol from this process:
 * one `GET <repo>/info/refs?service=git-upload-pack`, protocol v0. Forking `git ls-remote` for
 * each repository cost a tick most of its time at scale (each fork copies the page tables of a
 * large Node process, synchronously); the advertisement is all `ls-remote` reads anyway.
 *
 * It keeps the guarantees of the git path: no credentials are sent, a redirect is never
 * followed (it could lead away from the mirror), each read has a deadline, and an answer that
 * is not exactly a ref advertisement is not trusted.
 */

export type SmartHttpResult =
  | { kind: 'refs'; refs: ReadonlyMap<string, string> }
  | { kind: 'unreachable'; message: string }
  | { kind: 'untrusted'; message: string };

export type SmartHttpOptions = {
  timeoutMs: number;
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

const causeOf = (e: unknown): string => {
  const err = e as Error & { cause?: unknown };
  const cause = err.cause as (Error & { code?: string }) | undefined;
  if (cause instanceof Error) {
    // undici nests the socket error (AggregateError for every address it tried).
    const inner = cause instanceof AggregateError && cause.errors[0] instanceof Error ? (cause.errors[0] as Error) : cause;
    return inner.message || cause.code || cause.name;
  }
  return err.message;
};

/** Releases the connection of an answer whose body is not wanted. */
const discard = async (res: Response): Promise<void> => {
  try {
    await res.body?.cancel();
  } catch {
    // The connection is gone either way.
  }
};

type Body = { kind: 'body'; bytes: Buffer } | { kind: 'too-large' };

const readBody = async (res: Response, maxBytes: number): Promise<Body> => {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await discard(res);
    return { kind: 'too-large' };
  }
  if (res.body === null) return { kind: 'body', bytes: Buffer.alloc(0) };
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return { kind: 'too-large' };
    }
    chunks.push(value);
  }
  return { kind: 'body', bytes: Buffer.concat(chunks) };
};

export const readAdvertisedRefs = async (repoUrl: string, opts: SmartHttpOptions): Promise<SmartHttpResult> => {
  const url = infoRefsUrl(repoUrl);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const unreachable = (why: string): SmartHttpResult => ({ kind: 'unreachable', message: `${repoUrl}: ${why}` });
  try {
    const res = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: {
        'User-Agent': USER_AGENT,
        Accept: ADVERTISEMENT_TYPE,
        // A cache between us and the mirror must not answer with yesterday's branch tips.
        'Cache-Control': 'no-cache',
        Pragma: 'no-cache',
      },
    });
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      await discard(res);
      return unreachable(
        location === null
          ? `mirror answered with a redirect (HTTP ${res.status}) without a Location; configure the final URL`
          : `mirror answered with a redirect to ${shown(location, url)} (HTTP ${res.status}); configure the final URL as the read URL, redirects are not followed`,
      );
    }
    if (res.status !== 200) {
      await discard(res);
      if (res.status === 404) return unreachable('repository not found on the mirror (HTTP 404)');
      if (res.status === 401 || res.status === 403) {
        return unreachable(`mirror refused the read (HTTP ${res.status}); the read URL must allow anonymous reads, no credentials are sent`);
      }
      return unreachable(`mirror answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== ADVERTISEMENT_TYPE) {
      await discard(res);
      return unreachable(
        `mirror answered Content-Type ${type === '' ? '(none)' : JSON.stringify(type)}, not ${ADVERTISEMENT_TYPE}: not a smart-HTTP git server (a dumb-HTTP server, or not a git mirror at this URL)`,
      );
    }
    const body = await readBody(res, opts.maxBytes);
    if (body.kind === 'too-large') return { kind: 'untrusted', message: `${repoUrl}: the ref advertisement is larger than ${opts.maxBytes} bytes; the answer was not trusted` };
    const ad = parseAdvertisement(body.bytes);
    if (!ad.ok) return ad.kind === 'unsupported' ? { kind: 'untrusted', message: `${repoUrl}: ${ad.message}` } : unreachable(ad.message);
    return { kind: 'refs', refs: ad.refs };
  } catch (e) {
    if (signal.aborted) return unreachable(`GET info/refs timed out after ${opts.timeoutMs} ms and was aborted`);
    return unreachable(`GET info/refs failed: ${causeOf(e)}`);
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
 * bundle from the environment it is given; fetch honours neither, so with one of them in play
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
