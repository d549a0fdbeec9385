// What targets really report as the deployed commit: case, abbreviations, Flux revisions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandRevision, MIN_ABBREVIATED, parseRevision, ReportedSha, reportsSha } from '../../src/core/revision.ts';
import { fcParams } from '../support/arbitraries.ts';

const hex = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: min, maxLength: max });
/** Full object ids of both kinds: SHA-1 (40 hex) and SHA-256 (64 hex). */
const fullShaArb = fc.oneof(hex(40, 40), hex(64, 64));
const mixCase = (s: string, flips: boolean[]): string => [...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');
const refArb = fc.constantFrom('main', 'refs/heads/main', 'v0.3', 'release/ünï', 'feat@x_y.z');

describe('parseRevision', () => {
  it('reads a full sha in any case, with surrounding whitespace, as its lower-case form', () => {
    fc.assert(
      fc.property(fullShaArb, fc.array(fc.boolean(), { minLength: 1 }), fc.constantFrom('', '\n', '\r\n', '  '), (sha, flips, pad) => {
        expect(parseRevision(`${pad}${mixCase(sha, flips)}${pad}`)).toEqual({ ok: true, sha });
      }),
      fcParams(),
    );
  });

  it('reads an abbreviation of at least 7 hex as that prefix; refuses 1 to 6', () => {
    fc.assert(
      fc.property(fullShaArb, fc.integer({ min: 1, max: 64 }), (sha, n) => {
        const prefix = sha.slice(0, n);
        const r = parseRevision(prefix.toUpperCase());
        if (prefix.length >= MIN_ABBREVIATED) {
          expect(r).toEqual({ ok: true, sha: prefix });
          expect(reportsSha(r.ok ? r.sha : null, sha)).toBe(true);
        } else expect(r).toEqual({ ok: false, why: `is ${prefix.length} hex digits; an abbreviated sha needs at least 7` });
      }),
      fcParams(),
    );
  });

  it("reads Flux's <ref>@sha1:<40 hex> and <ref>@sha256:<64 hex> (and sha1:<hex> without a ref)", () => {
    fc.assert(
      fc.property(hex(40, 40), hex(64, 64), fc.option(refArb, { nil: undefined }), (s1, s256, ref) => {
        const at = ref === undefined ? '' : `${ref}@`;
        expect(parseRevision(`${at}sha1:${s1.toUpperCase()}`)).toEqual({ ok: true, sha: s1 });
        expect(parseRevision(`${at}sha256:${s256}`)).toEqual({ ok: true, sha: s256 });
        // The algorithm names the length: a mismatch is not a commit id.
        expect(parseRevision(`${at}sha1:${s256}`).ok).toBe(false);
        expect(parseRevision(`${at}sha256:${s1}`).ok).toBe(false);
      }),
      fcParams(),
    );
  });

  it('refuses anything else with a reason that never repeats the text', () => {
    const junk = fc.oneof(
      fc.string({ minLength: 1, maxLength: 80 }),
      fc.constantFrom('v1.2.3', 'latest', 'main@sha1:', '@sha1:abc', 'sha512:' + 'a'.repeat(128), 'g'.repeat(40), `${'a'.repeat(40)} ${'b'.repeat(40)}`),
    );
    fc.assert(
      fc.property(junk, (text) => {
        const r = parseRevision(text);
        if (r.ok) {
          // Only what is hex (7–64) or a well-formed Flux revision is read.
          expect(ReportedSha.safeParse(r.sha).success).toBe(true);
          return;
        }
        expect(r.why.length).toBeLessThan(200);
      }),
      fcParams(),
    );
    // A token anywhere in the text (a secret, say) makes it unreadable and is never repeated.
    fc.assert(
      fc.property(junk, fc.nat(100), (text, at) => {
        const i = at % (text.length + 1);
        const r = parseRevision(`${text.slice(0, i)}Zq9tok${text.slice(i)}`);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.why).not.toMatch(/Zq9|tok/);
      }),
      fcParams(),
    );
  });
});

describe('reportsSha and expandRevision', () => {
  it('equal or a proper prefix names the sha; anything else does not (whatever the id length)', () => {
    fc.assert(
      fc.property(fullShaArb, fullShaArb, fc.integer({ min: MIN_ABBREVIATED, max: 64 }), (a, b, n) => {
        expect(reportsSha(a, a)).toBe(true);
        expect(reportsSha(a.slice(0, n), a)).toBe(true);
        expect(reportsSha(b.slice(0, n), a)).toBe(a.startsWith(b.slice(0, n)));
        expect(reportsSha(null, a)).toBe(false);
        expect(reportsSha(a, null)).toBe(false);
        // A report longer than the sha is never a prefix of it.
        if (b.length > a.length) expect(reportsSha(b, a)).toBe(a === b);
      }),
      fcParams(),
    );
  });

  it('expands an abbreviation to the first known sha it names, else keeps it', () => {
    const A = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const B = 'b1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    expect(expandRevision('a1b2c3d', [null, B, A])).toBe(A);
    expect(expandRevision('a1b2c3d', [B])).toBe('a1b2c3d');
    expect(expandRevision(null, [A])).toBeNull();
    expect(expandRevision(A, [B])).toBe(A);
  });
});
