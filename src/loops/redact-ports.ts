import type { StageReading } from '../core/fold.ts';
import type { SourceObservation, TargetObservation } from '../core/observe.ts';
import { redactError, type Redactor } from '../adapters/redaction.ts';
import type { Ports } from './context.ts';

/**
 * Every text that comes into the loops from an adapter (a mirror error, a target reader's
 * complaint, a stage detail, a thrown error) is redacted there, before the core builds reasons
 * from it: what is stored, emitted, notified and printed is then clean from the start, and an
 * idle tick still finds nothing to write (a stored reason and a recomputed one agree). Events
 * and notifications are redacted once more on the way out, as a last guard.
 */
export const redactPorts = (p: Ports, r: Redactor): Ports => {
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw redactError(e, r);
    }
  };
  const reading = (s: StageReading): StageReading => ({ ...s, detail: r.redact(s.detail) });
  const readings = <K>(m: Map<K, StageReading>): Map<K, StageReading> => new Map([...m].map(([k, v]) => [k, reading(v)]));
  const source = (o: SourceObservation): SourceObservation => ('message' in o ? { ...o, message: r.redact(o.message) } : o);
  const target = (o: TargetObservation): TargetObservation => (o.kind === 'ok' ? o : { ...o, message: r.redact(o.message) });
  return {
    ...p,
    store: {
      list: () => guard(() => p.store.list()),
      get: (id) => guard(() => p.store.get(id)),
      create: (s) => guard(() => p.store.create(s)),
      update: (s, v) => guard(() => p.store.update(s, v)),
    },
    arming: { read: () => guard(() => p.arming.read()), write: (a, v) => guard(() => p.arming.write(a, v)) },
    dispatcher: {
      kind: p.dispatcher.kind,
      dispatch: (req) => guard(() => p.dispatcher.dispatch(req)),
      cancel: (name) => guard(() => p.dispatcher.cancel(name)),
      statuses: async (names) => readings(await guard(() => p.dispatcher.statuses(names))),
    },
    targets: { readMany: async (reqs) => new Map([...(await guard(() => p.targets.readMany(reqs)))].map(([k, v]) => [k, target(v)])) },
    pipelines: { readMany: async (reqs) => readings(await guard(() => p.pipelines.readMany(reqs))) },
    refs: {
      readMany: async (reqs) =>
        new Map([...(await guard(() => p.refs.readMany(reqs)))].map(([repo, m]) => [repo, new Map([...m].map(([b, o]) => [b, source(o)]))])),
      lastReadSeconds: () => p.refs.lastReadSeconds?.() ?? new Map(),
    },
    holds: { read: () => guard(() => p.holds.read()), write: (h, v) => guard(() => p.holds.write(h, v)) },
    events: {
      emit: (id, ts) => guard(() => p.events.emit(id, ts.map((t) => ({ ...t, reason: r.redact(t.reason) })))),
      list: (id) => guard(() => p.events.list(id)),
    },
    notifier: { notify: (n) => guard(() => p.notifier.notify({ ...n, reason: r.redact(n.reason) })) },
    logs: { logs: async (id, run, pick) => r.redact(await guard(() => p.logs.logs(id, run, pick))) },
  };
};
