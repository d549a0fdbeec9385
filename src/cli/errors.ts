import { BadInputError } from '../adapters/config/input-error.ts';
import { NoCredentialsError } from '../adapters/kubernetes/credentials.ts';
import { CorruptStateError } from '../adapters/ports.ts';
import { formatInputError } from '../core/registry.ts';

/**
 * How a verb ended, as a word; `exitCode` is the one place that turns it into a number. Verbs
 * return an Outcome or throw; nothing else chooses an exit code.
 */
export type Outcome = 'ok' | 'failed' | 'bad-input' | 'needs-person' | 'mirror-unreadable';

/**
 * Cron and monitoring act on these, so each situation a person must handle has its own number:
 * 3 a follower is Blocked (needs a person), 4 the git mirror could not be read. Documented in
 * the README ("Exit codes"); never renumber.
 */
export const EXIT_CODES: Record<Outcome, number> = { ok: 0, failed: 1, 'bad-input': 2, 'needs-person': 3, 'mirror-unreadable': 4 };

export const exitCode = (o: Outcome): number => EXIT_CODES[o];

/** The command line itself is wrong: exit 2 with the verb's usage line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Node's parseArgs marks its errors with a code (ERR_PARSE_ARGS_UNKNOWN_OPTION, …). */
const isParseArgsError = (e: unknown): e is Error & { code: string } =>
  e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS');

/** Every thrown error, typed, to its outcome and the text a person reads. */
export const describeFailure = (e: unknown, verb: { name: string; usage: string } | null): { outcome: Outcome; message: string } => {
  const prefix = `branch-follower${verb ? ` ${verb.name}` : ''}`;
  const usage = verb ? `\nusage: branch-follower ${verb.usage}\n(branch-follower ${verb.name} --help shows every flag)` : '';
  if (e instanceof BadInputError) return { outcome: 'bad-input', message: e.problems.map(formatInputError).join('\n') };
  if (e instanceof UsageError || isParseArgsError(e)) return { outcome: 'bad-input', message: `${prefix}: ${e.message}${usage}` };
  if (e instanceof CorruptStateError) return { outcome: 'bad-input', message: `corrupt stored data, left for a person: ${e.message}` };
  if (e instanceof NoCredentialsError) return { outcome: 'failed', message: `${prefix}: ${e.message}` };
  return { outcome: 'failed', message: `${prefix}: ${e instanceof Error ? e.message : String(e)}` };
};
