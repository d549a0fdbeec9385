import { z } from 'zod';
import { charClass } from './describe-content.ts';

/**
 * The commit a target reports as deployed, in the forms targets really report it: a full object
 * id (40 hex for SHA-1, 64 for SHA-256), an abbreviated one of at least 7 hex (image tags often
 * carry 7–12), any of them in upper case, or Flux's revision `<ref>@sha1:<40 hex>` /
 * `<ref>@sha256:<64 hex>` (the ref may be absent: `sha1:<hex>`). Normalised to lower-case hex;
 * an abbreviation is compared as a prefix of the observed sha, never padded or guessed.
 */

export const MIN_ABBREVIATED = 7;
const MAX_HEX = 64;

/** A reported revision as stored: lower-case hex, full or abbreviated. */
export const ReportedSha = z.string().regex(/^[0-9a-f]{7,64}$/, 'must be 7 to 64 lower-case hex digits');
export type ReportedSha = z.infer<typeof ReportedSha>;

export type ParsedRevision = { ok: true; sha: string } | { ok: false; why: string };

/** What a target may report, for messages (the reported text itself is never echoed). */
export const REVISION_FORMS = `a commit sha (${MIN_ABBREVIATED} to ${MAX_HEX} hex digits) or a Flux revision <ref>@sha1:<40 hex> / <ref>@sha256:<64 hex>`;

const FLUX = /^(?:(.+)@)?(sha1|sha256):([0-9a-fA-F]+)$/;
const HEX = /^[0-9a-fA-F]+$/;
const ALGORITHM_HEX: Record<string, number> = { sha1: 40, sha256: 64 };

/** Where the first character that is not a hex digit is, and its class: never the character itself. */
const firstNonHex = (text: string): string => {
  let i = 0;
  for (const ch of text) {
    if (!/[0-9a-fA-F]/.test(ch)) return `first stray: ${charClass(ch)} at ${i + 1}`;
    i++;
  }
  return 'all hex';
};

/**
 * Reads one revision. The reason for a refusal describes the shape (its length, what is
 * missing), never the text: a target's content is not repeated into states, events and logs.
 */
export const parseRevision = (raw: string): ParsedRevision => {
  const text = raw.trim();
  if (text === '') return { ok: false, why: `is empty; expected ${REVISION_FORMS}` };
  if (/\s/.test(text)) return { ok: false, why: `holds more than one word (${text.length} characters in ${text.split('\n').length} line(s)); expected ${REVISION_FORMS}` };
  const flux = FLUX.exec(text);
  if (flux) {
    const algorithm = flux[2] as string;
    const hex = flux[3] as string;
    const want = ALGORITHM_HEX[algorithm] as number;
    if (flux[1] !== undefined && flux[1].trim() === '') return { ok: false, why: `is a Flux revision with an empty ref; expected ${REVISION_FORMS}` };
    if (hex.length !== want) return { ok: false, why: `is a Flux ${algorithm} revision of ${hex.length} hex digits; ${algorithm} names ${want}` };
    return { ok: true, sha: hex.toLowerCase() };
  }
  if (!HEX.test(text)) return { ok: false, why: `is ${text.length} characters that are not a commit sha (${firstNonHex(text)}); expected ${REVISION_FORMS}` };
  if (text.length < MIN_ABBREVIATED) return { ok: false, why: `is ${text.length} hex digits; an abbreviated sha needs at least ${MIN_ABBREVIATED}` };
  if (text.length > MAX_HEX) return { ok: false, why: `is ${text.length} hex digits; a commit sha has at most ${MAX_HEX}` };
  return { ok: true, sha: text.toLowerCase() };
};

/**
 * Whether a reported revision names `sha`: equal, or an abbreviation of it. Works for SHA-1 and
 * SHA-256 ids alike (a prefix, never a fixed length).
 */
export const reportsSha = (reported: string | null, sha: string | null): boolean =>
  reported !== null && sha !== null && (reported === sha || (reported.length < sha.length && sha.startsWith(reported)));

/**
 * The full sha an abbreviation stands for, when one of the shas the follower knows has it as a
 * prefix (the observed one first); otherwise the report as it is.
 */
export const expandRevision = (reported: string | null, known: readonly (string | null | undefined)[]): string | null => {
  if (reported === null) return null;
  for (const sha of known) if (sha && reportsSha(reported, sha)) return sha;
  return reported;
};
