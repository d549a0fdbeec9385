/**
 * git's pkt-line framing (gitprotocol-common(5)): each packet starts with its total length,
 * header included, as four hexadecimal digits; `0000` is a flush packet, `0001` a delimiter and
 * `0002` a response end (both protocol v2 only), `0003` is never valid, and no packet is longer
 * than 65520 bytes. Parsing is strict: a mirror's answer that does not frame exactly is not
 * trusted at all, rather than read as far as it happens to make sense.
 */

export const MAX_PKT_LENGTH = 65520;
/** The most a data packet can carry: the length minus the four-digit header. */
export const MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4;

export type Pkt = { kind: 'flush' } | { kind: 'delim' } | { kind: 'response-end' } | { kind: 'data'; payload: Buffer };

export type PktParse = { ok: true; pkts: Pkt[] } | { ok: false; message: string };

const HEX4 = /^[0-9a-fA-F]{4}$/;

const preview = (bytes: Uint8Array): string => JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 40));

/** Splits a whole response body into packets; any framing error rejects all of it. */
export const parsePktLines = (body: Uint8Array): PktParse => {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const pkts: Pkt[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < 4) return { ok: false, message: `truncated pkt-line header at byte ${at}: ${preview(buf.subarray(at))}` };
    const header = buf.toString('latin1', at, at + 4);
    if (!HEX4.test(header)) return { ok: false, message: `bad pkt-line length ${JSON.stringify(header)} at byte ${at} (expected four hex digits)` };
    const len = Number.parseInt(header, 16);
    if (len === 0) pkts.push({ kind: 'flush' });
    else if (len === 1) pkts.push({ kind: 'delim' });
    else if (len === 2) pkts.push({ kind: 'response-end' });
    else if (len === 3) return { ok: false, message: `invalid pkt-line length 0003 at byte ${at}` };
    else if (len > MAX_PKT_LENGTH) return { ok: false, message: `pkt-line length ${len} at byte ${at} exceeds ${MAX_PKT_LENGTH}` };
    else if (at + len > buf.length) {
      return { ok: false, message: `truncated pkt-line at byte ${at}: length ${len}, only ${buf.length - at} bytes left` };
    } else pkts.push({ kind: 'data', payload: buf.subarray(at + 4, at + len) });
    at += len < 4 ? 4 : len;
  }
  return { ok: true, pkts };
};

/** One data packet carrying `payload` (a string is encoded as UTF-8). */
export const encodePkt = (payload: string | Uint8Array): Buffer => {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  if (bytes.length > MAX_PKT_PAYLOAD) throw new RangeError(`pkt-line payload of ${bytes.length} bytes exceeds ${MAX_PKT_PAYLOAD}`);
  return Buffer.concat([Buffer.from((bytes.length + 4).toString(16).padStart(4, '0'), 'latin1'), bytes]);
};

export const FLUSH_PKT = Buffer.from('0000', 'latin1');
