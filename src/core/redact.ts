/**
 * Text that leaves the process (CLI output, logs, stored reasons, events, notifications) never
 * carries a secret. Two rules, both pure:
 *
 * - userinfo in any URL is masked: `scheme://user:secret@host` becomes `scheme://user:***@host`,
 *   and a lone `scheme://token@host` (a token as the user name, as forges accept) becomes
 *   `scheme://***@host`;
 * - every known secret value is replaced by `***`, also in its percent-encoded form. A URL-valued
 *   secret (the webhook URL) also has its parts that carry the secret masked: its userinfo, and
 *   its path and query (`/services/T000/B000/XXXX`), which a client may print without the host.
 */

export const MASK = '***';

/** Shorter values are not treated as secrets: masking every "a" or "1" would garble all text. */
export const MIN_SECRET_LENGTH = 6;

// scheme://userinfo@ where userinfo has no '/', '@' or whitespace; the last '@' before the host wins.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@'"<>`]*)@/gi;

export const maskUserinfo = (text: string): string =>
  text.replace(USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    if (colon === -1) return info === '' ? `${scheme}@` : `${scheme}${MASK}@`;
    return `${scheme}${info.slice(0, colon)}:${MASK}@`;
  });

const parts = (value: string): string[] => {
  const out = [value];
  try {
    out.push(encodeURIComponent(value));
  } catch {
    // A lone surrogate cannot be encoded; the value itself is still masked.
  }
  if (URL.canParse(value)) {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') {
      out.push(u.username, u.password, `${u.pathname}${u.search}`, u.search.slice(1));
      if (u.pathname.length > 1) out.push(u.pathname);
    }
  }
  return out;
};

/** The strings to mask for a set of secret values, longest first so a longer match is not split by a shorter one. */
export const secretNeedles = (values: readonly (string | undefined | null)[]): string[] => {
  const set = new Set<string>();
  for (const v of values) {
    if (!v || v.trim().length < MIN_SECRET_LENGTH) continue;
    for (const p of parts(v.trim())) if (p.length >= MIN_SECRET_LENGTH) set.add(p);
  }
  return [...set].sort((a, b) => b.length - a.length);
};

export const redactValues = (text: string, needles: readonly string[]): string => {
  let out = text;
  for (const n of needles) if (out.includes(n)) out = out.split(n).join(MASK);
  return out;
};

/** Both rules: secret values first (a URL-valued secret is masked whole), then any userinfo left. */
export const redact = (text: string, needles: readonly string[]): string => maskUserinfo(redactValues(text, needles));
