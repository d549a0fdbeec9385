import { wrap, wrapLines } from './format.ts';
import { COMMON_FLAGS, type Flag, type Verb } from './verb.ts';

/** `--name, -s VALUE` as the help lists a flag. */
export const flagSyntax = (f: Flag): string => `--${f.name}${f.short ? `, -${f.short}` : ''}${f.value ? ` ${f.value}` : ''}${f.multiple ? ' (repeatable)' : ''}`;

const HELP_WIDTH = 100;

/** Flags in two columns, the descriptions wrapped beside their syntax. */
const flagLines = (flags: readonly Flag[]): string[] => {
  const w = Math.max(...flags.map((f) => flagSyntax(f).length));
  return flags.map((f) => {
    const [first = '', ...rest] = wrapLines(f.help, Math.max(40, HELP_WIDTH - w - 4));
    return [`  ${flagSyntax(f).padEnd(w)}  ${first}`, ...rest.map((l) => `${' '.repeat(w + 4)}${l}`)].join('\n');
  });
};

export const EXIT_CODES_TEXT =
  'Exit codes: 0 success; 1 a follower failed or is blocked (when waiting), a tick had errors, or the cluster could not be read; 2 bad usage or bad input (the message names the file and the path inside it); 3 a follower needs a person (tick, status --exit-code: it is Blocked); 4 a tick could not read the git mirror.';

export const globalHelp = (verbs: readonly Verb[]): string =>
  [
    'branch-follower: follows git branches on the cluster git mirror and deploys each new commit once.',
    '',
    'Usage: branch-follower <verb> [flags]',
    '',
    'Verbs:',
    ...verbs.filter((v) => !v.hidden).map((v) => `  ${v.name.padEnd(12)} ${v.summary}`),
    '',
    'Flags every verb takes:',
    ...flagLines(COMMON_FLAGS),
    '',
    wrap(EXIT_CODES_TEXT, HELP_WIDTH),
    '"branch-follower <verb> --help" describes each verb\'s flags, with examples.',
  ].join('\n');

export const verbHelp = (v: Verb): string =>
  [
    `Usage: branch-follower ${v.usage}`,
    '',
    wrap(v.summary, HELP_WIDTH, ''),
    ...(v.description ? ['', wrap(v.description, HELP_WIDTH, '')] : []),
    ...(v.positional ? ['', 'Arguments:', `  ${v.positional.name.padEnd(10)}  ${v.positional.choices.join(' | ')}: ${v.positional.help}`] : []),
    ...(v.flags.length ? ['', 'Flags:', ...flagLines(v.flags)] : []),
    '',
    'Flags every verb takes:',
    ...flagLines(COMMON_FLAGS),
    '',
    'Examples:',
    ...v.examples.flatMap((e) => [`  # ${e.what}`, `  ${e.command}`]),
  ].join('\n');
