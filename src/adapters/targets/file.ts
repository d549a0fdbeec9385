import { open } from 'node:fs/promises';
import path from 'node:path';
import type { TargetObservation } from '../../core/observe.ts';

/**
 * The `file` target reader: a file (relative to the registry's directory) holding the deployed
 * 40-hex sha, optionally followed by a newline. No file means nothing is deployed; an empty
 * file or anything else is unreadable, since it more likely is a half-done write than a statement.
 */

const MAX_BYTES = 4096;

export const readShaFile = async (relPath: string, cwd: string): Promise<TargetObservation> => {
  const file = path.resolve(cwd, relPath);
  const unreadable = (message: string): TargetObservation => ({ kind: 'unreadable', message: `target file ${file}: ${message}` });
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'ok', sha: null };
    return unreadable(`cannot open (${code ?? (e as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return unreadable('is not a regular file');
    if (st.size > MAX_BYTES) return unreadable(`is ${st.size} bytes; expected a full commit sha (40 or 64 hex)`);
    const text = await fh.readFile('utf8');
    if (text.trim() === '') return unreadable('is empty; expected a full commit sha (40 or 64 hex) (remove the file when nothing is deployed)');
    const m = /^([0-9a-f]{40}|[0-9a-f]{64})\s*$/.exec(text);
    if (!m) return unreadable(`expected a full commit sha (40 or 64 hex), found ${JSON.stringify(text.length > 60 ? `${text.slice(0, 59)}…` : text)}`);
    return { kind: 'ok', sha: m[1] as string };
  } catch (e) {
    return unreadable(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await fh.close();
  }
};
