import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { eventKey } from '../../core/outbox.ts';
import { FollowerId } from '../../core/primitives.ts';
import { Transition } from '../../core/state.ts';
import type { EventSink, FollowerEvent } from '../ports.ts';
import { errCode, readFileOrNull } from './atomic-file.ts';

/**
 * Transitions as JSON lines, `<stateDir>/events/<id>.jsonl`, one file per follower. Appends use
 * O_APPEND and a single write, so concurrent ticks interleave whole lines. A tick killed
 * mid-write can leave a torn last line; it is skipped when read, and the next append starts on
 * a fresh line so it does not glue onto the torn one.
 */

const checkId = (id: string): string => {
  const r = FollowerId.safeParse(id);
  if (!r.success) throw new Error(`invalid follower id ${JSON.stringify(id)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return id;
};

const endsWithNewline = async (fh: FileHandle): Promise<boolean> => {
  const { size } = await fh.stat();
  if (size === 0) return true;
  const buf = Buffer.alloc(1);
  await fh.read(buf, 0, 1, size - 1);
  return buf[0] === 0x0a;
};

export const createLocalEventSink = (stateDir: string): EventSink => {
  const dir = path.join(stateDir, 'events');
  const fileOf = (id: string): string => path.join(dir, `${checkId(id)}.jsonl`);

  return {
    async emit(id, transitions) {
      const file = fileOf(id);
      if (transitions.length === 0) return;
      const lines = transitions.map((t) => JSON.stringify({ id, ...Transition.parse(t) })).join('\n');
      await mkdir(dir, { recursive: true });
      const fh = await open(file, 'a+', 0o644);
      try {
        const lead = (await endsWithNewline(fh)) ? '' : '\n';
        await fh.write(`${lead}${lines}\n`);
      } finally {
        await fh.close();
      }
    },

    async list(id) {
      const file = fileOf(id);
      let text: string | null;
      try {
        text = await readFileOrNull(file);
      } catch (e) {
        if (errCode(e) === 'EISDIR') throw new Error(`${file} is a directory, not an event log`);
        throw e;
      }
      if (text === null) return [];
      const out: FollowerEvent[] = [];
      // An event delivered again from the outbox (a tick died before removing it) is appended
      // again; its key is the same (core/outbox.ts), so it is listed once.
      const seen = new Set<string>();
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch {
          continue; // a torn line from an interrupted append
        }
        if (!raw || typeof raw !== 'object') continue;
        const { id: lineId, ...rest } = raw as Record<string, unknown>;
        const t = Transition.safeParse(rest);
        if (!t.success || (lineId !== undefined && lineId !== id)) continue;
        const key = eventKey(id, t.data);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ ...t.data, id, source: 'event' });
      }
      return out;
    },
  };
};
