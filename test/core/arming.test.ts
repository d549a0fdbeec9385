// Arming: parsing the stored data, the two gates, and the pure edits behind arm/disarm/kill-switch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Arming, armingToData, DISARMED, editArming, gateFor, parseArmingData, type ArmingRead } from '../../src/core/arming.ts';
import { armedArmingArb, armingReadArb, disarmedArmingArb, fcParams, followerIdArb, malformedArmingDataArb } from '../support/arbitraries.ts';
import { AGENTRUN, HWLAB } from './fixtures.ts';

const who = { by: 'alice', at: '2025-06-01T00:00:00.000Z', reason: 'release window' };
const WHERE = 'configmap/branch-follower-arming';

describe('parseArmingData', () => {
  it('reads absent data as absent, valid data as ok', () => {
    expect(parseArmingData(WHERE, null)).toEqual({ kind: 'absent' });
    expect(parseArmingData(WHERE, undefined)).toEqual({ kind: 'absent' });
    expect(parseArmingData(WHERE, armingToData(DISARMED))).toEqual({ kind: 'ok', arming: DISARMED });
  });

  it('reports where malformed data is malformed', () => {
    expect(parseArmingData(WHERE, { allowlist: '[]' })).toEqual({ kind: 'malformed', where: `${WHERE}: killSwitch`, message: 'missing key' });
    const notJson = parseArmingData(WHERE, { killSwitch: '{"on":', allowlist: '[]' });
    expect(notJson).toMatchObject({ kind: 'malformed', where: `${WHERE}: killSwitch` });
    expect(notJson.kind === 'malformed' && notJson.message).toMatch(/^not JSON: /);
    expect(parseArmingData(WHERE, { killSwitch: '{"on":"no","by":"a","at":null,"reason":""}', allowlist: '[]' })).toMatchObject({ kind: 'malformed', where: `${WHERE}: killSwitch.on` });
    expect(parseArmingData(WHERE, { killSwitch: JSON.stringify(DISARMED.killSwitch), allowlist: '[{"id":"x","by":"a","at":null,"reason":""},{"id":"x","by":"b","at":null,"reason":""}]' })).toEqual({
      kind: 'malformed',
      where: `${WHERE}: allowlist`,
      message: 'allowlist ids must be unique',
    });
  });

  it('any malformed data parses as malformed, and counts as disarmed', () => {
    fc.assert(
      fc.property(malformedArmingDataArb, followerIdArb, (data, id) => {
        const read = parseArmingData(WHERE, data);
        expect(read.kind).toBe('malformed');
        expect(gateFor(read, id)).toMatchObject({ armed: false, gate: 'arming-malformed' });
      }),
      fcParams(),
    );
  });

  it('round-trips through its stored form', () => {
    fc.assert(
      fc.property(followerIdArb.chain((id) => fc.oneof(armedArmingArb(id), disarmedArmingArb(id).map((d) => d.arming))), (arming) => {
        expect(parseArmingData(WHERE, armingToData(arming))).toEqual({ kind: 'ok', arming: Arming.parse(arming) });
      }),
      fcParams(),
    );
  });
});

describe('the plain, hand-editable form', () => {
  // How a person writes it with kubectl edit: ids one per line, with blank lines, comments, indentation and CRLF.
  const plainArb = fc.record({
    on: fc.boolean(),
    ids: fc.uniqueArray(followerIdArb, { maxLength: 6 }),
    pad: fc.array(fc.constantFrom('', ' ', '  ', '\t', '\r'), { minLength: 7, maxLength: 7 }),
    comment: fc.constantFrom('', '# armed for the release', '  # a comment line'),
  }).map(({ on, ids, pad, comment }) => ({
    on,
    ids,
    data: {
      killSwitch: `${pad[0]}${on ? 'on' : 'off'}${pad[1]}\n`,
      allowlist: [comment, ...ids.map((id, i) => `${pad[(i % 5) + 2]}${id}${pad[(i + 1) % 7]}${i === 0 && comment ? ' # first' : ''}`), ''].join('\n'),
    },
  }));

  it('reads the kill switch and every id, in order, whatever the spacing and comments', () => {
    fc.assert(
      fc.property(plainArb, followerIdArb, ({ on, ids, data }, other) => {
        const read = parseArmingData(WHERE, data);
        expect(read.kind).toBe('ok');
        if (read.kind !== 'ok') return;
        expect(read.arming.killSwitch.on).toBe(on);
        expect(read.arming.allowlist.map((e) => e.id)).toEqual(ids);
        for (const id of [...ids, other]) expect(gateFor(read, id).armed).toBe(!on && ids.includes(id));
      }),
      fcParams(),
    );
  });

  it('mixes with the audited JSON form key by key', () => {
    fc.assert(
      fc.property(plainArb, followerIdArb.chain((id) => armedArmingArb(id)), ({ data }, audited) => {
        const json = armingToData(audited);
        const a = parseArmingData(WHERE, { killSwitch: data.killSwitch, allowlist: json.allowlist });
        const b = parseArmingData(WHERE, { killSwitch: json.killSwitch, allowlist: data.allowlist });
        expect(a.kind === 'ok' && a.arming.allowlist).toEqual(audited.allowlist);
        expect(b.kind === 'ok' && b.arming.killSwitch).toEqual(audited.killSwitch);
      }),
      fcParams(),
    );
  });

  it('a typo anywhere is malformed, names the line, and disarms every follower', () => {
    const typoArb = fc.oneof(
      plainArb.map(({ data }) => ({ data: { ...data, killSwitch: 'of' }, where: `${WHERE}: killSwitch` })),
      plainArb.map(({ data }) => ({ data: { ...data, killSwitch: 'false' }, where: `${WHERE}: killSwitch` })),
      fc.tuple(plainArb, fc.constantFrom('Webapp-Main', 'web_app', 'webapp main', '-webapp', 'x'.repeat(41))).map(([{ data, ids }, bad]) => ({
        data: { killSwitch: data.killSwitch, allowlist: [...ids, bad].join('\n') },
        where: `${WHERE}: allowlist line ${ids.length + 1}`,
      })),
      plainArb.filter(({ ids }) => ids.length > 0).map(({ data, ids }) => ({
        data: { killSwitch: data.killSwitch, allowlist: [...ids, ids[0]].join('\n') },
        where: `${WHERE}: allowlist line ${ids.length + 1}`,
      })),
      plainArb.map(({ data }) => ({ data: { killswitch: data.killSwitch, allowlist: data.allowlist }, where: `${WHERE}: killSwitch` })),
    );
    fc.assert(
      fc.property(typoArb, followerIdArb, ({ data, where }, id) => {
        const read = parseArmingData(WHERE, data);
        expect(read).toMatchObject({ kind: 'malformed', where });
        expect(gateFor(read, id)).toMatchObject({ armed: false, gate: 'arming-malformed' });
      }),
      fcParams(),
    );
    expect(parseArmingData(WHERE, { killSwitch: 'of', allowlist: '' })).toEqual({ kind: 'malformed', where: `${WHERE}: killSwitch`, message: '"of" is not "on" or "off" (nor the CLI\'s JSON form)' });
    expect(parseArmingData(WHERE, { killswitch: 'off', allowlist: '' })).toEqual({ kind: 'malformed', where: `${WHERE}: killSwitch`, message: 'missing key (found "killswitch": keys are case-sensitive)' });
  });
});

describe('gateFor', () => {
  const ok = (arming: Arming): ArmingRead => ({ kind: 'ok', arming });

  it('arms only with the kill switch off and the follower allowlisted', () => {
    const armed = ok({ killSwitch: { on: false, ...who }, allowlist: [{ id: HWLAB, ...who }] });
    expect(gateFor(armed, HWLAB)).toEqual({ armed: true });
    expect(gateFor(armed, AGENTRUN)).toEqual({ armed: false, gate: 'allowlist', reason: `disarmed: ${AGENTRUN} is not on the allowlist` });
    expect(gateFor(ok({ killSwitch: { on: true, ...who }, allowlist: [{ id: HWLAB, ...who }] }), HWLAB)).toEqual({
      armed: false,
      gate: 'kill-switch',
      reason: 'disarmed: kill switch is on (by alice: release window)',
    });
    expect(gateFor(ok(DISARMED), HWLAB)).toEqual({ armed: false, gate: 'kill-switch', reason: 'disarmed: kill switch is on (by install: ships disabled)' });
    expect(gateFor({ kind: 'absent' }, HWLAB)).toEqual({ armed: false, gate: 'arming-absent', reason: 'disarmed: no arming data (counts as kill switch on)' });
    expect(gateFor({ kind: 'malformed', where: `${WHERE}: allowlist`, message: 'not JSON' }, HWLAB)).toEqual({
      armed: false,
      gate: 'arming-malformed',
      reason: `disarmed: arming data malformed at ${WHERE}: allowlist: not JSON`,
    });
  });

  it('names the gate the generators expect, for any arming', () => {
    fc.assert(
      fc.property(followerIdArb.chain((id) => armingReadArb(id).map((a) => ({ id, a }))), ({ id, a }) => {
        const g = gateFor(a.read, id);
        if (a.kind === 'armed') expect(g).toEqual({ armed: true });
        else expect(g).toMatchObject({ armed: false, gate: a.kind === 'absent' ? 'arming-absent' : a.kind === 'malformed' ? 'arming-malformed' : a.kind });
      }),
      fcParams(),
    );
  });
});

describe('editArming', () => {
  it('a fresh install is disarmed: kill switch on, nobody allowlisted', () => {
    expect(DISARMED).toEqual({ killSwitch: { on: true, by: 'install', at: null, reason: 'ships disabled' }, allowlist: [] });
    expect(Arming.safeParse(DISARMED).success).toBe(true);
  });

  it('arm adds once, disarm removes, disarm-all empties, kill-switch records who, when and why', () => {
    const base: ArmingRead = { kind: 'ok', arming: DISARMED };
    const armed = editArming(base, { kind: 'arm', id: HWLAB }, who);
    expect(armed.allowlist).toEqual([{ id: HWLAB, ...who }]);
    expect(armed.killSwitch).toEqual(DISARMED.killSwitch);
    expect(editArming({ kind: 'ok', arming: armed }, { kind: 'arm', id: HWLAB }, { ...who, by: 'bob' })).toBe(armed);
    const two = editArming({ kind: 'ok', arming: armed }, { kind: 'arm', id: AGENTRUN }, who);
    expect(two.allowlist.map((e) => e.id)).toEqual([HWLAB, AGENTRUN]);
    expect(editArming({ kind: 'ok', arming: two }, { kind: 'disarm', id: HWLAB }, who).allowlist.map((e) => e.id)).toEqual([AGENTRUN]);
    expect(editArming({ kind: 'ok', arming: two }, { kind: 'disarm-all' }, who).allowlist).toEqual([]);
    const released = editArming({ kind: 'ok', arming: two }, { kind: 'kill-switch', on: false }, who);
    expect(released.killSwitch).toEqual({ on: false, ...who });
    expect(gateFor({ kind: 'ok', arming: released }, HWLAB)).toEqual({ armed: true });
    expect(editArming({ kind: 'ok', arming: released }, { kind: 'kill-switch', on: true }, { ...who, reason: 'incident' }).killSwitch).toEqual({ on: true, ...who, reason: 'incident' });
  });

  it('starts from disarmed when the data is absent or malformed', () => {
    for (const read of [{ kind: 'absent' }, { kind: 'malformed', where: WHERE, message: 'x' }] as ArmingRead[]) {
      const a = editArming(read, { kind: 'arm', id: HWLAB }, who);
      expect(a.killSwitch.on).toBe(true);
      expect(a.allowlist.map((e) => e.id)).toEqual([HWLAB]);
    }
  });

  it('keeps the data valid through any sequence of edits, and gates exactly as the edits say', () => {
    const editArb = fc.oneof(
      fc.constantFrom(HWLAB, AGENTRUN).map((id) => ({ kind: 'arm' as const, id })),
      fc.constantFrom(HWLAB, AGENTRUN).map((id) => ({ kind: 'disarm' as const, id })),
      fc.constant({ kind: 'disarm-all' as const }),
      fc.boolean().map((on) => ({ kind: 'kill-switch' as const, on })),
    );
    fc.assert(
      fc.property(fc.array(editArb, { maxLength: 12 }), (edits) => {
        let read: ArmingRead = { kind: 'absent' };
        let on = true;
        const allowed = new Set<string>();
        for (const e of edits) {
          const next = editArming(read, e, who);
          expect(Arming.safeParse(next).success).toBe(true);
          read = { kind: 'ok', arming: next };
          if (e.kind === 'arm') allowed.add(e.id);
          if (e.kind === 'disarm') allowed.delete(e.id);
          if (e.kind === 'disarm-all') allowed.clear();
          if (e.kind === 'kill-switch') on = e.on;
        }
        for (const id of [HWLAB, AGENTRUN]) expect(gateFor(read, id).armed).toBe(!on && allowed.has(id));
      }),
      fcParams(),
    );
  });
});
