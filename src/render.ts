import { stringify } from 'yaml';
import type { Phase } from './core/phases.ts';
import { shortSha } from './core/primitives.ts';
import type { MirrorStatus, StatusRow } from './core/status-view.ts';

export type Paint = (phase: Phase | string, text: string) => string;

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export const makePaint = (stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint => {
  const on = !!stream.isTTY && !('NO_COLOR' in env) && env.TERM !== 'dumb';
  const codes: Record<string, number> = { Succeeded: 32, Noop: 32, Failed: 31, Blocked: 31, Skipped: 33, Superseded: 33, Triggering: 36, ClosingOut: 36, PendingTrigger: 35 };
  return (phase, text) => (on && codes[phase] ? `\u001b[${codes[phase]}m${text}\u001b[0m` : text);
};

export const table = (header: string[], rows: string[][], paintCol?: { index: number; paint: Paint }): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], paintIt: boolean): string =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0);
        return paintIt && paintCol && i === paintCol.index ? paintCol.paint(c, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(header, false), ...rows.map((r) => line(r, true))].join('\n');
};

const inFlightCell = (r: StatusRow): string => (r.inFlight ? `${r.inFlight.kind}/${r.inFlight.name}` : '-');

export const renderStatus = (rows: StatusRow[], output: 'table' | 'wide' | 'json' | 'yaml', paint: Paint, mirror: MirrorStatus = { held: 0, holds: [] }): string => {
  if (output === 'json') return JSON.stringify({ followers: rows, mirror }, null, 2);
  if (output === 'yaml') return stringify({ followers: rows, mirror }).trimEnd();
  const wide = output === 'wide';
  const sha = wide ? (s: string | null) => s ?? '-' : shortSha;
  const header = ['ID', 'PHASE', 'ADAPTER', 'SOURCE', 'OBSERVED', 'TARGET', 'TRIGGERED', 'SUCCEEDED', 'IN-FLIGHT', 'BUDGET'];
  if (wide) header.push('REASON');
  const body = rows.map((r) => {
    const cells = [
      r.id,
      r.phase,
      r.adapter,
      r.source.repo ? `${r.source.repo}@${r.source.branch}` : '-',
      sha(r.source.observedSha),
      sha(r.targetSha),
      sha(r.lastTriggeredSha),
      sha(r.lastSucceededSha),
      inFlightCell(r),
      r.budget.source,
    ];
    if (wide) cells.push(r.reason);
    return cells;
  });
  const next = rows.flatMap((r) => [`${r.id}: ${r.reason}`, ...r.next.map((n) => `  next: ${n}`)]);
  const held = mirror.holds.map((h) => `  ${h.repo}: not read before ${h.until} (since ${h.since}): ${h.reason}`);
  const pressure = mirror.held > 0 ? `\n\ngit mirror back-pressure: ${mirror.held} repositor${mirror.held === 1 ? 'y' : 'ies'} held\n${held.join('\n')}` : '';
  return `${table(header, body, { index: 1, paint })}\n\n${next.join('\n')}${pressure}`;
};
