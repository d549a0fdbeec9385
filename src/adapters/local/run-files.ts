import { notJson } from '../../core/describe-content.ts';
import path from 'node:path';
import { z } from 'zod';
import { IsoTime, Sha, WHOLE_FILE } from '../../core/primitives.ts';
import { errCode, readFileOrNull } from './atomic-file.ts';

/**
 * The files of one local run directory, `<stateDir>/runs/<name>/`, shared by the dispatcher
 * (which writes run.json) and the supervisor (which writes command.json and exit.json):
 *
 *   run.json      what was dispatched, and the supervisor's pid (null until it is spawned)
 *   command.json  the command's own pid, written by the supervisor once it runs
 *   log           stdout and stderr of the supervisor and the command
 *   cancel.json   a cancel was asked for (lets a supervisor that has not started the command yet refuse to)
 *   exit.json     how it ended; created exclusively, so the first writer's account stands
 */

export const RUN_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Run names become directory names: only DNS-1123 labels of at most 63 characters. */
export const checkRunName = (name: string): string => {
  if (name.length > 63 || !RUN_NAME_RE.test(name)) throw new Error(`invalid run name ${JSON.stringify(name)}: must be a DNS-1123 label of at most 63 characters`);
  return name;
};

export const RunRecord = z
  .object({
    name: z.string(),
    followerId: z.string(),
    sha: Sha,
    attempt: z.number().int().min(1),
    argv: z.array(z.string()).min(1),
    cwd: z.string(),
    startedAt: IsoTime,
    budgetSeconds: z.number().int().positive(),
    pid: z.number().int().positive().nullable(),
  })
  .strict();
export type RunRecord = z.infer<typeof RunRecord>;

export const CommandRecord = z
  .object({ supervisorPid: z.number().int().positive(), pid: z.number().int().positive(), startedAt: IsoTime })
  .strict();
export type CommandRecord = z.infer<typeof CommandRecord>;

export const ExitRecord = z
  .object({
    code: z.number().int().nullable(),
    signal: z.string().nullable(),
    endedAt: IsoTime,
    /** The trigger budget ran out and the supervisor killed the command. */
    timedOut: z.boolean(),
    cancelled: z.boolean(),
    /** The last signal the supervisor sent when it stopped the command (SIGTERM, then SIGKILL). */
    killSignal: z.string().nullable(),
    budgetSeconds: z.number().int().positive().nullable(),
    /** The command could not be started at all. */
    error: z.string().nullable(),
  })
  .strict();
export type ExitRecord = z.infer<typeof ExitRecord>;

/** What the dispatcher hands the supervisor, as one argv element of JSON. */
export const SupervisorSpec = z
  .object({ cwd: z.string(), argv: z.array(z.string()).min(1), budgetSeconds: z.number().int().positive(), killGraceMs: z.number().int().min(0) })
  .strict();
export type SupervisorSpec = z.infer<typeof SupervisorSpec>;

export const runFiles = (runDir: string) => ({
  dir: runDir,
  run: path.join(runDir, 'run.json'),
  command: path.join(runDir, 'command.json'),
  log: path.join(runDir, 'log'),
  cancel: path.join(runDir, 'cancel.json'),
  exit: path.join(runDir, 'exit.json'),
});
export type RunFiles = ReturnType<typeof runFiles>;

export type JsonRead<T> = { kind: 'absent' } | { kind: 'ok'; value: T } | { kind: 'bad'; message: string };

export const readJsonFile = async <T>(file: string, schema: z.ZodType<T>): Promise<JsonRead<T>> => {
  let text: string | null;
  try {
    text = await readFileOrNull(file);
  } catch (e) {
    // ENOTDIR and friends: the run directory itself is not what we expect.
    return { kind: 'bad', message: `${file}: ${errCode(e) ?? (e as Error).message}` };
  }
  if (text === null) return { kind: 'absent' };
  try {
    const r = schema.safeParse(JSON.parse(text));
    if (r.success) return { kind: 'ok', value: r.data };
    const issue = r.error.issues[0];
    return { kind: 'bad', message: `${file}: ${issue?.path.map(String).join('.') || WHOLE_FILE}: ${issue?.message ?? 'invalid'}` };
  } catch (e) {
    return { kind: 'bad', message: `${file}: ${notJson(text, (e as Error).message)}` };
  }
};

export const okOrNull = <T>(r: JsonRead<T>): T | null => (r.kind === 'ok' ? r.value : null);
