import { parsePktLines, type Pkt } from './pkt-line.ts';

/**
 * The smart-HTTP ref advertisement of `GET <repo>/info/refs?service=git-upload-pack`, protocol
 * v0 (gitprotocol-http(5), gitprotocol-pack(5)):
 *
 *   PKT("# service=git-upload-pack" LF) FLUSH
 *   [PKT("version 1" LF)]
 *   ( PKT(zero-id SP "capabilities^{}" NUL caps LF)              an empty repository
 *   | PKT(sha SP ref NUL caps LF) *PKT(sha SP ref LF) )          its refs, the first with caps
 *   *PKT("shallow" SP sha LF)
 *   FLUSH
 *
 * The trailing LF of a packet is optional, as the protocol allows. The `object-format`
 * capability says how long the object ids are (absent: SHA-1, 40 hex; `sha256`: 64 hex); an id
 * of the other length, like anything else (another service, a line that is not `<sha> <ref>`,
 * bytes after the last flush), rejects the whole advertisement.
 */

export type Advertisement =
  | { ok: true; refs: ReadonlyMap<string, string>; capabilities: readonly string[] }
  /** `unsupported`: well formed, but not something the reader can use (an unknown object format). */
  | { ok: false; kind: 'malformed' | 'unsupported'; message: string };

/** Hex digits of an object id per `object-format` capability value. */
export const OBJECT_ID_WIDTH: Readonly<Record<string, number>> = { sha1: 40, sha256: 64 };

/** The object id width an `object-format=` capability announces (SHA-1 when absent), or null for one not known. */
export const objectIdWidth = (capabilities: readonly string[]): number | null => {
  const cap = capabilities.find((c) => c.startsWith('object-format='));
  return cap === undefined ? 40 : (OBJECT_ID_WIDTH[cap.slice('object-format='.length)] ?? null);
};

// A ref name holds no control character, space or NUL, but may hold any other byte (unicode
// spaces included): only the ASCII space separates.
const REF_LINE = /^([0-9a-f]{40}|[0-9a-f]{64}) ([^\x00-\x20\x7f]+)$/;
const SHALLOW_LINE = /^shallow ([0-9a-f]+)$/;

const text = (payload: Buffer): string => {
  const s = payload.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
};

const show = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);

/**
 * `serviceLine: false` reads the advertisement as the git:// transport sends it: the same ref
 * list without the smart-HTTP `# service=` line and its flush.
 */
export const parseAdvertisement = (body: Uint8Array, opts: { serviceLine?: boolean } = {}): Advertisement => {
  const malformed = (message: string): Advertisement => ({ ok: false, kind: 'malformed', message: `malformed ref advertisement: ${message}` });
  const framed = parsePktLines(body);
  if (!framed.ok) return malformed(framed.message);
  const pkts: Pkt[] = framed.pkts;
  let i = 0;
  const dataAt = (n: number): string | null => {
    const p = pkts[n];
    return p?.kind === 'data' ? text(p.payload) : null;
  };

  if (opts.serviceLine !== false) {
    if (dataAt(0) !== '# service=git-upload-pack') {
      const first = pkts[0];
      return malformed(first === undefined ? 'the body is empty' : `expected "# service=git-upload-pack" first, got ${first.kind === 'data' ? show(text(first.payload)) : `a ${first.kind} packet`}`);
    }
    if (pkts[1]?.kind !== 'flush') return malformed('no flush packet after the service line');
    i = 2;
  } else if (pkts.length === 0) return malformed('the answer is empty');
  if (dataAt(i) === 'version 1') i++;
  else if (dataAt(i) === 'version 2') return malformed('the mirror answered protocol v2, which was not asked for');

  const refs = new Map<string, string>();
  let capabilities: string[] = [];
  let first = true;
  let width = 40;
  let empty = false;
  let shallow = false;
  for (; i < pkts.length; i++) {
    const p = pkts[i]!;
    if (p.kind === 'flush') break;
    if (p.kind !== 'data') return malformed(`unexpected ${p.kind} packet in the ref list`);
    let line = text(p.payload);
    if (line === '') return malformed('an empty packet in the ref list');
    const sh = SHALLOW_LINE.exec(line);
    if (sh !== null) {
      if (first) return malformed('a shallow line before any ref or capability line');
      if (sh[1]!.length !== width) return malformed(`a shallow id of ${sh[1]!.length} hex digits in a repository of ${width}-hex ids`);
      shallow = true;
      continue;
    }
    if (shallow) return malformed(`a ref line after the shallow lines: ${show(line)}`);
    if (empty) return malformed(`a ref line after the empty repository's capability line: ${show(line)}`);
    const nul = line.indexOf('\0');
    if (first) {
      if (nul < 0) return malformed(`the first ref line carries no capabilities: ${show(line)}`);
      const caps = line.slice(nul + 1);
      if (/[\x00-\x1f\x7f]/.test(caps)) return malformed(`not a "<sha> <ref>" line: a control character among the capabilities: ${show(line)}`);
      capabilities = caps.split(' ').filter((c) => c !== '');
      const w = objectIdWidth(capabilities);
      if (w === null) {
        const cap = capabilities.find((c) => c.startsWith('object-format='))!;
        return { ok: false, kind: 'unsupported', message: `the repository uses object format ${show(cap.slice('object-format='.length))}: only sha1 and sha256 are known` };
      }
      width = w;
      line = line.slice(0, nul);
    } else if (nul >= 0) return malformed(`a NUL in a ref line other than the first: ${show(line.slice(0, nul))}`);
    const m = REF_LINE.exec(line);
    if (m === null) return malformed(`not a "<sha> <ref>" line: ${show(line)}`);
    const sha = m[1]!;
    const ref = m[2]!;
    if (sha.length !== width) return malformed(`${ref} is advertised with a ${sha.length}-hex id in a repository of ${width}-hex ids (object-format ${width === 64 ? 'sha256' : 'sha1'})`);
    const zero = /^0+$/.test(sha);
    if (ref === 'capabilities^{}') {
      if (!first || !zero) return malformed(`"capabilities^{}" must be the only line, with the zero id: ${show(line)}`);
      empty = true;
    } else {
      if (zero) return malformed(`${ref} is advertised with the zero id`);
      const seen = refs.get(ref);
      if (seen !== undefined && seen !== sha) return malformed(`${ref} advertised twice with different shas (${seen}, ${sha})`);
      refs.set(ref, sha);
    }
    first = false;
  }
  if (i >= pkts.length) return malformed('the ref list does not end with a flush packet (truncated answer)');
  if (i !== pkts.length - 1) return malformed(`${pkts.length - 1 - i} packet(s) after the closing flush`);
  return { ok: true, refs, capabilities };
};
