import type { Ports } from './context.ts';

export class DryRunWriteError extends Error {
  override name = 'DryRunWriteError';
}

const refuse = (what: string) => (): never => {
  throw new DryRunWriteError(`dry-run: refused to ${what}`);
};

/**
 * Dry-run by construction: the same ports with every write method replaced by one that
 * throws, so no code path (even a buggy one) can write state, emit, notify or dispatch.
 */
export const guardWrites = (p: Ports): Ports => ({
  store: { list: () => p.store.list(), get: (id) => p.store.get(id), create: refuse('create a state'), update: refuse('update a state') },
  arming: { read: () => p.arming.read(), write: refuse('write arming data') },
  holds: { read: () => p.holds.read(), write: refuse('write mirror holds') },
  dispatcher: { kind: p.dispatcher.kind, statuses: (n) => p.dispatcher.statuses(n), dispatch: refuse('dispatch'), cancel: refuse('cancel a dispatch') },
  targets: p.targets,
  pipelines: p.pipelines,
  refs: p.refs,
  events: { list: (id) => p.events.list(id), emit: refuse('emit an event') },
  notifier: { notify: refuse('send a notification') },
  logs: p.logs,
  // Asking whether a writer is alive writes nothing.
  ...(p.writers ? { writers: p.writers } : {}),
  ...(p.ticks ? { ticks: { totals: () => p.ticks!.totals(), record: refuse('record a tick'), collect: refuse('keep the tick totals') } } : {}),
  ...(p.housekeeper ? { housekeeper: { sweep: refuse('prune old runs') } } : {}),
});
