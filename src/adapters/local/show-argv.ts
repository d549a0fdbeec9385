/** argv as a person would type it, for logs and messages (never run through a shell). */
export const showArgv = (argv: readonly string[], max = 200): string => {
  const text = argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
};
