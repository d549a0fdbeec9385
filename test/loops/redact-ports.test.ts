// What comes into the loops from an adapter is redacted before the core builds reasons from it,
// and what goes out as events and notifications once more; thrown errors keep their class.
import { describe, expect, it } from 'vitest';
import { ConflictError, type Notifier, type EventSink } from '../../src/adapters/ports.ts';
import { createRedactor } from '../../src/adapters/redaction.ts';
import type { Notification } from '../../src/core/notifications.ts';
import type { Transition } from '../../src/core/state.ts';
import { redactPorts } from '../../src/loops/redact-ports.ts';
import type { Ports } from '../../src/loops/context.ts';

const TOKEN = 'T0KEN-9f8e7d6c5b4a';
const HOOK = `https://hooks.example/services/${TOKEN}`;
const CRED = 'http://bot:hunter2@mirror.local/git';
const dirty = `failed at ${CRED} posting to ${HOOK}`;
const clean = 'failed at http://bot:***@mirror.local/git posting to ***';

const never = (): never => {
  throw new Error('not called');
};

describe('redactPorts', () => {
  it('redacts readings, messages, thrown errors, events, notifications and logs', async () => {
    const emitted: Transition[][] = [];
    const notified: Notification[] = [];
    const events: EventSink = { emit: async (_id, ts) => void emitted.push([...ts]), list: async () => [] };
    const notifier: Notifier = { notify: async (n) => void notified.push(n) };
    const ports: Ports = {
      store: { list: async () => [], get: async () => null, create: async () => never(), update: async () => Promise.reject(new ConflictError(dirty)) },
      arming: { read: async () => ({ read: { kind: 'absent' }, version: null }), write: never },
      holds: { read: async () => Promise.reject(new Error(dirty)), write: never },
      dispatcher: { kind: 'Process', dispatch: async () => Promise.reject(new Error(dirty)), cancel: async () => undefined, statuses: async (ns) => new Map(ns.map((n) => [n, { result: 'FAILURE' as const, detail: dirty }])) },
      targets: { readMany: async (rs) => new Map(rs.map((r) => [r.key, { kind: 'unreadable' as const, message: dirty }])) },
      pipelines: { readMany: async (rs) => new Map(rs.map((r) => [r.key, { result: 'PENDING' as const, detail: dirty }])) },
      refs: { readMany: async (rs) => new Map(rs.map((r) => [r.repo, new Map(r.branches.map((b) => [b, { kind: 'unreachable' as const, message: dirty }]))])) },
      events,
      notifier,
      logs: { logs: async () => dirty },
    };
    const r = createRedactor();
    r.add([HOOK]);
    const p = redactPorts(ports, r);
    expect((await p.dispatcher.statuses(['x'])).get('x')?.detail).toBe(clean);
    expect((await p.targets.readMany([{ key: 'k', spec: { reader: 'file', path: 'x' } }])).get('k')).toEqual({ kind: 'unreadable', message: clean });
    expect((await p.pipelines.readMany([{ key: 'k', spec: { namespace: 'n', labels: {}, shaLabel: 's' }, sha: 'a'.repeat(40) }])).get('k')?.detail).toBe(clean);
    expect((await p.refs.readMany([{ repo: 'o/r', branches: ['main'] }])).get('o/r')?.get('main')).toEqual({ kind: 'unreachable', message: clean });
    expect(await p.logs.logs('id', null)).toBe(clean);
    await expect(p.holds.read()).rejects.toThrow(clean);
    const conflict = await p.store.update({} as never, '1').catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as Error).message).toBe(clean);
    await expect(p.dispatcher.dispatch({} as never)).rejects.toThrow(clean);
    await p.events.emit('id', [{ at: '2026-01-01T00:00:00.000Z', from: 'Observed', to: 'Blocked', sha: null, attempt: null, reason: dirty }]);
    expect(emitted[0]?.[0]?.reason).toBe(clean);
    await p.notifier.notify({ id: 'id', phase: 'Blocked', sha: null, attempt: null, reason: dirty } as Notification);
    expect(notified[0]?.reason).toBe(clean);
  });
});
