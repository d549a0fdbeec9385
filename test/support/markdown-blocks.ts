// The fenced code blocks of a Markdown page, so a test can run a page as written: the docs'
// examples are copied out of the page itself and cannot drift from what the tests run.

/** The bodies of the page's ```LANG blocks, in order (a block fenced with another language is skipped). */
export const markdownBlocks = (md: string, lang: string): string[] =>
  [...md.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');

/** The page cut at the first line that starts with `heading`: [before, from it on]. */
export const splitAtHeading = (md: string, heading: string): [string, string] => {
  const at = md.split('\n').findIndex((l) => l.startsWith(heading));
  if (at === -1) throw new Error(`no heading starting with ${JSON.stringify(heading)}`);
  const lines = md.split('\n');
  return [lines.slice(0, at).join('\n'), lines.slice(at).join('\n')];
};
