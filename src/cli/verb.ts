import { UsageError } from './errors.ts';
import type { Outcome } from './errors.ts';
import type { Session } from './session.ts';

/**
 * One verb's whole story: its flags (each described, for --help and completion), its
 * positional words, examples, and its run. The verb table (verbs/index.ts) lists them.
 */

/** What completes a flag's value or a positional word. */
export type Completion = 'followers' | 'files' | readonly string[];

export type Flag = {
  name: string;
  short?: string;
  /** A boolean switch, or a flag taking a value named `value` (ID, PATH, N). */
  value?: string;
  multiple?: boolean;
  help: string;
  complete?: Completion;
};

export type Positional = { name: string; choices: readonly string[]; help: string };

export type Args = {
  str(name: string): string | undefined;
  flag(name: string): boolean;
  list(name: string): string[];
  positionals: readonly string[];
};

export type Verb = {
  name: string;
  summary: string;
  usage: string;
  /** Paragraphs after the summary in `--help`. */
  description?: string;
  flags: readonly Flag[];
  positional?: Positional;
  examples: readonly { command: string; what: string }[];
  /** Not listed in help (the completion helper the shell scripts call). */
  hidden?: boolean;
  /** Verbs that need no registry (completion scripts) skip loading it. */
  run(s: Session, a: Args): Promise<Outcome>;
};

export const defineVerb = (v: Verb): Verb => v;

/** Flags every verb takes: which installation it acts on. */
export const COMMON_FLAGS: readonly Flag[] = [
  { name: 'registry', value: 'PATH', help: 'the registry file (default config/cicd-branch-followers.yaml, relative to the working directory)', complete: 'files' },
  { name: 'driver', value: 'local|kubernetes', help: "override the registry's controller.driver", complete: ['local', 'kubernetes'] },
  { name: 'state-dir', value: 'DIR', help: "local driver: the state directory (default the registry's controller.local.stateDir)", complete: 'files' },
  { name: 'kubeconfig', value: 'PATH', help: 'kubernetes: the kubeconfig (else KUBECONFIG, the in-cluster service account, ~/.kube/config)', complete: 'files' },
  { name: 'context', value: 'NAME', help: 'kubernetes: the kubeconfig context (default its current context)' },
  { name: 'namespace', short: 'n', value: 'NS', help: "kubernetes: the controller's namespace (default the registry's controller.namespace)" },
  { name: 'help', short: 'h', help: 'show this help' },
];

/** `-o` choices, shared so each verb's help says the same thing. */
export const outputFlag = (choices: readonly string[], what = ''): Flag => ({
  name: 'output',
  short: 'o',
  value: choices.join('|'),
  help: `output format (default ${choices[0]})${what ? `; ${what}` : ''}`,
  complete: choices,
});

/**
 * The one follower a verb acts on (`--follower ID`, required): a usage error when it is missing,
 * and the session's unknown-follower error (exit 2) when the registry has no such id.
 */
export const requiredFollower = async (s: Session, a: Args, verb: string): Promise<string> => {
  const id = a.str('follower');
  if (!id) throw new UsageError(`${verb} needs --follower ID`);
  await s.followers([id]);
  return id;
};

export const followerFlag = (help: string, multiple = false): Flag => ({ name: 'follower', value: 'ID', multiple, help, complete: 'followers' });
export const reasonFlag = (help = 'why, recorded with the change'): Flag => ({ name: 'reason', value: 'TEXT', help });
export const byFlag: Flag = { name: 'by', value: 'WHO', help: 'who, recorded with the change (default $USER@host)' };
export const watchFlag = (what: string): Flag => ({ name: 'watch', short: 'w', help: `${what}; Ctrl-C ends it` });
export const intervalFlag: Flag = { name: 'interval-seconds', value: 'N', help: 'with --watch: how often to poll (default 2; 30 beside a Kubernetes watch)' };

/** "a, b or c", as messages list choices. */
export const either = (choices: readonly string[]): string => (choices.length < 2 ? (choices[0] ?? '') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`);

/** The `-o` value, checked against the verb's choices (the first is the default). */
export const outputOf = <T extends string>(a: Args, choices: readonly T[]): T => {
  const v = a.str('output') ?? choices[0];
  if (!choices.includes(v as T)) throw new UsageError(`-o must be ${either(choices)}, not ${JSON.stringify(v)}`);
  return v as T;
};
