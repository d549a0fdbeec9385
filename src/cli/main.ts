import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { describeFailure, exitCode, UsageError } from './errors.ts';
import { globalHelp, verbHelp } from './help.ts';
import { checkFlags, unknownVerb } from './suggest.ts';
import { createRedactor, redactingSink } from '../adapters/redaction.ts';
import { createSession, type Io } from './session.ts';
import { COMMON_FLAGS, type Args, type Flag, type Verb } from './verb.ts';
import { VERBS } from './verbs/index.ts';

export type { Io } from './session.ts';

const VERSION = '0.1.0';

const parseOptions = (flags: readonly Flag[]): ParseArgsOptionsConfig =>
  Object.fromEntries(
    flags.map((f) => [f.name, { type: f.value ? ('string' as const) : ('boolean' as const), ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]),
  );

const parse = (verb: Verb, argv: readonly string[]): Args & { help: boolean } => {
  // __complete passes the words a person typed, flags included: they are its positionals.
  if (verb.hidden) return { str: () => undefined, flag: () => false, list: () => [], positionals: [...argv], help: false };
  const flags = [...COMMON_FLAGS, ...verb.flags];
  const options = parseOptions(flags);
  checkFlags(argv, flags, options);
  const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  const v = values as Record<string, string | boolean | string[] | undefined>;
  const args: Args = {
    str: (k) => {
      const x = v[k];
      return typeof x === 'string' ? x : Array.isArray(x) ? x[x.length - 1] : undefined;
    },
    flag: (k) => v[k] === true,
    list: (k) => {
      const x = v[k];
      return Array.isArray(x) ? x : typeof x === 'string' ? [x] : [];
    },
    positionals,
  };
  return { ...args, help: v.help === true };
};

/** The CLI: finds the verb, parses its flags, runs it, and maps how it ended to an exit code. */
export const main = async (argv: string[], given: Io): Promise<number> => {
  // Everything the CLI prints passes one redactor: URL userinfo masked, and the values of the
  // registry's secrets (added by compose once the registry is read) replaced.
  const redactor = createRedactor();
  const io: Io = { ...given, stdout: redactingSink(given.stdout, redactor), stderr: redactingSink(given.stderr, redactor) };
  const out = (s: string) => void io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const err = (s: string) => void io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? VERBS.find((v) => v.name === rest[0] && !v.hidden) : undefined;
    out(topic ? verbHelp(topic) : globalHelp(VERBS));
    // No verb at all is a usage error (the help says what to type); asking for help is not.
    return exitCode(name ? 'ok' : 'bad-input');
  }
  if (name === '--version') {
    out(`branch-follower ${VERSION}`);
    return exitCode('ok');
  }
  const verb = VERBS.find((v) => v.name === name);
  if (!verb) {
    err(`branch-follower: ${unknownVerb(name, VERBS.filter((v) => !v.hidden).map((v) => v.name))}\n(branch-follower --help lists the verbs)`);
    return exitCode('bad-input');
  }
  try {
    const args = parse(verb, rest);
    if (args.help) {
      out(verbHelp(verb));
      return exitCode('ok');
    }
    const want = verb.positional ? 1 : 0;
    if (!verb.hidden && args.positionals.length !== want) throw new UsageError(`expected: branch-follower ${verb.usage}`);
    return exitCode(await verb.run(createSession(io, args, redactor), args));
  } catch (e) {
    const f = describeFailure(e, verb);
    err(f.message);
    return exitCode(f.outcome);
  }
};
