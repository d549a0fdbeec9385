import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initialState, type FollowerState } from '../../src/core/state.ts';
import { withFileLock } from '../../src/adapters/local/atomic-file.ts';
import { createLocalStateStore } from '../../src/adapters/local/state-store.ts';
import { ConflictError, CorruptStateError, type StateStore, type Stored } from '../../src/adapters/ports.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const sha = (n: number): string => n.toString(16).padStart(40, '0');

let dir: string;
let store: StateStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bf-state-'));
  store = createLocalStateStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stateFile = (id: string): string => path.join(dir, 'state', `${id}.json`);
const withReason = (s: FollowerState, reason: string): FollowerState => ({ ...s, reason });
const okState = (s: Stored | null): FollowerState => {
  if (!s || !('state' in s)) throw new Error(`expected a readable state, got ${JSON.stringify(s)}`);
  return s.state;
};

/** Read, change, write; on a lost race read again and retry (what the loops do). */
const updateWithRetry = async (st: StateStore, id: string, change: (s: FollowerState) => FollowerState): Promise<number> => {
  for (let tries = 1; ; tries++) {
    const cur = await st.get(id);
    try {
      await st.update(change(okState(cur)), cur!.version);
      return tries;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
};

describe('local state store', () => {
  it('creates, reads back and lists a state with version 1, and refuses to create it twice', async () => {
    const s = initialState('alpha', T0);
    expect(await store.create(s)).toBe('1');
    expect(await store.get('alpha')).toEqual({ id: 'alpha', version: '1', state: s });
    expect(JSON.parse(await readFile(stateFile('alpha'), 'utf8'))).toEqual({ version: 1, state: s });
    await expect(store.create(withReason(s, 'again'))).rejects.toBeInstanceOf(ConflictError);
    expect(okState(await store.get('alpha')).reason).toBe(s.reason);
    expect(await store.list()).toEqual([{ id: 'alpha', version: '1', state: s }]);
  });

  it('lists nothing when the state directory does not exist, and get answers null', async () => {
    expect(await store.list()).toEqual([]);
    expect(await store.get('nobody')).toBeNull();
  });

  it('compare-and-swap: of two updates that read the same version exactly one wins and the loser clobbers nothing', async () => {
    await store.create(initialState('race', T0));
    const results = await Promise.allSettled([
      store.update(withReason(initialState('race', T0), 'writer A'), '1'),
      store.update(withReason(initialState('race', T0), 'writer B'), '1'),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    expect((won[0] as PromiseFulfilledResult<string>).value).toBe('2');
    const winner = results[0]!.status === 'fulfilled' ? 'writer A' : 'writer B';
    const stored = await store.get('race');
    expect(stored?.version).toBe('2');
    expect(okState(stored).reason).toBe(winner);
    // A stale version keeps failing afterwards, and does not change the file.
    const before = await readFile(stateFile('race'), 'utf8');
    await expect(store.update(withReason(initialState('race', T0), 'late'), '1')).rejects.toBeInstanceOf(ConflictError);
    expect(await readFile(stateFile('race'), 'utf8')).toBe(before);
  });

  it('never loses an update when several writers race and retry on conflict', async () => {
    await store.create(initialState('busy', T0));
    const writers = 8;
    const tries = await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        updateWithRetry(store, 'busy', (s) => ({ ...s, attempts: [...s.attempts, { sha: sha(i + 1), episode: 0, count: 1 }] })),
      ),
    );
    const final = await store.get('busy');
    expect(final?.version).toBe(String(writers + 1));
    expect(okState(final).attempts.map((a) => a.sha).sort()).toEqual(Array.from({ length: writers }, (_, i) => sha(i + 1)).sort());
    // Somebody must have lost a race for the test to mean anything; with 8 concurrent writers someone always does.
    expect(tries.some((t) => t > 1)).toBe(true);
    // Nothing is left behind: no lock, no temp file.
    expect(await readdir(path.join(dir, 'state'))).toEqual(['busy.json']);
  });

  it('never loses an update when separate processes race on the same file', async () => {
    await store.create(initialState('shared', T0));
    const script = path.join(dir, 'writer.ts');
    const storeUrl = new URL('../../src/adapters/local/state-store.ts', import.meta.url).href;
    const portsUrl = new URL('../../src/adapters/ports.ts', import.meta.url).href;
    await writeFile(
      script,
      `import { createLocalStateStore } from ${JSON.stringify(storeUrl)};
import { ConflictError } from ${JSON.stringify(portsUrl)};
const [stateDir, tag, n] = process.argv.slice(2);
const store = createLocalStateStore(stateDir);
for (let i = 0; i < Number(n); i++) {
  for (;;) {
    const cur = await store.get('shared');
    const s = cur.state;
    const mine = (parseInt(tag, 10) * 100 + i + 1).toString(16).padStart(40, '0');
    try { await store.update({ ...s, attempts: [...s.attempts, { sha: mine, count: 1 }] }, cur.version); break; }
    catch (e) { if (!(e instanceof ConflictError)) throw e; }
  }
}
`,
    );
    const procs = 3;
    const each = 5;
    const codes = await Promise.all(
      Array.from(
        { length: procs },
        (_, p) =>
          new Promise<number | null>((resolve, reject) => {
            const c = spawn(process.execPath, [script, dir, String(p + 1), String(each)], { stdio: ['ignore', 'inherit', 'inherit'] });
            c.once('error', reject);
            c.once('exit', (code) => resolve(code));
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0]);
    const final = await store.get('shared');
    expect(final?.version).toBe(String(procs * each + 1));
    expect(new Set(okState(final).attempts.map((a) => a.sha)).size).toBe(procs * each);
  });

  it('reports a file that is not JSON as corrupt, without throwing for the others and without rewriting it', async () => {
    await store.create(initialState('good', T0));
    await writeFile(stateFile('broken'), '{"version": 3, "state": {');
    const listed = await store.list();
    expect(listed.map((s) => s.id)).toEqual(['broken', 'good']);
    const broken = listed.find((s) => s.id === 'broken');
    expect(broken && 'corrupt' in broken ? broken.corrupt.where : null).toBe(`${stateFile('broken')}: the whole file`);
    expect(broken && 'corrupt' in broken ? broken.corrupt.message : '').toMatch(/^not JSON/);
    await expect(store.update(initialState('broken', T0), broken!.version)).rejects.toBeInstanceOf(CorruptStateError);
    await expect(store.create(initialState('broken', T0))).rejects.toBeInstanceOf(ConflictError);
    expect(await readFile(stateFile('broken'), 'utf8')).toBe('{"version": 3, "state": {');
  });

  it('names the JSON path of a state that fails its schema, and leaves it for a person', async () => {
    await mkdir(path.join(dir, 'state'), { recursive: true });
    const bad = { version: 4, state: { ...initialState('wrong', T0), phase: 'Dancing' } };
    const text = JSON.stringify(bad);
    await writeFile(stateFile('wrong'), text);
    const got = await store.get('wrong');
    expect(got).toMatchObject({ id: 'wrong', version: '4', corrupt: { where: `${stateFile('wrong')}: state.phase` } });
    await expect(store.update(initialState('wrong', T0), '4')).rejects.toThrow(/state\.phase/);
    expect(await readFile(stateFile('wrong'), 'utf8')).toBe(text);

    // A state filed under another follower's name is not that follower's state.
    await writeFile(stateFile('other'), JSON.stringify({ version: 1, state: initialState('someone', T0) }));
    expect(await store.get('other')).toMatchObject({ corrupt: { where: `${stateFile('other')}: state.id` } });
    // A bad envelope is named too.
    await writeFile(stateFile('envelope'), JSON.stringify({ version: 'one', state: initialState('envelope', T0) }));
    expect(await store.get('envelope')).toMatchObject({ version: '0', corrupt: { where: `${stateFile('envelope')}: version` } });
  });

  it('never writes an invalid state', async () => {
    await store.create(initialState('strict', T0));
    const before = await readFile(stateFile('strict'), 'utf8');
    const invalid = { ...initialState('strict', T0), phase: 'Triggering' } as FollowerState; // Triggering needs a run in flight
    await expect(store.update(invalid, '1')).rejects.toThrow(/inFlight/);
    await expect(store.create({ ...initialState('fresh', T0), observedSha: 'abc' })).rejects.toThrow();
    expect(await readFile(stateFile('strict'), 'utf8')).toBe(before);
    expect(await store.get('fresh')).toBeNull();
  });

  it('refuses ids that are not follower ids (they would escape the directory)', async () => {
    await expect(store.get('../escape')).rejects.toThrow(/invalid follower id/);
    await expect(store.create({ ...initialState('x', T0), id: '../../x' })).rejects.toThrow();
  });

  it('answers ConflictError for a missing state and for a version it never issued', async () => {
    await expect(store.update(initialState('ghost', T0), '1')).rejects.toBeInstanceOf(ConflictError);
    await store.create(initialState('ghost', T0));
    await expect(store.update(initialState('ghost', T0), 'v1')).rejects.toBeInstanceOf(ConflictError);
    await expect(store.update(initialState('ghost', T0), '7')).rejects.toBeInstanceOf(ConflictError);
  });

  it('skips temp and lock files when listing', async () => {
    await store.create(initialState('real', T0));
    await writeFile(path.join(dir, 'state', '.real.json.123.abc.tmp'), 'partial');
    await writeFile(path.join(dir, 'state', 'real.lock'), '{}');
    await writeFile(path.join(dir, 'state', 'notes.txt'), 'hello');
    expect((await store.list()).map((s) => s.id)).toEqual(['real']);
  });

  describe('the per-follower lock', () => {
    const lock = (id: string): string => path.join(dir, 'state', `${id}.lock`);

    const deadPid = async (): Promise<number> =>
      new Promise((resolve, reject) => {
        const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
        c.once('error', reject);
        c.once('exit', () => resolve(c.pid as number));
      });

    it('breaks a lock whose recorded pid on this host is dead', async () => {
      await store.create(initialState('held', T0));
      const { hostname } = await import('node:os');
      await writeFile(lock('held'), JSON.stringify({ pid: await deadPid(), host: hostname(), at: new Date().toISOString(), token: 'dead' }));
      expect(await store.update(withReason(initialState('held', T0), 'after a dead writer'), '1')).toBe('2');
      expect(okState(await store.get('held')).reason).toBe('after a dead writer');
      expect(await readdir(path.join(dir, 'state'))).toEqual(['held.json']);
    });

    it('breaks a lock older than 30 s even when its pid is alive', async () => {
      await store.create(initialState('old', T0));
      const { hostname } = await import('node:os');
      await writeFile(lock('old'), JSON.stringify({ pid: process.pid, host: hostname(), at: '2020-01-01T00:00:00.000Z', token: 'old' }));
      const past = new Date(Date.now() - 60_000);
      await utimes(lock('old'), past, past);
      expect(await store.update(withReason(initialState('old', T0), 'after a hung writer'), '1')).toBe('2');
    });

    it('breaks an old lock whose content is garbage', async () => {
      await store.create(initialState('junk', T0));
      await writeFile(lock('junk'), 'not a lock record');
      const past = new Date(Date.now() - 60_000);
      await utimes(lock('junk'), past, past);
      expect(await store.update(initialState('junk', T0), '1')).toBe('2');
    });

    it('waits for a live lock and then writes', async () => {
      await store.create(initialState('wait', T0));
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      let entered: () => void = () => {};
      const inside = new Promise<void>((r) => (entered = r));
      const holder = withFileLock(lock('wait'), async () => {
        entered();
        await held;
      });
      await inside;
      let done = false;
      const writer = store.update(withReason(initialState('wait', T0), 'waited'), '1').then((v) => {
        done = true;
        return v;
      });
      await new Promise((r) => setTimeout(r, 150));
      expect(done).toBe(false);
      release();
      await holder;
      expect(await writer).toBe('2');
    });

    it('gives up on a live lock with a ConflictError after its wait', async () => {
      const { hostname } = await import('node:os');
      await mkdir(path.join(dir, 'state'), { recursive: true });
      await writeFile(lock('stuck'), JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString(), token: 'live' }));
      let ran = false;
      await expect(
        withFileLock(
          lock('stuck'),
          async () => {
            ran = true;
          },
          200,
        ),
      ).rejects.toThrow(ConflictError);
      expect(ran).toBe(false);
      // The live lock is not taken away from its holder.
      expect(JSON.parse(await readFile(lock('stuck'), 'utf8')).token).toBe('live');
    });
  });

  it('behaves like a versioned register under any sequence of fresh and stale writes (model)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ stale: fc.boolean(), tag: fc.integer({ min: 0, max: 1000 }) }), { maxLength: 12 }), async (ops) => {
        const d = await mkdtemp(path.join(tmpdir(), 'bf-state-model-'));
        try {
          const st = createLocalStateStore(d);
          await st.create(initialState('m', T0));
          let version = 1;
          let reason = initialState('m', T0).reason;
          for (const op of ops) {
            const v = op.stale ? version - 1 : version;
            const attempt = st.update(withReason(initialState('m', T0), `tag ${op.tag}`), String(v));
            if (op.stale) {
              await expect(attempt).rejects.toBeInstanceOf(ConflictError);
            } else {
              expect(await attempt).toBe(String(version + 1));
              version += 1;
              reason = `tag ${op.tag}`;
            }
            const now = await st.get('m');
            expect(now?.version).toBe(String(version));
            expect(okState(now).reason).toBe(reason);
          }
        } finally {
          await rm(d, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
  });
});
