import { WHOLE_FILE } from '../../core/primitives.ts';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { Arming, armingToData, parseArmingData, type ArmingRead } from '../../core/arming.ts';
import { ConflictError, type ArmingStore } from '../ports.ts';
import { createFileExclusive, readFileOrNull, replaceFile, withFileLock } from './atomic-file.ts';

/**
 * The arming gate as `<stateDir>/arming.json`: `{ version, data: { killSwitch, allowlist } }`,
 * the same two JSON-string keys as the Kubernetes ConfigMap, so both drivers parse them alike.
 *
 * A malformed file must still be replaceable (pulling the brake always works), so it gets a
 * version too: the integer when the envelope has one, else a hash of the bytes read.
 */

const Envelope = z
  .object({ version: z.number().int().min(1), data: z.record(z.string(), z.string()) })
  .strict();

type FileRead = { read: ArmingRead; version: string | null; next: number };

const contentVersion = (text: string): string => `content-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;

const readArmingFile = async (file: string): Promise<FileRead> => {
  const text = await readFileOrNull(file);
  if (text === null) return { read: { kind: 'absent' }, version: null, next: 1 };
  const malformed = (where: string, message: string): FileRead => ({
    read: { kind: 'malformed', where: `${file}: ${where}`, message },
    version: contentVersion(text),
    next: 1,
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return malformed(WHOLE_FILE, `not JSON: ${(e as Error).message}`);
  }
  const env = Envelope.safeParse(raw);
  if (!env.success) {
    const issue = env.error.issues[0];
    return malformed((issue?.path ?? []).map(String).join('.') || WHOLE_FILE, issue?.message ?? 'invalid');
  }
  const read = parseArmingData(file, env.data.data);
  return { read, version: String(env.data.version), next: env.data.version + 1 };
};

export const createLocalArmingStore = (stateDir: string): ArmingStore => {
  const file = path.join(stateDir, 'arming.json');
  const lock = path.join(stateDir, 'arming.lock');
  const serialise = (version: number, arming: Arming): string => `${JSON.stringify({ version, data: armingToData(arming) }, null, 2)}\n`;

  return {
    async read() {
      const { read, version } = await readArmingFile(file);
      return { read, version };
    },

    async write(arming, version) {
      const valid = Arming.parse(arming);
      await mkdir(stateDir, { recursive: true });
      if (version === null) {
        if (!(await createFileExclusive(file, serialise(1, valid)))) throw new ConflictError(`${file} already exists`);
        return;
      }
      await withFileLock(lock, async () => {
        const current = await readArmingFile(file);
        if (current.version === null) throw new ConflictError(`${file} does not exist (expected version ${version})`);
        if (current.version !== version) throw new ConflictError(`${file} is at version ${current.version}, not ${version}`);
        await replaceFile(file, serialise(current.next, valid));
      });
    },
  };
};
