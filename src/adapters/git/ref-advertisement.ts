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
 * The trailing LF of a packet is optional, as the protocol allows. Anything else (another
 * service, a protocol v2 answer, a line that is not `<sha> <ref>`, bytes after the last flush)
 * rejects the whole advertisement.
 */

export type Advertisement =
  | { ok: true; refs: ReadonlyMap<string, string>; capabilities: readonly string[] }
  /** `unsupported`: well formed, but not something the reader can use (a SHA-256 repository). */
  | { ok: false; kind: 'malformed' | 'unsupported'; message: string };

const ZERO_ID = '0'.repeat(40);
const REF_LINE = /^([0-9a-f]{40}) ([^\s\0]+)$/;
const SHALLOW_LINE = /^shallow [0-9a-f]{40}$/;
const SHA256_LINE = /^[0-9a-f]{64} /;
const SHA256_MESSAGE = 'the repository uses SHA-256 object ids: only SHA-1 mirrors are supported';

const text = (payload: Buffer): string => {
  const s = payload.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
};

const show = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);

export const parseAdvertisement = (body: Uint8Array): Advertisement => {
  const malformed = (message: string): Advertisement => ({ ok: false, kind: 'malformed', message: `malformed ref advertisement: ${message}` });
  const framed = parsePktLines(body);
  if (!framed.ok) return malformed(framed.message);
  const pkts: Pkt[] = framed.pkts;
  let i = 0;
  const dataAt = (n: number): string | null => {
    const p = pkts[n];
    return p?.kind === 'data' ? text(p.payload) : null;
  };

  if (dataAt(0) !== '# service=git-upload-pack') {
    const first = pkts[0];
    return malformed(first === undefined ? 'the body is empty' : `expected "# service=git-upload-pack" first, got ${first.kind === 'data' ? show(text(first.payload)) : `a ${first.kind} packet`}`);
  }
  if (pkts[1]?.kind !== 'flush') return malformed('no flush packet after the service line');
  i = 2;
  if (dataAt(i) === 'version 1') i++;
  else if (dataAt(i) === 'version 2') return malformed('the mirror answered protocol v2, which was not asked for');

  const refs = new Map<string, string>();
  let capabilities: string[] = [];
  let first = true;
  let empty = false;
  let shallow = false;
  for (; i < pkts.length; i++) {
    const p = pkts[i]!;
    if (p.kind === 'flush') break;
    if (p.kind !== 'data') return malformed(`unexpected ${p.kind} packet in the ref list`);
    let line = text(p.payload);
    if (line === '') return malformed('an empty packet in the ref list');
    if (SHALLOW_LINE.test(line)) {
      if (first) return malformed('a shallow line before any ref or capability line');
      shallow = true;
      continue;
    }
    if (shallow) return malformed(`a ref line after the shallow lines: ${show(line)}`);
    if (empty) return malformed(`a ref line after the empty repository's capability line: ${show(line)}`);
    const nul = line.indexOf('\0');
    if (first) {
      if (nul < 0) return malformed(`the first ref line carries no capabilities: ${show(line)}`);
      capabilities = line.slice(nul + 1).split(' ').filter((c) => c !== '');
      if (capabilities.includes('object-format=sha256')) return { ok: false, kind: 'unsupported', message: SHA256_MESSAGE };
      line = line.slice(0, nul);
    } else if (nul >= 0) return malformed(`a NUL in a ref line other than the first: ${show(line.slice(0, nul))}`);
    if (SHA256_LINE.test(line)) return { ok: false, kind: 'unsupported', message: SHA256_MESSAGE };
    const m = REF_LINE.exec(line);
    if (m === null) return malformed(`not a "<sha> <ref>" line: ${show(line)}`);
    const sha = m[1]!;
    const ref = m[2]!;
    if (ref === 'capabilities^{}') {
      if (!first || sha !== ZERO_ID) return malformed(`"capabilities^{}" must be the only line, with the zero id: ${show(line)}`);
      empty = true;
    } else {
      if (sha === ZERO_ID) return malformed(`${ref} is advertised with the zero id`);
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
