import type { ArmingRead } from '../core/arming.ts';
import type { StatusRow } from '../core/status-view.ts';
import { allowedAttempts, attemptsFor, type FollowerState } from '../core/state.ts';
import { ago, esc, htmlResponse, page, phaseBadge, shortSha } from './html.ts';
import type { Route, ServeResponse } from './route.ts';
import type { Snapshot, SnapshotSource } from './snapshot.ts';
import { timelineSvg } from './timeline.ts';

/** The table reloads itself this often (a meta refresh: no script). */
export const PAGE_REFRESH_SECONDS = 15;

const followerHref = (id: string): string => `/followers/${encodeURIComponent(id)}`;

const commands = (next: readonly string[]): string => (next.length ? `<div class="next">${next.map((c) => `<code>${esc(c)}</code>`).join('')}</div>` : '<span class="none">-</span>');

const armingBanner = (a: ArmingRead): string => {
  if (a.kind === 'absent') return '<div class="banner">Arming data absent: every follower counts as disarmed (nothing is dispatched).</div>';
  if (a.kind === 'malformed') return `<div class="banner">Arming data malformed at ${esc(a.where)}: every follower counts as disarmed.</div>`;
  const k = a.arming.killSwitch;
  return k.on
    ? `<div class="banner">Kill switch <strong>on</strong> (by ${esc(k.by)}${k.at ? `, ${esc(k.at)}` : ''}${k.reason ? `: ${esc(k.reason)}` : ''}): no run is dispatched; runs in flight are still closed out. ${a.arming.allowlist.length} allowlisted.</div>`
    : `<div class="banner" style="background:#f0fdf4;border-color:#bbf7d0">Kill switch off; ${a.arming.allowlist.length} follower(s) allowlisted.</div>`;
};

const problemsBox = (s: Snapshot): string =>
  s.problems.length === 0 ? '' : `<div class="problems"><b>Problems</b><ul>${s.problems.map((p) => `<li>${esc(p.text)}</li>`).join('')}</ul></div>`;

const source = (r: StatusRow): string =>
  r.source.repo === null ? '<span class="none">unresolved</span>' : `<code>${esc(r.source.repo)}</code>@<code>${esc(r.source.branch)}</code>`;

const inFlight = (r: StatusRow, now: number): string =>
  r.inFlight ? `<code>${esc(r.inFlight.name)}</code><br>${esc(r.inFlight.kind)} · attempt ${esc(r.inFlight.attempt)} · started ${ago(r.inFlight.startedAt, now)}` : '<span class="none">-</span>';

/** `GET /`: the status contract's table, one row a follower, phases in colour. */
export const indexPage = (s: Snapshot): string => {
  const counts = new Map<string, number>();
  for (const r of s.rows) counts.set(r.phase, (counts.get(r.phase) ?? 0) + 1);
  const summary = [...counts].map(([p, n]) => `${n} ${esc(p)}`).join(' · ');
  const rows = s.rows
    .map(
      (r) => `<tr id="${esc(r.id)}">
<td><a href="${esc(followerHref(r.id))}">${esc(r.id)}</a></td>
<td>${phaseBadge(r.phase)}</td>
<td>${esc(r.adapter)}</td>
<td>${source(r)}<br>${shortSha(r.source.observedSha)}</td>
<td>${shortSha(r.targetSha)}</td>
<td>${shortSha(r.lastTriggeredSha)}</td>
<td>${shortSha(r.lastSucceededSha)}</td>
<td>${inFlight(r, s.at)}</td>
<td class="budget">${esc(r.budget.source)}</td>
<td class="reason">${esc(r.reason)}</td>
<td class="next">${commands(r.next)}</td>
</tr>`,
    )
    .join('\n');
  return page({
    title: 'status',
    readAt: s.at,
    refreshSeconds: PAGE_REFRESH_SECONDS,
    body: `<h1>Followers <span class="meta" style="font-size:13px;font-weight:400;color:#6b7280">${s.rows.length} · ${summary}</span></h1>
${armingBanner(s.arming)}
${s.mirror.held > 0 ? `<div class="banner">${s.mirror.held} repositor${s.mirror.held === 1 ? 'y' : 'ies'} held by git mirror back-pressure: ${s.mirror.holds.map((h) => `<code>${esc(h.repo)}</code> until ${esc(h.until)}`).join(', ')}</div>` : ''}
${problemsBox(s)}
<table>
<thead><tr><th>id</th><th>phase</th><th>adapter</th><th>source · observed</th><th>target</th><th>last triggered</th><th>last succeeded</th><th>in flight</th><th>budget source</th><th>reason</th><th>next</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`,
  });
};

const transitionsTable = (st: FollowerState): string =>
  st.history.length === 0
    ? ''
    : `<table><thead><tr><th>at</th><th>from</th><th>to</th><th>sha</th><th>attempt</th><th>run</th><th>reason</th></tr></thead><tbody>
${[...st.history]
  .reverse()
  .map(
    (t) =>
      `<tr><td><code>${esc(t.at)}</code></td><td>${phaseBadge(t.from)}</td><td>${phaseBadge(t.to)}</td><td>${shortSha(t.sha)}</td><td>${esc(t.attempt ?? '-')}</td><td>${t.run ? `<code>${esc(t.run)}</code>` : '-'}</td><td class="reason">${esc(t.reason)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`;

/** `GET /followers/<id>`: one follower: its run, budget, next commands and transitions. */
export const followerPage = (s: Snapshot, r: StatusRow): string => {
  const st = s.states.get(r.id) ?? null;
  const t = st?.tally;
  const observed = st?.observedSha ?? null;
  const attempts = st && observed ? `${attemptsFor(st, observed, st.episode)} of ${allowedAttempts(st, observed, st.episode, r.budget.maxAttempts)}` : '-';
  const pending = st?.pending ? `<code>${esc(st.pending.name)}</code> (attempt ${esc(st.pending.attempt)}, written ahead ${ago(st.pending.at, s.at)})` : '';
  const checks = st?.checks.length ? st.checks.map((c) => `<code>${esc(c.check)}</code> ${esc(c.result)}${c.detail ? `: ${esc(c.detail)}` : ''}`).join('<br>') : '<span class="none">-</span>';
  const armed = s.armed.get(r.id) ? 'armed (kill switch off, allowlisted)' : 'disarmed';
  return page({
    title: r.id,
    readAt: s.at,
    refreshSeconds: PAGE_REFRESH_SECONDS,
    body: `<p><a href="/">← all followers</a></p>
<h1>${esc(r.id)} ${phaseBadge(r.phase)}</h1>
${s.corrupt.has(r.id) ? '<div class="problems">Its stored state fails its schema and is left for a person; what shows here is what the registry says.</div>' : ''}
<p class="reason">${esc(r.reason)}</p>
<dl>
<dt>adapter</dt><dd>${esc(r.adapter)}</dd>
<dt>source</dt><dd>${source(r)}</dd>
<dt>observed</dt><dd>${shortSha(r.source.observedSha)}${t?.observedSince && observed ? ` first seen ${ago(t.observedSince, s.at)}` : ''}</dd>
<dt>target</dt><dd>${shortSha(r.targetSha)}${t?.targetSince && r.targetSha ? ` reported since ${ago(t.targetSince, s.at)}` : ''}</dd>
<dt>last triggered</dt><dd>${shortSha(r.lastTriggeredSha)}</dd>
<dt>last succeeded</dt><dd>${shortSha(r.lastSucceededSha)}${t?.lastSucceededAt ? ` ${ago(t.lastSucceededAt, s.at)}` : ''}</dd>
<dt>in flight</dt><dd>${r.inFlight ? inFlight(r, s.at) : pending || '<span class="none">-</span>'}</dd>
<dt>checks</dt><dd>${checks}</dd>
<dt>attempts</dt><dd>${attempts}</dd>
<dt>budget</dt><dd>${esc(r.budget.source)}: trigger ${esc(r.budget.triggerSeconds)}s, closeout ${esc(r.budget.closeoutSeconds)}s, ${esc(r.budget.maxAttempts)} attempts</dd>
<dt>arming</dt><dd>${armed}</dd>
<dt>runs</dt><dd>${t ? `${t.dispatches} dispatched · ${t.results.succeeded} succeeded · ${t.results.failed} failed · ${t.results.superseded} superseded · ${t.results.blocked} ended Blocked` : '<span class="none">none counted yet</span>'}</dd>
<dt>updated</dt><dd>${st ? ago(st.updatedAt, s.at) : '<span class="none">no state yet</span>'}</dd>
</dl>
<h2>Next</h2>
${commands(r.next)}
<h2>Transitions</h2>
${st ? timelineSvg(st.history, s.at) : '<p class="none">No state stored yet.</p>'}
${st ? transitionsTable(st) : ''}`,
  });
};

const notFound = (s: Snapshot, what: string): ServeResponse =>
  htmlResponse(404, page({ title: 'not found', readAt: s.at, body: `<p><a href="/">← all followers</a></p><h1>Not found</h1><p>${esc(what)}</p>` }));

/** `GET /` and `GET /followers/<id>`: read-only pages from the cached state read. */
export const pageRoutes = (snapshots: SnapshotSource): Route[] => [
  { method: 'GET', path: '/', handle: async () => htmlResponse(200, indexPage(await snapshots.get())) },
  {
    method: 'GET',
    path: /^\/followers\/[^/]+$/,
    async handle(req) {
      const s = await snapshots.get();
      let id: string;
      try {
        id = decodeURIComponent(req.path.slice('/followers/'.length));
      } catch {
        return notFound(s, 'That is not a follower id.');
      }
      const row = s.rows.find((r) => r.id === id);
      return row ? htmlResponse(200, followerPage(s, row)) : notFound(s, `No follower ${id} in the registry.`);
    },
  },
];
