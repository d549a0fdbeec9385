import { completionScript, followerIds, SHELLS, type Shell } from '../completion.ts';
import { UsageError } from '../errors.ts';
import { defineVerb } from '../verb.ts';

export const completion = defineVerb({
  name: 'completion',
  summary: 'print the shell completion script for bash, zsh or fish',
  usage: 'completion (bash | zsh | fish)',
  description: 'Completes verbs, flags, their values, and follower ids read from the registry (the one a --registry already typed names, else the default).',
  positional: { name: 'SHELL', choices: SHELLS, help: 'the shell to complete for' },
  flags: [],
  examples: [
    { command: 'source <(branch-follower completion bash)', what: 'bash, this shell only (add it to ~/.bashrc to keep it)' },
    { command: 'branch-follower completion zsh > "${fpath[1]}/_branch-follower"', what: 'zsh, for every new shell' },
    { command: 'branch-follower completion fish > ~/.config/fish/completions/branch-follower.fish', what: 'fish' },
  ],
  async run(s, a) {
    const shell = a.positionals[0];
    if (!SHELLS.includes(shell as Shell)) throw new UsageError(`completion takes ${SHELLS.join(', ')}, not ${JSON.stringify(shell ?? '')}`);
    // The verb table imports this verb: read it at run time.
    const { VERBS } = await import('./index.ts');
    s.io.stdout.write(completionScript(shell as Shell, VERBS));
    return 'ok';
  },
});

/** What the completion scripts call for follower ids: `__complete followers <words typed>`. */
export const complete = defineVerb({
  name: '__complete',
  summary: 'completion helper: follower ids from the registry',
  usage: '__complete followers [WORD...]',
  hidden: true,
  flags: [],
  examples: [],
  async run(s, a) {
    const [what, ...typed] = a.positionals;
    if (what !== 'followers') throw new UsageError('__complete takes followers');
    for (const id of await followerIds(typed, s.io.cwd)) s.out(id);
    return 'ok';
  },
});
