import { FLUSH_PKT, encodePkt, parsePktLines, type Pkt } from './pkt-line.ts';
import { OBJECT_ID_WIDTH } from './ref-advertisement.ts';

/**
 * git's wire protocol v2 over smart HTTP (gitprotocol-v2(5)), as much of it as reading branch
 * heads needs: the capability advertisement `GET info/refs` answers when asked with
 * `Git-Protocol: version=2`, and one `ls-refs` command POSTed to `git-upload-pack` with a
 * `ref-prefix` per wanted branch, so a mirror with 70,000 pull refs and tags sends only the
 * heads asked for. Parsing is as strict as for v0: an answer that does not frame exactly is
 * not trusted.
 */

export const REQUEST_TYPE = 'application/x-git-upload-pack-request';
export const RESULT_TYPE = 'application/x-git-upload-pack-result';
/** Above this many branches one `ref-prefix refs/heads/` asks for every head instead. */
export const PREFIX_LIMIT = 64;

export type V2Capabilities = { lsRefs: boolean; objectFormat: string | null };

export type V2Parse<T> = { ok: true; value: T } | { ok: false; message: string };

const text = (p: Pkt): string | null => {
  if (p.kind !== 'data') return null;
  const s = p.payload.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
};

/**
 * The capability advertisement, or null when the answer is not a v2 one (a server without v2
 * answers with a v0 ref advertisement, which the caller reads instead). A `# service=` line and
 * its flush may come first.
 */
export const parseV2Capabilities = (body: Uint8Array): V2Parse<V2Capabilities> | null => {
  const framed = parsePktLines(body);
  if (!framed.ok) return null;
  const pkts = framed.pkts;
  let i = 0;
  if (text(pkts[0] ?? { kind: 'flush' })?.startsWith('# service=')) {
    if (pkts[1]?.kind !== 'flush') return null;
    i = 2;
  }
  if (text(pkts[i] ?? { kind: 'flush' }) !== 'version 2') return null;
  const caps: string[] = [];
  for (i++; i < pkts.length; i++) {
    const p = pkts[i]!;
    if (p.kind === 'flush') break;
    const line = text(p);
    if (line === null || line === '') return { ok: false, message: `malformed v2 capability advertisement: unexpected ${p.kind} packet` };
    caps.push(line);
  }
  if (i !== pkts.length - 1) return { ok: false, message: 'malformed v2 capability advertisement: it does not end with exactly one flush packet' };
  const format = caps.find((c) => c.startsWith('object-format='))?.slice('object-format='.length) ?? null;
  return { ok: true, value: { lsRefs: caps.some((c) => c === 'ls-refs' || c.startsWith('ls-refs=')), objectFormat: format } };
};

/** The body of one `ls-refs` command asking for exactly the heads of `branches`. */
export const lsRefsRequest = (caps: V2Capabilities, branches: readonly string[]): Buffer => {
  const prefixes = branches.length > PREFIX_LIMIT ? ['refs/heads/'] : branches.map((b) => `refs/heads/${b}`);
  return Buffer.concat([
    encodePkt('command=ls-refs\n'),
    // A SHA-256 server refuses a request that does not name its object format.
    ...(caps.objectFormat !== null ? [encodePkt(`object-format=${caps.objectFormat}\n`)] : []),
    Buffer.from('0001', 'latin1'),
    ...prefixes.map((p) => encodePkt(`ref-prefix ${p}\n`)),
    FLUSH_PKT,
  ]);
};

// A ref name holds no control character or space; `symref-target:` and `peeled:` attributes
// (not asked for) would follow after a space.
const LINE = /^([0-9a-f]{40}|[0-9a-f]{64}) ([^\x00-\x20\x7f]+)$/;

/** The `ls-refs` answer: `<oid> <ref>` lines and a flush; every id of the advertised width. */
export const parseLsRefs = (body: Uint8Array, objectFormat: string | null): V2Parse<Map<string, string>> => {
  const bad = (message: string): V2Parse<Map<string, string>> => ({ ok: false, message: `malformed ls-refs answer: ${message}` });
  const width = OBJECT_ID_WIDTH[objectFormat ?? 'sha1'];
  if (width === undefined) return { ok: false, message: `the repository uses object format ${JSON.stringify(objectFormat)}: only sha1 and sha256 are known` };
  const framed = parsePktLines(body);
  if (!framed.ok) return bad(framed.message);
  const refs = new Map<string, string>();
  const pkts = framed.pkts;
  let i = 0;
  for (; i < pkts.length; i++) {
    const p = pkts[i]!;
    if (p.kind === 'flush') break;
    const line = text(p);
    if (line === null) return bad(`unexpected ${p.kind} packet`);
    if (line.startsWith('ERR ')) return { ok: false, message: `the mirror answered an error: ${JSON.stringify(line.slice(4, 200))}` };
    const m = LINE.exec(line);
    if (m === null) return bad(`not a "<sha> <ref>" line: ${JSON.stringify(line.slice(0, 120))}`);
    const [, sha, ref] = m as unknown as [string, string, string];
    if (sha.length !== width) return bad(`${ref} is listed with a ${sha.length}-hex id in a repository of ${width}-hex ids`);
    const seen = refs.get(ref);
    if (seen !== undefined && seen !== sha) return bad(`${ref} listed twice with different shas`);
    refs.set(ref, sha);
  }
  if (i >= pkts.length) return bad('it does not end with a flush packet (truncated answer)');
  if (i !== pkts.length - 1) return bad(`${pkts.length - 1 - i} packet(s) after the closing flush`);
  return { ok: true, value: refs };
};
