import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Transition } from '../../src/core/state.ts';
import { PHASES } from '../../src/core/phases.ts';
import { createLocalDispatcher } from '../../src/adapters/local/dispatcher.ts';
import { createLocalEventSink } from '../../src/adapters/local/events.ts';
import { createLocalLogReader } from '../../src/adapters/local/logs.ts';
import type { DispatchRequest } from '../../src/adapters/ports.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bf-events-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (n: number): string => n.toString(16).padStart(40, '0');
const t = (i: number, over: Partial<Transition> = {}): Transition => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  from: 'Observed',
  to: 'PendingTrigger',
  sha: sha(i + 1),
  attempt: 1,
  reason: `step ${i}`,
  ...over,
});

describe('local event sink', () => {
  it('appends transitions as JSON lines and lists them back in order', async () => {
    const sink = createLocalEventSink(dir);
    expect(await sink.list('alpha')).toEqual([]);
    await sink.emit('alpha', [t(0), t(1)]);
    await sink.emit('alpha', []);
    await sink.emit('alpha', [t(2, { to: 'Triggering', from: 'PendingTrigger', reason: 'quotes " and\nnewlines' })]);
    await sink.emit('beta', [t(9)]);
    const listed = await sink.list('alpha');
    expect(listed).toEqual([t(0), t(1), t(2, { to: 'Triggering', from: 'PendingTrigger', reason: 'quotes " and\nnewlines' })].map((x) => ({ ...x, id: 'alpha', source: 'event' })));
    const lines = (await readFile(path.join(dir, 'events', 'alpha.jsonl'), 'utf8')).split('\n');
    expect(lines).toHaveLength(4); // three events and the final newline
    expect(JSON.parse(lines[0]!)).toEqual({ id: 'alpha', ...t(0) });
    expect(await sink.list('beta')).toEqual([{ ...t(9), id: 'beta', source: 'event' }]);
  });

  it('tolerates a torn last line, and the next append starts on a line of its own', async () => {
    const sink = createLocalEventSink(dir);
    await sink.emit('alpha', [t(0)]);
    await appendFile(path.join(dir, 'events', 'alpha.jsonl'), '{"id":"alpha","at":"2026-01-01T00:0');
    expect(await sink.list('alpha')).toEqual([{ ...t(0), id: 'alpha', source: 'event' }]);
    await sink.emit('alpha', [t(1)]);
    expect((await sink.list('alpha')).map((e) => e.reason)).toEqual(['step 0', 'step 1']);
  });

  it('skips lines that are not transitions instead of failing the whole list', async () => {
    await mkdir(path.join(dir, 'events'));
    await writeFile(
      path.join(dir, 'events', 'alpha.jsonl'),
      [JSON.stringify({ id: 'alpha', ...t(0) }), 'null', '[1,2]', JSON.stringify({ id: 'alpha', ...t(1), to: 'Sleeping' }), JSON.stringify({ id: 'beta', ...t(2) }), JSON.stringify({ id: 'alpha', ...t(3) }), ''].join('\n'),
    );
    expect((await createLocalEventSink(dir).list('alpha')).map((e) => e.reason)).toEqual(['step 0', 'step 3']);
  });

  it('keeps every line whole when many emits race', async () => {
    const sink = createLocalEventSink(dir);
    const n = 60;
    await Promise.all(Array.from({ length: n }, (_, i) => sink.emit('alpha', [t(i, { reason: `r${i} ${'x'.repeat(i * 30)}` })])));
    const listed = await sink.list('alpha');
    expect(listed).toHaveLength(n);
    expect(new Set(listed.map((e) => e.reason.split(' ')[0]))).toEqual(new Set(Array.from({ length: n }, (_, i) => `r${i}`)));
  });

  it('round-trips any valid transitions', async () => {
    const transition = fc.record({
      at: fc.integer({ min: 0, max: 4_000_000_000_000 }).map((ms) => new Date(ms).toISOString()),
      from: fc.constantFrom(...PHASES),
      to: fc.constantFrom(...PHASES),
      sha: fc.option(fc.integer({ min: 0, max: 2 ** 31 }).map(sha), { nil: null }),
      attempt: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
      reason: fc.string({ maxLength: 200 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(transition, { maxLength: 4 }), { maxLength: 5 }), async (batches) => {
        const d = await mkdtemp(path.join(tmpdir(), 'bf-events-prop-'));
        try {
          const sink = createLocalEventSink(d);
          for (const b of batches) await sink.emit('prop', b);
          expect(await sink.list('prop')).toEqual(batches.flat().map((x) => ({ ...x, id: 'prop', source: 'event' })));
        } finally {
          await rm(d, { recursive: true, force: true });
        }
      }),
      { numRuns: 30 },
    );
  });

  it('refuses ids that are not follower ids', async () => {
    const sink = createLocalEventSink(dir);
    await expect(sink.emit('../x', [t(0)])).rejects.toThrow(/invalid follower id/);
    await expect(sink.list('a/b')).rejects.toThrow(/invalid follower id/);
  });
});

describe('local log reader', () => {
  const req = (name: string, argv: string[], sha1: string, attempt: number): DispatchRequest => ({
    followerId: 'alpha',
    sha: sha1,
    episode: 1,
    attempt,
    name,
    argv,
    repo: 'acme/app',
    branch: 'main',
    budgets: { triggerSeconds: 60, closeoutSeconds: 120, maxAttempts: 3 },
  });

  it('reads the given run, the newest run when none is given, and says so when there is none', async () => {
    const cwd = path.join(dir, 'work');
    await mkdir(cwd);
    const cmd = path.join(cwd, 'say.sh');
    await writeFile(cmd, '#!/bin/sh\necho "log of $1"\n');
    await chmod(cmd, 0o755);
    const stateDir = path.join(dir, 'state');
    const disp = createLocalDispatcher({ stateDir, cwd });
    const logs = createLocalLogReader(stateDir);

    expect(await logs.logs('alpha', null)).toBe(`no runs recorded for alpha in ${path.join(stateDir, 'runs')}\n`);

    const first = await disp.dispatch(req('bf-alpha-first', [cmd, 'first'], sha(1), 1));
    await waitForExit(stateDir, 'bf-alpha-first');
    await new Promise((r) => setTimeout(r, 5)); // distinct startedAt
    await disp.dispatch(req('bf-alpha-second', [cmd, 'second'], sha(1), 2));
    await waitForExit(stateDir, 'bf-alpha-second');
    // Another follower's newer run is not this follower's.
    await createLocalDispatcher({ stateDir, cwd }).dispatch({ ...req('bf-beta-third', [cmd, 'third'], sha(2), 1), followerId: 'beta' });
    await waitForExit(stateDir, 'bf-beta-third');

    const given = await logs.logs('alpha', { sha: sha(1), episode: 1, attempt: 1, name: 'bf-alpha-first', kind: 'Process', startedAt: first.startedAt, superseded: false });
    expect(given).toContain('log of first');
    expect(given).not.toContain('log of second');

    const newest = await logs.logs('alpha', null);
    expect(newest.split('\n')[0]).toMatch(/^# newest run bf-alpha-second \(000000000000 attempt 2, started /);
    expect(newest).toContain('log of second');

    const missing = await logs.logs('alpha', { sha: sha(1), episode: 1, attempt: 3, name: 'bf-alpha-gone', kind: 'Process', startedAt: first.startedAt, superseded: false });
    expect(missing).toMatch(/^no log for run bf-alpha-gone of alpha: no run bf-alpha-gone in /);
  });
});

const waitForExit = async (stateDir: string, name: string): Promise<void> => {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      await readFile(path.join(stateDir, 'runs', name, 'exit.json'));
      return;
    } catch {
      if (Date.now() > end) throw new Error(`${name} did not exit`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
};
