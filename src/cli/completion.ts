import { DEFAULT_REGISTRY, loadRegistry } from '../adapters/config/registry-file.ts';
import { COMMON_FLAGS, type Completion, type Flag, type Verb } from './verb.ts';

/**
 * Shell completion scripts, generated from the verb table: verbs, each verb's flags and the
 * words its values and positionals take are written into the script; follower ids come from the
 * registry at completion time (`branch-follower __complete followers <words>`), honouring a
 * --registry already typed.
 */

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const PROG = 'branch-follower';
const FN = '_branch_follower';
const allFlags = (v: Verb): Flag[] => [...v.flags, ...COMMON_FLAGS];
const visible = (verbs: readonly Verb[]): Verb[] => verbs.filter((v) => !v.hidden);
const words = (c: Completion | undefined): readonly string[] | null => (Array.isArray(c) ? c : null);
/** Single-quoted for every shell (help texts carry no single quotes after this). */
const sq = (s: string): string => `'${s.replace(/'/g, '’')}'`;

const bash = (verbs: readonly Verb[]): string => {
  const valueCases = visible(verbs).flatMap((v) =>
    allFlags(v)
      .filter((f) => f.value)
      .map((f) => {
        const pats = [`${v.name}:--${f.name}`, ...(f.short ? [`${v.name}:-${f.short}`] : [])].join('|');
        const w = words(f.complete);
        const action =
          f.complete === 'followers'
            ? `COMPREPLY=($(compgen -W "$(${PROG} __complete followers "\${COMP_WORDS[@]:1}" 2>/dev/null)" -- "$cur"))`
            : f.complete === 'files'
              ? 'COMPREPLY=($(compgen -f -- "$cur"))'
              : w
                ? `COMPREPLY=($(compgen -W ${sq(w.join(' '))} -- "$cur"))`
                : 'COMPREPLY=()';
        return `    ${pats}) ${action}; return 0 ;;`;
      }),
  );
  const verbCases = visible(verbs).map(
    (v) =>
      `    ${v.name}) flags=${sq(allFlags(v).flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]).join(' '))}; positional=${sq(v.positional?.choices.join(' ') ?? '')} ;;`,
  );
  return `# ${PROG} completion for bash, generated from its verb table.
# Load it with:  source <(${PROG} completion bash)
${FN}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" verb="\${COMP_WORDS[1]}" flags="" positional=""
  if (( COMP_CWORD == 1 )); then
    COMPREPLY=($(compgen -W ${sq(visible(verbs).map((v) => v.name).join(' ') + ' --help --version')} -- "$cur"))
    return 0
  fi
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$verb:$prev" in
${valueCases.join('\n')}
  esac
  case "$verb" in
${verbCases.join('\n')}
    *) return 0 ;;
  esac
  if [[ "$cur" != -* && -n "$positional" ]]; then
    local w
    for w in "\${COMP_WORDS[@]:2:COMP_CWORD-2}"; do
      [[ " $positional " == *" $w "* ]] && positional=""
    done
  fi
  if [[ "$cur" == -* || -z "$positional" ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$positional" -- "$cur"))
  fi
  return 0
}
complete -F ${FN} ${PROG}
`;
};

/** zsh's _arguments spec text: brackets and colons are its syntax, so help texts lose them. */
const zhelp = (s: string): string => s.replace(/[[\]:]/g, ' ').replace(/'/g, '’').replace(/\s+/g, ' ').trim();

const zsh = (verbs: readonly Verb[]): string => {
  const spec = (f: Flag): string => {
    const w = words(f.complete);
    const action = !f.value ? '' : f.complete === 'followers' ? `:${f.value}:${FN}_followers` : f.complete === 'files' ? `:${f.value}:_files` : w ? `:${f.value}:(${w.join(' ')})` : `:${f.value}: `;
    const rep = f.multiple ? '*' : '';
    if (f.short) return `'${rep}(-${f.short} --${f.name})'{-${f.short},--${f.name}}'[${zhelp(f.help)}]${action}'`;
    return `'${rep}--${f.name}[${zhelp(f.help)}]${action}'`;
  };
  const cases = visible(verbs).map((v) => {
    const pos = v.positional ? [`':${v.positional.name}:(${v.positional.choices.join(' ')})'`] : [];
    return `    ${v.name})\n      _arguments -s \\\n        ${[...allFlags(v).map(spec), ...pos].join(' \\\n        ')}\n      ;;`;
  });
  return `#compdef ${PROG}
# ${PROG} completion for zsh, generated from its verb table.
# Load it with:  source <(${PROG} completion zsh)   (after compinit)
${FN}_followers() {
  local -a ids
  ids=(\${(f)"$(${PROG} __complete followers \${words[@]:1} 2>/dev/null)"})
  compadd -a ids
}
${FN}() {
  local -a verbs
  verbs=(
${visible(verbs).map((v) => `    ${sq(`${v.name}:${zhelp(v.summary)}`)}`).join('\n')}
  )
  if (( CURRENT == 2 )); then
    _describe -t verbs 'verb' verbs
    return
  fi
  local verb=$words[2]
  shift words
  (( CURRENT-- ))
  case $verb in
${cases.join('\n')}
  esac
}
if [[ "\${funcstack[1]}" == ${FN} ]]; then
  ${FN} "$@"
else
  compdef ${FN} ${PROG}
fi
`;
};

const fish = (verbs: readonly Verb[]): string => {
  const lines = [
    `# ${PROG} completion for fish, generated from its verb table.`,
    `# Load it with:  ${PROG} completion fish | source`,
    `complete -c ${PROG} -f`,
    ...visible(verbs).map((v) => `complete -c ${PROG} -n __fish_use_subcommand -a ${v.name} -d ${sq(v.summary)}`),
  ];
  for (const v of visible(verbs)) {
    const when = `-n ${sq(`__fish_seen_subcommand_from ${v.name}`)}`;
    for (const f of allFlags(v)) {
      const w = words(f.complete);
      const value = !f.value
        ? ''
        : f.complete === 'followers'
          ? ` -x -a ${sq(`(${PROG} __complete followers (commandline -opc)[2..-1])`)}`
          : f.complete === 'files'
            ? ' -r -F'
            : w
              ? ` -x -a ${sq(w.join(' '))}`
              : ' -x';
      lines.push(`complete -c ${PROG} ${when} -l ${f.name}${f.short ? ` -s ${f.short}` : ''}${value} -d ${sq(f.help)}`);
    }
    if (v.positional) lines.push(`complete -c ${PROG} ${when} -a ${sq(v.positional.choices.join(' '))} -d ${sq(v.positional.help)}`);
  }
  return `${lines.join('\n')}\n`;
};

export const completionScript = (shell: Shell, verbs: readonly Verb[]): string => ({ bash, zsh, fish })[shell](verbs);

/**
 * The follower ids for completion, from the registry the typed words name (--registry PATH or
 * --registry=PATH), else the default one. Completion never fails loudly: no registry, no ids.
 */
export const followerIds = async (typed: readonly string[], cwd: string): Promise<string[]> => {
  let registry = DEFAULT_REGISTRY;
  typed.forEach((w, i) => {
    if (w === '--registry' && typed[i + 1]) registry = typed[i + 1] ?? registry;
    else if (w.startsWith('--registry=')) registry = w.slice('--registry='.length);
  });
  try {
    return (await loadRegistry(registry, cwd)).registry.followers.map((f) => f.id);
  } catch {
    return [];
  }
};
