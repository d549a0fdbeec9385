import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errCode } from './atomic-file.ts';

/**
 * A run's log on disk is bounded: its first HEAD_BYTES and its last TAIL_BYTES, with a marker
 * between them naming how much was left out. A deploy that prints megabytes of stderr on every
 * failure would otherwise fill the state directory (30 such runs left 78 MB before this).
 *
 * While the command runs, the supervisor relays its output: the head goes to `log`, the rest
 * to `log.tail`, which is renamed to `log.tail.prev` each time it reaches TAIL_BYTES, so the
 * last TAIL_BYTES are always within the two tail files and the disk holds at most
 * HEAD_BYTES + 2 * TAIL_BYTES. When the command ends the supervisor folds them into one file
 * (head, marker, tail) by atomic replace. A reader that finds the tail files (a run still going,
 * or a supervisor killed before it folded them) folds them the same way in memory.
 */

export const HEAD_BYTES = 256 * 1024;
export const TAIL_BYTES = 256 * 1024;

export type LogPaths = { log: string; tail: string; tailPrev: string };

export const logPaths = (log: string): LogPaths => ({ log, tail: `${log}.tail`, tailPrev: `${log}.tail.prev` });

export const omittedMarker = (omitted: number | null): string =>
  omitted === null
    ? `\n[branch-follower: earlier output omitted; a run's log keeps its first ${HEAD_BYTES / 1024} KiB and last ${TAIL_BYTES / 1024} KiB]\n`
    : `\n[branch-follower: ${omitted} bytes omitted; a run's log keeps its first ${HEAD_BYTES / 1024} KiB and last ${TAIL_BYTES / 1024} KiB]\n`;

/** Synchronous, so the supervisor's own lines and the command's output keep their order. */
export class CappedLogWriter {
  readonly paths: LogPaths;
  private readonly head: number;
  private tail: number | null = null;
  private headLeft: number;
  private tailSize = 0;
  /** Every byte that went past the head, kept or not. */
  private pastHead = 0;

  constructor(log: string, alreadyWritten: number) {
    this.paths = logPaths(log);
    // O_APPEND: the dispatcher and node's own crash traces (on stderr) share this file.
    this.head = openSync(log, 'a', 0o644);
    this.headLeft = Math.max(0, HEAD_BYTES - alreadyWritten);
  }

  write(data: Buffer | string): void {
    let buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.headLeft > 0) {
      const n = Math.min(this.headLeft, buf.length);
      writeAll(this.head, buf.subarray(0, n));
      this.headLeft -= n;
      buf = buf.subarray(n);
    }
    if (buf.length === 0) return;
    this.pastHead += buf.length;
    // Only the last TAIL_BYTES of a single huge chunk can survive anyway.
    if (buf.length > TAIL_BYTES) buf = buf.subarray(buf.length - TAIL_BYTES);
    while (buf.length > 0) {
      this.tail ??= openSync(this.paths.tail, 'a', 0o644);
      const n = Math.min(TAIL_BYTES - this.tailSize, buf.length);
      writeAll(this.tail, buf.subarray(0, n));
      this.tailSize += n;
      buf = buf.subarray(n);
      if (this.tailSize >= TAIL_BYTES) {
        closeSync(this.tail);
        this.tail = null;
        renameSync(this.paths.tail, this.paths.tailPrev);
        this.tailSize = 0;
      }
    }
  }

  /** Folds the tail files into the log (head, marker, last TAIL_BYTES) by atomic replace. */
  async close(): Promise<void> {
    closeSync(this.head);
    if (this.tail !== null) closeSync(this.tail);
    this.tail = null;
    if (this.pastHead === 0) return;
    const tail = await readTail(this.paths);
    const folded = Buffer.concat([await readFile(this.paths.log), Buffer.from(omittedMarker(this.pastHead - tail.length)), tail]);
    const tmp = path.join(path.dirname(this.paths.log), `.${path.basename(this.paths.log)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(folded);
    } finally {
      await fh.close();
    }
    await rename(tmp, this.paths.log);
    // The tail files go only after the folded log is in place: a kill in between leaves both,
    // and a reader that sees tail files beside a folded log shows the folded one (see readCappedLog).
    rmSync(this.paths.tailPrev, { force: true });
    rmSync(this.paths.tail, { force: true });
  }
}

const writeAll = (fd: number, buf: Buffer): void => {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
};

const readOrEmpty = async (file: string): Promise<Buffer> => {
  try {
    return await readFile(file);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return Buffer.alloc(0);
    throw e;
  }
};

/** The last TAIL_BYTES of the two tail files, in order. */
const readTail = async (p: LogPaths): Promise<Buffer> => {
  const both = Buffer.concat([await readOrEmpty(p.tailPrev), await readOrEmpty(p.tail)]);
  return both.length <= TAIL_BYTES ? both : both.subarray(both.length - TAIL_BYTES);
};

const exists = async (file: string): Promise<boolean> =>
  stat(file).then(
    () => true,
    (e: unknown) => {
      if (errCode(e) === 'ENOENT') return false;
      throw e;
    },
  );

/**
 * The whole capped log of a run as a reader sees it: the folded file, or, while tail files are
 * there and the log is not yet folded, the head with the tail appended after a marker.
 * Null when there is no log at all.
 */
export const readCappedLog = async (log: string): Promise<Buffer | null> => {
  const p = logPaths(log);
  const head = await readFile(log).catch((e: unknown) => {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  });
  if (head === null) return null;
  if (head.includes(MARKER_PROBE) || !((await exists(p.tail)) || (await exists(p.tailPrev)))) return head;
  return Buffer.concat([head, Buffer.from(omittedMarker(null)), await readTail(p)]);
};

const MARKER_PROBE = Buffer.from("; a run's log keeps its first ");

/** Removes a run's log files (pruning). */
export const removeLog = async (log: string): Promise<void> => {
  const p = logPaths(log);
  for (const f of [p.tailPrev, p.tail, p.log]) await rm(f, { force: true });
};
