import type { Transition } from '../core/state.ts';
import { esc, PHASE_COLOURS } from './html.ts';

/** The newest transitions the timeline draws; the table under it lists every one the state keeps. */
export const TIMELINE_LIMIT = 20;

const SLOT = 112;
const PAD = 16;

const clock = (iso: string): string => iso.slice(5, 16).replace('T', ' ');

/**
 * A follower's recent transitions as an SVG strip: one slot per phase it entered, oldest left,
 * coloured by phase, with the time it entered below and the whole transition (from, to, sha,
 * attempt, reason) as the slot's tooltip. Slots are equal, not to scale: a burst of transitions
 * within a second must stay readable beside a phase that lasted a day; the times say how long.
 */
export const timelineSvg = (history: readonly Transition[], now: number): string => {
  const shown = history.slice(-TIMELINE_LIMIT);
  if (shown.length === 0) return '<p class="none">No transitions recorded yet.</p>';
  const width = PAD * 2 + shown.length * SLOT;
  const slots = shown
    .map((t, i) => {
      const x = PAD + i * SLOT;
      const tip = `${t.at}: ${t.from} → ${t.to}${t.sha ? ` (${t.sha.slice(0, 12)}${t.attempt ? ` attempt ${t.attempt}` : ''})` : ''}\n${t.reason}`;
      return `<g class="slot" data-to="${esc(t.to)}"><title>${esc(tip)}</title>
<rect x="${x}" y="18" width="${SLOT - 4}" height="26" rx="4" fill="${PHASE_COLOURS[t.to]}"/>
<text x="${x + (SLOT - 4) / 2}" y="35" text-anchor="middle" fill="#fff" font-size="11" font-weight="600">${esc(t.to)}</text>
<line x1="${x}" y1="14" x2="${x}" y2="48" stroke="#111827" stroke-width="1"/>
<text x="${x + 2}" y="62" font-size="10" fill="#374151">${esc(clock(t.at))}</text>
<text x="${x + 2}" y="75" font-size="10" fill="#6b7280">${esc(t.sha ? t.sha.slice(0, 7) : '')}${t.attempt ? ` #${t.attempt}` : ''}</text></g>`;
    })
    .join('\n');
  const from = shown[0]?.at ?? '';
  return `<svg role="img" aria-label="transitions timeline" xmlns="http://www.w3.org/2000/svg" width="${width}" height="84" viewBox="0 0 ${width} 84">
<text x="${PAD}" y="11" font-size="10" fill="#6b7280">${esc(`${shown.length} of ${history.length} transitions since ${from}; now ${new Date(now).toISOString().slice(0, 19)}Z`)}</text>
${slots}
</svg>`;
};
