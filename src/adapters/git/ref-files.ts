/**
 * The two on-disk forms of a ref in git's files backend, parsed strictly: a loose ref file
 * (`refs/heads/<branch>`, one object id and a newline) and the `packed-refs` file. Pure: text
 * comes in as a value. Anything git would read but these parsers do not fully understand (a
 * symbolic ref, trailing data, CRLF, an unknown header, a line out of place) is `unknown`, and
 * the caller leaves the repository to git; an object id of the repository's other width is
 * `wrong-width`, which no reader should trust.
 */

export type LooseRef =
  | { kind: 'oid'; oid: string }
  | { kind: 'wrong-width'; width: number }
  | { kind: 'unknown'; reason: string };

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

const hexWidth = (s: string): number => (HEX40.test(s) ? 40 : HEX64.test(s) ? 64 : 0);

export const parseLooseRef = (text: string, width: number): LooseRef => {
  if (text.startsWith('ref:')) return { kind: 'unknown', reason: 'a symbolic ref' };
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) return { kind: 'unknown', reason: 'not one line' };
  const oid = text.slice(0, -1);
  const w = hexWidth(oid);
  if (w === 0) return { kind: 'unknown', reason: 'not a plain object id' };
  return w === width ? { kind: 'oid', oid } : { kind: 'wrong-width', width: w };
};

export type PackedRefs =
  | { kind: 'refs'; refs: ReadonlyMap<string, string> }
  | { kind: 'wrong-width'; line: number; width: number }
  | { kind: 'unknown'; reason: string };

const HEADER = '# pack-refs with:';
// A ref name has no control character or space (git check-ref-format); `..` never occurs in one.
const REF_LINE = /^([0-9a-f]+) (refs\/[^\x00-\x20\x7f]+)$/;
const PEELED_LINE = /^\^([0-9a-f]+)$/;

/**
 * Parses a whole `packed-refs` file into ref name -> object id, validating every line as git's
 * packed backend does (git dies on a line it cannot read, so its `ls-remote` would fail): an
 * optional `# pack-refs with: <traits>` first line, `<oid> <refname>` lines, and `^<oid>` peeled
 * lines, which only ever follow a ref line and are skipped. The file must end with a newline.
 */
export const parsePackedRefs = (text: string, width: number): PackedRefs => {
  const refs = new Map<string, string>();
  if (text === '') return { kind: 'refs', refs };
  if (!text.endsWith('\n')) return { kind: 'unknown', reason: 'packed-refs does not end with a newline' };
  const lines = text.slice(0, -1).split('\n');
  let afterRef = false;
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    if (i === 0 && line.startsWith('#')) {
      if (!line.startsWith(HEADER)) return { kind: 'unknown', reason: 'packed-refs has an unknown header' };
      continue;
    }
    const ref = REF_LINE.exec(line);
    if (ref !== null) {
      const oid = ref[1]!;
      const name = ref[2]!;
      const w = hexWidth(oid);
      if (w === 0) return { kind: 'unknown', reason: `packed-refs line ${n} holds no object id` };
      if (w !== width) return { kind: 'wrong-width', line: n, width: w };
      if (name.includes('..') || name.endsWith('/') || name.includes('//')) return { kind: 'unknown', reason: `packed-refs line ${n} names no valid ref` };
      // Two entries for one ref: git would pick by its own rules; do not guess which.
      if (refs.has(name)) return { kind: 'unknown', reason: `packed-refs lists a ref twice (line ${n})` };
      refs.set(name, oid);
      afterRef = true;
      continue;
    }
    const peeled = PEELED_LINE.exec(line);
    if (peeled !== null && afterRef) {
      const w = hexWidth(peeled[1]!);
      if (w === 0) return { kind: 'unknown', reason: `packed-refs line ${n} holds no object id` };
      if (w !== width) return { kind: 'wrong-width', line: n, width: w };
      afterRef = false; // one peeled line per ref
      continue;
    }
    return { kind: 'unknown', reason: `packed-refs line ${n} is not a ref line` };
  }
  return { kind: 'refs', refs };
};
