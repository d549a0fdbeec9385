import { z } from 'zod';
import { charClass, describeContent } from '../../core/describe-content.ts';
import type { TargetObservation } from '../../core/observe.ts';
import { parseRevision } from '../../core/revision.ts';
import { showArgv } from '../local/show-argv.ts';
import { runArgv } from './run-argv.ts';

/**
 * The `argv-json` target reader: runs the argv (no shell) and expects stdout to be
 * `{"sha": "<revision>"}`, or `{"sha": null}` when nothing is deployed. Other keys are ignored.
 * The revision is any form core/revision.ts reads (full or abbreviated sha in any case, Flux's
 * `<ref>@sha1:<hex>`); a bad one is described, not echoed.
 */

const Output = z.object({ sha: z.string().nullable() });
const EXPECTED = '{"sha": "<revision>"} or {"sha": null}';

const excerpt = (text: string, max = 300): string => {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
};

export const readArgvJson = async (argv: readonly string[], cwd: string, timeoutMs: number): Promise<TargetObservation> => {
  const who = `target reader \`${showArgv(argv)}\``;
  const unreadable = (message: string): TargetObservation => ({ kind: 'unreadable', message: `${who} ${message}` });
  const o = await runArgv(argv, { cwd, timeoutMs });
  switch (o.kind) {
    case 'spawn-error':
      return unreadable(
        o.code === 'ENOENT'
          ? `cannot run: ${JSON.stringify(argv[0])} not found${argv[0]?.includes('/') ? '' : ' on PATH'} (in ${cwd})`
          : o.code === 'EACCES'
            ? `cannot run: permission denied (is ${JSON.stringify(argv[0])} executable?)`
            : `cannot run: ${o.message}`,
      );
    case 'timeout':
      return unreadable(`timed out after ${timeoutMs / 1000}s and was killed${o.stderr.trim() ? `; stderr: ${excerpt(o.stderr)}` : ''}`);
    case 'overflow':
      return unreadable(`printed more than ${o.limit} bytes; expected ${EXPECTED}`);
    case 'exited':
      break;
  }
  if (o.code !== 0) {
    const how = o.code !== null ? `exited with code ${o.code}` : `was killed by ${o.signal}`;
    return unreadable(`${how}${o.stderr.trim() ? `; stderr: ${excerpt(o.stderr)}` : ' (no stderr)'}`);
  }
  const stdout = o.stdout.trim();
  if (stdout === '') return unreadable(`printed nothing; expected ${EXPECTED}`);
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    // Not the parser's message: it quotes the text. Shape only (describe-content.ts).
    return unreadable(`printed ${describeContent(stdout, () => true)} that is not JSON; the first character is ${charClass(stdout[0] ?? ' ')}; expected ${EXPECTED}`);
  }
  const r = Output.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.map(String).join('.') || 'the whole document';
    return unreadable(`printed JSON that is not ${EXPECTED} (${where}: ${issue?.message ?? 'invalid'})`);
  }
  if (r.data.sha === null) return { kind: 'ok', sha: null };
  const rev = parseRevision(r.data.sha);
  return rev.ok ? { kind: 'ok', sha: rev.sha } : unreadable(`printed a "sha" that ${rev.why}`);
};
