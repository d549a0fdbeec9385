import { z } from 'zod';
import { FollowerId, IsoTime } from './primitives.ts';

export const ARMING_CONFIGMAP = 'branch-follower-arming';

const Change = {
  by: z.string().min(1).max(200),
  at: IsoTime.nullable(),
  reason: z.string().max(1000),
};

export const KillSwitch = z.object({ on: z.boolean(), ...Change }).strict();
export type KillSwitch = z.infer<typeof KillSwitch>;

export const AllowEntry = z.object({ id: FollowerId, ...Change }).strict();
export type AllowEntry = z.infer<typeof AllowEntry>;

export const Arming = z
  .object({
    killSwitch: KillSwitch,
    allowlist: z.array(AllowEntry).max(5000).refine((l) => new Set(l.map((e) => e.id)).size === l.length, 'allowlist ids must be unique'),
  })
  .strict();
export type Arming = z.infer<typeof Arming>;

/** What a fresh install ships: kill switch on, nobody allowlisted. */
export const DISARMED: Arming = {
  killSwitch: { on: true, by: 'install', at: null, reason: 'ships disabled' },
  allowlist: [],
};

/** The form the CLI writes: two keys, each a JSON document carrying who/when/why. parseArmingData also reads the plain form a person writes by hand. */
export const armingToData = (a: Arming): Record<'killSwitch' | 'allowlist', string> => ({
  killSwitch: JSON.stringify(a.killSwitch),
  allowlist: JSON.stringify(a.allowlist, null, 1),
});

export type ArmingRead =
  | { kind: 'ok'; arming: Arming }
  | { kind: 'absent' }
  | { kind: 'malformed'; where: string; message: string };

/** Who a hand-edited key is recorded as: the plain form carries no audit of its own. */
export const HAND_EDITED = { by: 'hand-edited (plain form)', at: null, reason: '' } as const;

/**
 * One key in either form. The CLI writes JSON documents with who/when/why; a person with
 * `kubectl edit` may write the plain form instead: `killSwitch: "on"` or `"off"`, and
 * `allowlist` as one follower id per line (blank lines and `#` comments ignored). A JSON
 * document starts with `{` or `[`; anything else is read as the plain form, strictly.
 */
const parseKey = (key: 'killSwitch' | 'allowlist', raw: string): { ok: true; value: unknown } | { ok: false; where: string; message: string } => {
  const text = raw.trim();
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, where: key, message: `not JSON: ${(e as Error).message}` };
    }
  }
  if (key === 'killSwitch') {
    if (text === 'on' || text === 'off') return { ok: true, value: { on: text === 'on', ...HAND_EDITED } };
    return { ok: false, where: key, message: `${JSON.stringify(text.slice(0, 40))} is not "on" or "off" (nor the CLI's JSON form)` };
  }
  const entries: unknown[] = [];
  const lines = raw.split('\n');
  for (const [i, line] of lines.entries()) {
    const id = line.replace(/#.*/, '').trim();
    if (id === '') continue;
    const r = FollowerId.safeParse(id);
    if (!r.success) return { ok: false, where: `${key} line ${i + 1}`, message: `${JSON.stringify(id.slice(0, 60))} is not a follower id: ${r.error.issues[0]?.message ?? 'invalid'}` };
    if (entries.some((e) => (e as { id: string }).id === id)) return { ok: false, where: `${key} line ${i + 1}`, message: `${id} is listed twice` };
    entries.push({ id, ...HAND_EDITED });
  }
  return { ok: true, value: entries };
};

/** Parses stored arming data (either form, per key); anything unreadable is reported, and counts as disarmed. */
export const parseArmingData = (where: string, data: Record<string, string> | null | undefined): ArmingRead => {
  if (!data) return { kind: 'absent' };
  const parsed: Record<string, unknown> = {};
  for (const key of ['killSwitch', 'allowlist'] as const) {
    const raw = data[key];
    if (raw === undefined) {
      // A near miss (`killswitch`, `allowList`) is the likely hand-edit: name it.
      const near = Object.keys(data).find((k) => k.toLowerCase() === key.toLowerCase());
      return { kind: 'malformed', where: `${where}: ${key}`, message: near ? `missing key (found "${near}": keys are case-sensitive)` : 'missing key' };
    }
    const r = parseKey(key, raw);
    if (!r.ok) return { kind: 'malformed', where: `${where}: ${r.where}`, message: r.message };
    parsed[key] = r.value;
  }
  const r = Arming.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { kind: 'malformed', where: `${where}: ${issue?.path.join('.') ?? ''}`, message: issue?.message ?? 'invalid' };
  }
  return { kind: 'ok', arming: r.data };
};

export type Gate =
  | { armed: true }
  | { armed: false; gate: 'kill-switch' | 'allowlist' | 'arming-absent' | 'arming-malformed'; reason: string };

/** Both gates must be clear: kill switch off and the follower allowlisted. */
export const gateFor = (read: ArmingRead, id: string): Gate => {
  if (read.kind === 'absent') return { armed: false, gate: 'arming-absent', reason: 'disarmed: no arming data (counts as kill switch on)' };
  if (read.kind === 'malformed') return { armed: false, gate: 'arming-malformed', reason: `disarmed: arming data malformed at ${read.where}: ${read.message}` };
  const { killSwitch, allowlist } = read.arming;
  if (killSwitch.on) return { armed: false, gate: 'kill-switch', reason: `disarmed: kill switch is on (by ${killSwitch.by}${killSwitch.reason ? `: ${killSwitch.reason}` : ''})` };
  if (!allowlist.some((e) => e.id === id)) return { armed: false, gate: 'allowlist', reason: `disarmed: ${id} is not on the allowlist` };
  return { armed: true };
};

export type ArmingEdit =
  | { kind: 'arm'; id: string }
  | { kind: 'disarm'; id: string }
  | { kind: 'disarm-all' }
  | { kind: 'kill-switch'; on: boolean };

/** Pure edit of arming data; malformed or absent data is replaced starting from disarmed. */
export const editArming = (read: ArmingRead, edit: ArmingEdit, who: { by: string; at: string; reason: string }): Arming => {
  const base = read.kind === 'ok' ? read.arming : DISARMED;
  switch (edit.kind) {
    case 'arm':
      return base.allowlist.some((e) => e.id === edit.id)
        ? base
        : { ...base, allowlist: [...base.allowlist, { id: edit.id, ...who }] };
    case 'disarm':
      return { ...base, allowlist: base.allowlist.filter((e) => e.id !== edit.id) };
    case 'disarm-all':
      return { ...base, allowlist: [] };
    case 'kill-switch':
      return { ...base, killSwitch: { on: edit.on, ...who } };
  }
};
