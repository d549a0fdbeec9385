import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DISARMED, editArming, type Arming } from '../../src/core/arming.ts';
import { createLocalArmingStore } from '../../src/adapters/local/arming-store.ts';
import { ConflictError, type ArmingStore } from '../../src/adapters/ports.ts';

let dir: string;
let store: ArmingStore;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bf-arming-'));
  store = createLocalArmingStore(dir);
  file = path.join(dir, 'arming.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const who = { by: 'tester', at: '2026-01-01T00:00:00.000Z', reason: 'test' };
const armed: Arming = {
  killSwitch: { on: false, ...who },
  allowlist: [{ id: 'alpha', ...who }],
};

describe('local arming store', () => {
  it('reads an absent file as absent with no version', async () => {
    expect(await store.read()).toEqual({ read: { kind: 'absent' }, version: null });
  });

  it('creates the file with the two ConfigMap keys, each a JSON document, and refuses to create it twice', async () => {
    await store.write(DISARMED, null);
    const onDisk = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(onDisk).sort()).toEqual(['data', 'version']);
    expect(onDisk.version).toBe(1);
    expect(Object.keys(onDisk.data).sort()).toEqual(['allowlist', 'killSwitch']);
    expect(JSON.parse(onDisk.data.killSwitch)).toEqual(DISARMED.killSwitch);
    expect(JSON.parse(onDisk.data.allowlist)).toEqual([]);
    expect(await store.read()).toEqual({ read: { kind: 'ok', arming: DISARMED }, version: '1' });
    // `apply` never overwrites existing arming data.
    await expect(store.write(armed, null)).rejects.toBeInstanceOf(ConflictError);
    expect((await store.read()).read).toEqual({ kind: 'ok', arming: DISARMED });
  });

  it('is compare-and-swap: a stale version loses and changes nothing', async () => {
    await store.write(DISARMED, null);
    await store.write(armed, '1');
    expect(await store.read()).toEqual({ read: { kind: 'ok', arming: armed }, version: '2' });
    await expect(store.write(DISARMED, '1')).rejects.toBeInstanceOf(ConflictError);
    expect((await store.read()).read).toEqual({ kind: 'ok', arming: armed });
    await expect(createLocalArmingStore(path.join(dir, 'elsewhere')).write(armed, '1')).rejects.toBeInstanceOf(ConflictError);
  });

  it('lets exactly one of two racing writers win', async () => {
    await store.write(DISARMED, null);
    const a = editArming({ kind: 'ok', arming: DISARMED }, { kind: 'arm', id: 'a' }, who);
    const b = editArming({ kind: 'ok', arming: DISARMED }, { kind: 'arm', id: 'b' }, who);
    const results = await Promise.allSettled([store.write(a, '1'), store.write(b, '1')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ConflictError);
    const read = await store.read();
    expect(read.version).toBe('2');
    expect(read.read).toEqual({ kind: 'ok', arming: results[0]!.status === 'fulfilled' ? a : b });
  });

  it('reports a file that is not JSON as malformed, and still lets the brake replace it', async () => {
    await writeFile(file, '{ killSwitch: on');
    const r = await store.read();
    expect(r.read).toMatchObject({ kind: 'malformed', where: `${file}: the whole file` });
    expect(r.version).not.toBeNull();
    const brake = editArming(r.read, { kind: 'kill-switch', on: true }, who);
    await store.write(brake, r.version);
    expect((await store.read()).read).toEqual({ kind: 'ok', arming: brake });
  });

  it('does not replace malformed data that changed after it was read', async () => {
    await writeFile(file, 'garbage one');
    const r = await store.read();
    await writeFile(file, 'garbage two');
    await expect(store.write(DISARMED, r.version)).rejects.toBeInstanceOf(ConflictError);
    expect(await readFile(file, 'utf8')).toBe('garbage two');
  });

  it('names the key and JSON path of malformed data', async () => {
    await writeFile(file, JSON.stringify({ version: 5, data: { killSwitch: '{"on": true', allowlist: '[]' } }));
    expect((await store.read())).toMatchObject({ read: { kind: 'malformed', where: `${file}: killSwitch` }, version: '5' });

    await writeFile(file, JSON.stringify({ version: 6, data: { killSwitch: JSON.stringify(DISARMED.killSwitch), allowlist: '[{"id":"Not Valid","by":"x","at":null,"reason":""}]' } }));
    expect((await store.read()).read).toMatchObject({ kind: 'malformed', where: `${file}: allowlist.0.id` });

    await writeFile(file, JSON.stringify({ version: 7, data: { killSwitch: JSON.stringify(DISARMED.killSwitch) } }));
    expect((await store.read()).read).toMatchObject({ kind: 'malformed', where: `${file}: allowlist`, message: 'missing key' });

    await writeFile(file, JSON.stringify({ version: 'x', data: {} }));
    expect((await store.read()).read).toMatchObject({ kind: 'malformed', where: `${file}: version` });

    // A well-versioned malformed file is replaced through its version, which then moves on.
    await writeFile(file, JSON.stringify({ version: 9, data: { killSwitch: 'nope', allowlist: '[]' } }));
    await store.write(DISARMED, '9');
    expect(await store.read()).toEqual({ read: { kind: 'ok', arming: DISARMED }, version: '10' });
  });

  it('never writes arming data that fails its schema', async () => {
    await store.write(DISARMED, null);
    const before = await readFile(file, 'utf8');
    const dup = { ...armed, allowlist: [armed.allowlist[0]!, armed.allowlist[0]!] };
    await expect(store.write(dup, '1')).rejects.toThrow(/unique/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
