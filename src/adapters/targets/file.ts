import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TargetObservation } from '../../core/observe.ts';
import { parseRevision, REVISION_FORMS } from '../../core/revision.ts';

/**
 * The `file` target reader: a file (relative to the registry's directory) holding the deployed
 * revision (see core/revision.ts: a full or abbreviated sha in any case, or a Flux revision),
 * optionally followed by a newline. No file means nothing is deployed; an empty file or anything
 * else is unreadable, since it more likely is a half-done write than a statement. The reason
 * describes what is wrong, never the file's content.
 */

const MAX_BYTES = 4096;

export const readShaFile = async (relPath: string, cwd: string): Promise<TargetObservation> => {
  const file = path.resolve(cwd, relPath);
  const unreadable = (message: string): TargetObservation => ({ kind: 'unreadable', message: `target file ${file}: ${message}` });
  // Synchronous: a tick reads up to thousands of these few-byte files, and each promise-based
  // open/stat/read/close is a round trip through libuv's thread pool (docs/performance.md, change 19).
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'ok', sha: null, absent: `target file ${file} does not exist` };
    return unreadable(`cannot open (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return unreadable('is not a regular file');
    if (st.size > MAX_BYTES) return unreadable(`is ${st.size} bytes; expected ${REVISION_FORMS}`);
    const text = readFileSync(fd, 'utf8');
    if (text.trim() === '') return unreadable(`is empty; expected ${REVISION_FORMS} (remove the file when nothing is deployed)`);
    if (text.trim().includes('\n')) return unreadable(`holds ${text.trim().split('\n').length} lines; expected one line with ${REVISION_FORMS}`);
    const r = parseRevision(text);
    return r.ok ? { kind: 'ok', sha: r.sha } : unreadable(`content ${r.why}`);
  } catch (e) {
    return unreadable(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
};
