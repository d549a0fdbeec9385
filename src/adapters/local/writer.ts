import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Writer, WriterLiveness } from '../../core/state.ts';
import type { WriterProbe } from '../ports.ts';
import { isRunning } from './processes.ts';

/**
 * A process as the writer of a pending dispatch: host, pid and the kernel's boot id
 * (/proc/sys/kernel/random/boot_id, new at every boot). On the same host, a different boot id
 * means the writer's whole machine restarted since (gone); the same boot id and a pid that is
 * not running (or a zombie) means the writer died (gone). A pid handed to some other process
 * since reads as alive: the lease then decides, which is only slower, never unsafe. Another
 * host, or a system without a boot id, cannot be told: unknown.
 */

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export const readBootId = async (file: string = BOOT_ID_FILE): Promise<string | null> => {
  try {
    const id = (await readFile(file, 'utf8')).trim();
    return id === '' ? null : id.slice(0, 64);
  } catch {
    return null;
  }
};

export type ProcessIdentity = { host: string; pid: number; bootId: string | null };

export const thisProcess = async (): Promise<ProcessIdentity> => ({ host: hostname().slice(0, 253) || 'localhost', pid: process.pid, bootId: await readBootId() });

export const processWriter = (me: ProcessIdentity): Writer | null =>
  me.bootId === null ? null : { kind: 'process', host: me.host, pid: me.pid, bootId: me.bootId };

export const processLiveness = async (me: ProcessIdentity, w: Writer): Promise<WriterLiveness> => {
  if (w.kind !== 'process' || me.bootId === null || w.host !== me.host) return 'unknown';
  if (w.bootId !== me.bootId) return 'gone';
  if (w.pid === me.pid) return 'alive';
  return (await isRunning(w.pid)) ? 'alive' : 'gone';
};

export const createLocalWriterProbe = (me: ProcessIdentity): WriterProbe => ({
  self: processWriter(me),
  liveness: (w) => processLiveness(me, w),
});
