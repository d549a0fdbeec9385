import { notJson } from '../../core/describe-content.ts';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FollowerId, WHOLE_FILE } from '../../core/primitives.ts';
import { FollowerState } from '../../core/state.ts';
import { ConflictError, CorruptStateError, type StateStore, type Stored } from '../ports.ts';
import { createFileExclusive, errCode, readFileOrNull, replaceFile, withFileLock } from './atomic-file.ts';
import { mapLimit } from './map-limit.ts';

/**
 * Follower states as files: `<stateDir>/state/<id>.json` holds `{ version, state }`. The version
 * is the compare-and-swap token (the resourceVersion of the Kubernetes driver); every write
 * happens under `<id>.lock` and lands by atomic rename, so a lost race never clobbers the winner.
 */

const Envelope = z.object({ version: z.number().int().min(1), state: z.unknown() }).strict();

type Read =
  | { kind: 'absent' }
  | { kind: 'ok'; version: number; state: FollowerState }
  | { kind: 'corrupt'; version: string; where: string; message: string };

const FILE_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.json$/;

const issueWhere = (file: string, prefix: string, issue: z.core.$ZodIssue | undefined): string =>
  `${file}: ${[prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.') || WHOLE_FILE}`;

/** Reads and checks one state file; anything wrong is described, never thrown. */
const readStateFile = async (file: string, id: string): Promise<Read> => {
  const text = await readFileOrNull(file);
  if (text === null) return { kind: 'absent' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { kind: 'corrupt', version: '0', where: `${file}: ${WHOLE_FILE}`, message: notJson(text, (e as Error).message) };
  }
  const env = Envelope.safeParse(raw);
  if (!env.success) {
    const issue = env.error.issues[0];
    return { kind: 'corrupt', version: '0', where: issueWhere(file, '', issue), message: issue?.message ?? 'invalid' };
  }
  const version = env.data.version;
  const st = FollowerState.safeParse(env.data.state);
  if (!st.success) {
    const issue = st.error.issues[0];
    return { kind: 'corrupt', version: String(version), where: issueWhere(file, 'state', issue), message: issue?.message ?? 'invalid' };
  }
  if (st.data.id !== id) {
    return { kind: 'corrupt', version: String(version), where: `${file}: state.id`, message: `id "${st.data.id}" does not match the file name (${id})` };
  }
  return { kind: 'ok', version, state: st.data };
};

const toStored = (id: string, r: Read & { kind: 'ok' | 'corrupt' }): Stored =>
  r.kind === 'ok'
    ? { id, version: String(r.version), state: r.state }
    : { id, version: r.version, corrupt: { where: r.where, message: r.message } };

const serialise = (version: number, state: FollowerState): string => `${JSON.stringify({ version, state }, null, 2)}\n`;

const checkId = (id: string): string => {
  // The id becomes a file name: anything but a DNS-1123 label could escape the directory.
  const r = FollowerId.safeParse(id);
  if (!r.success) throw new Error(`invalid follower id ${JSON.stringify(id)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return id;
};

export const createLocalStateStore = (stateDir: string): StateStore => {
  const dir = path.join(stateDir, 'state');
  const fileOf = (id: string): string => path.join(dir, `${checkId(id)}.json`);
  const lockOf = (id: string): string => path.join(dir, `${id}.lock`);

  return {
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if (errCode(e) === 'ENOENT') return [];
        throw e;
      }
      const ids = names.flatMap((n) => {
        const m = FILE_RE.exec(n);
        return m?.[1] !== undefined && m[1].length <= 40 ? [m[1]] : [];
      });
      ids.sort();
      const reads = await mapLimit(ids, 32, async (id) => ({ id, read: await readStateFile(path.join(dir, `${id}.json`), id) }));
      // A file deleted between the directory read and its own read is simply gone.
      return reads.flatMap(({ id, read }) => (read.kind === 'absent' ? [] : [toStored(id, read)]));
    },

    async get(id) {
      const read = await readStateFile(fileOf(id), id);
      return read.kind === 'absent' ? null : toStored(id, read);
    },

    async create(state) {
      const valid = FollowerState.parse(state);
      const file = fileOf(valid.id);
      await mkdir(dir, { recursive: true });
      if (!(await createFileExclusive(file, serialise(1, valid)))) throw new ConflictError(`${file} already exists`);
      return '1';
    },

    async update(state, version) {
      const valid = FollowerState.parse(state);
      const file = fileOf(valid.id);
      await mkdir(dir, { recursive: true });
      return withFileLock(lockOf(valid.id), async () => {
        const current = await readStateFile(file, valid.id);
        if (current.kind === 'absent') throw new ConflictError(`${file} does not exist (expected version ${version})`);
        if (current.kind === 'corrupt') throw new CorruptStateError(current.where, `${current.message}; left for a person to fix, not overwritten`);
        if (String(current.version) !== version) throw new ConflictError(`${file} is at version ${current.version}, not ${version}`);
        const next = current.version + 1;
        await replaceFile(file, serialise(next, valid));
        return String(next);
      });
    },
  };
};
