import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { ConflictError } from '../ports.ts';
import { pidAlive, sleep } from './processes.ts';

/**
 * The file primitives the local driver's stores share: whole-file atomic replace, exclusive
 * create, and a per-object lock file. Readers never take the lock: every write lands by
 * rename() or link(), so a reader sees the old file or the new one, never a torn one.
 */

export const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** A lock older than this is taken to belong to a writer that hung or died. */
export const STALE_LOCK_MS = 30_000;
/** How long a writer waits for a live lock before giving up with a ConflictError. */
export const LOCK_WAIT_MS = 10_000;

// Temp files start with a dot and end in .tmp so directory listings can skip them.
const tempPath = (target: string): string =>
  path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

export const isTempName = (name: string): boolean => name.startsWith('.') && name.endsWith('.tmp');

/** stat(), or null when there is nothing there (or a file where a directory was expected). */
export const statOrNull = async (p: string) => {
  try {
    return await stat(p);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return null;
    throw e;
  }
};

const writeTemp = async (target: string, content: string, durable: boolean): Promise<string> => {
  const tmp = tempPath(target);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(content);
    if (durable) await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  return tmp;
};

const syncDir = async (dir: string): Promise<void> => {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
};

/** Replaces `target` whole: temp file in the same directory, fsync, rename over. */
export const replaceFile = async (target: string, content: string): Promise<void> => {
  const tmp = await writeTemp(target, content, true);
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(path.dirname(target));
};

/**
 * Creates `target` with its full content, or answers false when it already exists. link() of a
 * finished temp file is both exclusive and atomic, so nobody ever reads a half-written file.
 */
export const createFileExclusive = async (target: string, content: string, opts: { durable?: boolean } = {}): Promise<boolean> => {
  const durable = opts.durable ?? true;
  const tmp = await writeTemp(target, content, durable);
  try {
    await link(tmp, target);
  } catch (e) {
    const code = errCode(e);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    // No hard links on this filesystem: an O_EXCL create is still exclusive, only not atomic.
    try {
      await writeFile(target, content, { flag: 'wx', mode: 0o644 });
    } catch (e2) {
      if (errCode(e2) === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    await rm(tmp, { force: true });
  }
  if (durable) await syncDir(path.dirname(target));
  return true;
};

/**
 * The file's text, or null when it does not exist. Read synchronously: state files are small and
 * a tick reads one per follower; the promise-based read costs four thread-pool round trips each
 * (docs/performance.md, change 19).
 */
export const readFileOrNull = async (file: string): Promise<string | null> => {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  }
};

type LockRecord = { pid: number; host: string; at: string; token: string };
type LockHolder = { ino: number; mtimeMs: number; record: LockRecord | null };

const parseLockRecord = (text: string): LockRecord | null => {
  try {
    const v = JSON.parse(text) as Partial<LockRecord> | null;
    if (v && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string' && typeof v.at === 'string') {
      return { pid: v.pid, host: v.host, at: v.at, token: v.token };
    }
  } catch {
    // Garbage in a lock file: judged by its age alone.
  }
  return null;
};

const inspect = async (lockPath: string): Promise<LockHolder | null> => {
  try {
    const st = await stat(lockPath);
    const text = await readFileOrNull(lockPath);
    return { ino: st.ino, mtimeMs: st.mtimeMs, record: text === null ? null : parseLockRecord(text) };
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  }
};

const isStale = (h: LockHolder, now: number): boolean =>
  now - h.mtimeMs > STALE_LOCK_MS || (h.record !== null && h.record.host === hostname() && !pidAlive(h.record.pid));

const describe = (h: LockHolder): string =>
  h.record ? `pid ${h.record.pid} on ${h.record.host} since ${h.record.at}` : `an unknown writer since ${new Date(h.mtimeMs).toISOString()}`;

/**
 * Removes a lock judged stale. Two writers may judge the same lock stale at once; without care
 * the slower one would delete the lock the faster one just took. So breaking is itself
 * serialised by a `.break` file, and only the very file that was judged (same inode and
 * mtime) is removed.
 */
const breakLock = async (lockPath: string, judged: LockHolder, record: string): Promise<void> => {
  const breaker = `${lockPath}.break`;
  if (!(await createFileExclusive(breaker, record, { durable: false }))) {
    const other = await inspect(breaker);
    if (other && isStale(other, Date.now())) await rm(breaker, { force: true });
    await sleep(5 + Math.random() * 20);
    return;
  }
  try {
    const current = await stat(lockPath).catch((e: unknown) => {
      if (errCode(e) === 'ENOENT') return null;
      throw e;
    });
    if (current && current.ino === judged.ino && current.mtimeMs === judged.mtimeMs) await rm(lockPath, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
};

/**
 * Runs `fn` holding the lock file `lockPath` (created exclusively, recording pid, host and time).
 * A lock older than 30 s, or whose pid on this host is dead, is broken. A live lock held longer
 * than the wait gives a ConflictError: the caller re-reads and retries, or leaves it to the next tick.
 */
export const withFileLock = async <T>(lockPath: string, fn: () => Promise<T>, waitMs: number = LOCK_WAIT_MS): Promise<T> => {
  const token = randomBytes(8).toString('hex');
  const record = JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString(), token } satisfies LockRecord);
  const deadline = Date.now() + waitMs;
  for (let round = 0; ; round++) {
    // A lock need not survive a power cut (its holder would not either), so it skips the fsyncs.
    if (await createFileExclusive(lockPath, record, { durable: false })) break;
    const holder = await inspect(lockPath);
    if (holder === null) continue;
    if (isStale(holder, Date.now())) {
      await breakLock(lockPath, holder, record);
      continue;
    }
    if (Date.now() > deadline) throw new ConflictError(`${lockPath} is held by ${describe(holder)}; gave up after ${waitMs} ms`);
    // Locks are held for milliseconds; back off with jitter so racing writers spread out.
    await sleep(Math.min(2 ** round, 50) * (0.5 + Math.random()));
  }
  try {
    return await fn();
  } finally {
    const text = await readFileOrNull(lockPath).catch(() => null);
    // Only our own lock is released: if ours was broken as stale, the current one is someone else's.
    if (text !== null && parseLockRecord(text)?.token === token) await rm(lockPath, { force: true });
  }
};
