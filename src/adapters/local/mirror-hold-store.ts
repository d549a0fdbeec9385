import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { MirrorHolds } from '../../core/mirror-holds.ts';
import { WHOLE_FILE } from '../../core/primitives.ts';
import { ConflictError, type HoldsRead, type MirrorHoldStore } from '../ports.ts';
import { createFileExclusive, readFileOrNull, replaceFile, withFileLock } from './atomic-file.ts';

/**
 * Mirror back-pressure holds as `<stateDir>/mirror-holds.json`: `{ version, holds }`, replaced
 * atomically under a lock, compare-and-swap on the version.
 */

const Envelope = z.object({ version: z.number().int().min(1), holds: z.unknown() }).strict();

const where = (issue: z.core.$ZodIssue | undefined): string => (issue?.path ?? []).map(String).join('.') || WHOLE_FILE;

const readHoldsFile = async (file: string): Promise<HoldsRead & { next: number }> => {
  const text = await readFileOrNull(file);
  if (text === null) return { holds: { schemaVersion: 1, holds: {} }, version: null, next: 1 };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { corrupt: { where: `${file}: ${WHOLE_FILE}`, message: `not JSON: ${(e as Error).message}` }, version: null, next: 1 };
  }
  const env = Envelope.safeParse(raw);
  if (!env.success) return { corrupt: { where: `${file}: ${where(env.error.issues[0])}`, message: env.error.issues[0]?.message ?? 'invalid' }, version: null, next: 1 };
  const holds = MirrorHolds.safeParse(env.data.holds);
  if (!holds.success) {
    return { corrupt: { where: `${file}: holds.${where(holds.error.issues[0])}`, message: holds.error.issues[0]?.message ?? 'invalid' }, version: String(env.data.version), next: env.data.version + 1 };
  }
  return { holds: holds.data, version: String(env.data.version), next: env.data.version + 1 };
};

export const createLocalMirrorHoldStore = (stateDir: string): MirrorHoldStore => {
  const file = path.join(stateDir, 'mirror-holds.json');
  const lock = path.join(stateDir, 'mirror-holds.lock');
  const serialise = (version: number, holds: MirrorHolds): string => `${JSON.stringify({ version, holds: MirrorHolds.parse(holds) }, null, 2)}\n`;
  return {
    async read() {
      const { next: _next, ...read } = await readHoldsFile(file);
      return read;
    },
    async write(holds, version) {
      await mkdir(stateDir, { recursive: true });
      if (version === null) {
        if (!(await createFileExclusive(file, serialise(1, holds)))) throw new ConflictError(`${file} already exists`);
        return;
      }
      await withFileLock(lock, async () => {
        const current = await readHoldsFile(file);
        if (current.version !== version) throw new ConflictError(`${file} is at version ${current.version ?? '(none)'}, not ${version}`);
        await replaceFile(file, serialise(current.next, holds));
      });
    },
  };
};
