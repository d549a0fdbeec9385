/**
 * What was wrong with a value read from outside (a target file, a reader's output, an
 * annotation) without echoing any of it: its size, its line count, and the class and position of
 * the first character that does not belong. A target that points at the wrong file (say,
 * /etc/passwd) must not copy that file into reasons, state, events and notifications.
 */

export type CharClass =
  | 'an upper-case letter'
  | 'a letter'
  | 'a digit'
  | 'whitespace'
  | 'a control character'
  | 'punctuation'
  | 'a non-ASCII character';

export const charClass = (ch: string): CharClass => {
  const c = ch.codePointAt(0) ?? 0;
  if (c > 0x7e) return 'a non-ASCII character';
  if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return 'whitespace';
  if (c < 0x20 || c === 0x7f) return 'a control character';
  if (ch >= 'A' && ch <= 'Z') return 'an upper-case letter';
  if (ch >= 'a' && ch <= 'z') return 'a letter';
  if (ch >= '0' && ch <= '9') return 'a digit';
  return 'punctuation';
};

const lineCount = (text: string): number => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

/**
 * "N bytes in M lines", then where the first character that `allowed` refuses is (1-based
 * character position) and what class it is. Never any of the characters themselves.
 */
export const describeContent = (text: string, allowed: (ch: string, index: number) => boolean): string => {
  const bytes = new TextEncoder().encode(text).length;
  const lines = lineCount(text);
  const size = `${bytes} byte${bytes === 1 ? '' : 's'} in ${lines} line${lines === 1 ? '' : 's'}`;
  let i = 0;
  for (const ch of text) {
    if (!allowed(ch, i)) return `${size}; the first character that does not belong is ${charClass(ch)}, at character ${i + 1}`;
    i++;
  }
  return size;
};

/**
 * Why a text is not JSON, without the parser's own message (it quotes the text): the size, and
 * where the parser stopped, taken from its message as numbers only.
 */
export const notJson = (text: string, parserMessage: string): string => {
  const lc = /line (\d+) column (\d+)/.exec(parserMessage);
  const pos = /position (\d+)/.exec(parserMessage);
  const where = lc ? `; it breaks at line ${lc[1]} column ${lc[2]}` : pos ? `; it breaks at character ${Number(pos[1]) + 1}` : /end of JSON input/.test(parserMessage) ? '; it ends early' : '';
  return `not JSON (${describeContent(text, () => true)}${where})`;
};
