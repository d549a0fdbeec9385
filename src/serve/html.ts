import type { Phase } from '../core/phases.ts';
import type { ServeResponse } from './route.ts';

/**
 * HTML for the read-only status page. Everything from the state, the registry or git goes
 * through `esc` (text and attribute values alike), so a branch called `<script>…` is shown as
 * those characters; the Content-Security-Policy forbids scripts outright as a second fence.
 */

/** Text or an attribute value, escaped: `& < > " '`. */
export const esc = (v: string | number | null | undefined): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));

/** A phase's colour: green settled, blue moving, amber waiting on a dispatch, red needing a person. */
export const PHASE_COLOURS: Readonly<Record<Phase, string>> = {
  Observed: '#6b7280',
  Noop: '#0f766e',
  PendingTrigger: '#b45309',
  Triggering: '#1d4ed8',
  ClosingOut: '#4338ca',
  Succeeded: '#15803d',
  Failed: '#b91c1c',
  Superseded: '#64748b',
  Blocked: '#9f1239',
  Skipped: '#78716c',
};

export const phaseBadge = (p: Phase): string => `<span class="phase" style="background:${PHASE_COLOURS[p]}">${esc(p)}</span>`;

export const shortSha = (sha: string | null | undefined): string => (sha ? `<code title="${esc(sha)}">${esc(sha.slice(0, 12))}</code>` : '<span class="none">-</span>');

/** "3m ago" from two epoch-ms times: the page says how old each thing is without a script. */
export const ago = (iso: string | null | undefined, now: number): string => {
  if (!iso) return '-';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return '-';
  const a = Math.abs(s);
  const text = a < 90 ? `${a}s` : a < 5400 ? `${Math.round(a / 60)}m` : a < 172800 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86400)}d`;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${s < 0 ? 'in ' : ''}${text}${s < 0 ? '' : ' ago'}</time>`;
};

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;background:#f9fafb}
header{background:#111827;color:#f9fafb;padding:10px 20px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header a{color:#f9fafb;text-decoration:none;font-weight:600}
header .meta{color:#d1d5db;font-size:13px}
main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f3f4f6;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#374151}
td.reason{min-width:18em;max-width:30em;overflow-wrap:break-word;color:#374151}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.phase{display:inline-block;color:#fff;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;white-space:nowrap}
.none{color:#9ca3af}
.next code{display:block;white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0}
.problems{background:#fef2f2;border:1px solid #fecaca;padding:8px 12px;margin-bottom:12px}
.banner{padding:8px 12px;margin-bottom:12px;border:1px solid #fde68a;background:#fffbeb}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:12px;box-shadow:0 1px 2px #0002}
dt{font-weight:600;color:#374151}dd{margin:0;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 8px}
svg{background:#fff;box-shadow:0 1px 2px #0002;max-width:100%;height:auto;margin-bottom:12px}
td.next{min-width:16em}
td.budget{font-size:12px;max-width:14em}
footer{padding:12px 20px;color:#6b7280;font-size:12px}
`;

export type PageOptions = { title: string; body: string; readAt: number; refreshSeconds?: number };

/**
 * A whole page. No script: the table refreshes itself with a meta refresh, and the policy
 * (`script-src 'none'`) means nothing that slipped through escaping could run.
 */
export const page = (o: PageOptions): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${o.refreshSeconds ? `<meta http-equiv="refresh" content="${o.refreshSeconds}">` : ''}
<title>${esc(o.title)} · branch-follower</title>
<style>${STYLE}</style>
</head>
<body>
<header><a href="/">branch-follower</a><span class="meta">read-only status · state read ${esc(new Date(o.readAt).toISOString().replace('.000Z', 'Z'))}</span><a class="meta" href="/metrics">metrics</a></header>
<main>
${o.body}
</main>
<footer>Read-only: this page changes nothing. Every change goes through the CLI with --confirm.</footer>
</body>
</html>
`;

/** Headers of every page: a strict policy (no script, no frames, no outside requests). */
export const htmlResponse = (status: number, html: string): ServeResponse => ({
  status,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  },
  body: html,
});
