// Dispatch names: deterministic, Kubernetes-safe, and distinct for distinct (id, sha, episode, attempt).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a32, RUN_NAME_MAX, runName } from '../../src/core/run-name.ts';
import { PendingDispatch, Run } from '../../src/core/state.ts';
import { anyShaArb, fcParams, followerIdArb } from '../support/arbitraries.ts';
import { A, AGENTRUN, B, HWLAB, SENTINEL } from './fixtures.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** DNS-1123-label-shaped ids of any length, well past the registry's 40. */
const longIdArb = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,150}[a-z0-9])?$/);

/** Episodes: the first few, and the counts a long-lived follower reaches. */
const episodeArb = fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 2 ** 31 }));

/** A SHA-256 repository's object id: names keep 12 hex of either kind. */
const A64 = `${'1'.repeat(24)}${'ab'.repeat(20)}`;
const anySha64Arb = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 });
const shaOfEitherLengthArb = fc.oneof(anyShaArb, anySha64Arb);

describe('runName', () => {
  it('names the seed followers\' dispatches readably', () => {
    expect(runName(HWLAB, A, 1, 1)).toBe('bf-hwlab-jd01-v03-111111111111-e1-a1');
    expect(runName(AGENTRUN, B, 4, 2)).toBe('bf-agentrun-jd01-v02-2a2a2a2a2a2a-e4-a2');
    expect(runName(SENTINEL, A, 12, 3)).toBe('bf-web-probe-sentinel-master-111111111111-e12-a3');
  });

  it('names each visit of the same sha apart: a rollback is a new run', () => {
    expect(runName(HWLAB, A, 1, 1)).not.toBe(runName(HWLAB, A, 3, 1));
    expect(runName(HWLAB, A64, 1, 1)).not.toBe(runName(HWLAB, A64, 3, 1));
  });

  it('fits every registry-valid id (≤ 40) up to episode 99 and attempt 9 without hashing', () => {
    const id = 'a'.repeat(40);
    expect(runName(id, A, 99, 9)).toBe(`bf-${id}-${A.slice(0, 12)}-e99-a9`);
    expect(runName(id, A, 99, 9).length).toBeLessThanOrEqual(RUN_NAME_MAX);
    expect(runName(id, A64, 99, 9)).toBe(`bf-${id}-${A64.slice(0, 12)}-e99-a9`);
  });

  it('cuts and hashes longer input, keeping the sha and attempt readable', () => {
    const long = `${'x'.repeat(50)}-lane`;
    const name = runName(long, A, 7, 1);
    expect(name).toHaveLength(RUN_NAME_MAX);
    expect(name).toMatch(DNS1123_LABEL);
    expect(name.endsWith(`-${A.slice(0, 12)}-e7-a1`)).toBe(true);
    expect(name).toContain(fnv1a32(`${long}/${A}/7/1`));
    // A cut that ends in "-" is not left dangling before the hash.
    const dashy = `${'y'.repeat(35)}${'-'.repeat(20)}z`;
    expect(runName(dashy, A, 1, 1)).toMatch(/^bf-y{32}-[0-9a-f]{8}-/);
  });

  it('is a DNS-1123 label of at most 63 characters for any label-shaped id, sha and attempt', () => {
    fc.assert(
      fc.property(fc.oneof(followerIdArb, longIdArb), shaOfEitherLengthArb, episodeArb, fc.integer({ min: 1, max: 100_000 }), (id, sha, episode, attempt) => {
        const name = runName(id, sha, episode, attempt);
        expect(name.length).toBeLessThanOrEqual(RUN_NAME_MAX);
        expect(name).toMatch(DNS1123_LABEL);
        expect(PendingDispatch.shape.name.safeParse(name).success).toBe(true);
        expect(Run.shape.name.safeParse(name).success).toBe(true);
      }),
      fcParams(),
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(fc.oneof(followerIdArb, longIdArb), shaOfEitherLengthArb, episodeArb, fc.integer({ min: 1, max: 20 }), (id, sha, episode, attempt) => {
        expect(runName(id, sha, episode, attempt)).toBe(runName(id.slice(0), `${sha}`, episode, attempt));
      }),
      fcParams(),
    );
  });

  it('is distinct for distinct (id, sha, episode, attempt), on both the plain and the hashed path', () => {
    const input = fc.tuple(
      fc.oneof(followerIdArb, longIdArb, fc.constantFrom(HWLAB, `${HWLAB}-x`, `${'q'.repeat(60)}-1`, `${'q'.repeat(60)}-2`)),
      shaOfEitherLengthArb,
      fc.oneof(fc.integer({ min: 0, max: 3 }), episodeArb),
      fc.integer({ min: 1, max: 20 }),
    );
    fc.assert(
      fc.property(input, input, ([id1, sha1, e1, n1], [id2, sha2, e2, n2]) => {
        // Names keep 12 hex of the sha: distinct inputs differ there or in id/episode/attempt.
        fc.pre(id1 !== id2 || sha1.slice(0, 12) !== sha2.slice(0, 12) || e1 !== e2 || n1 !== n2);
        expect(runName(id1, sha1, e1, n1)).not.toBe(runName(id2, sha2, e2, n2));
      }),
      fcParams(),
    );
    // Ids that differ only past the cut are kept apart by the hash.
    const p = 'k'.repeat(60);
    expect(runName(`${p}-one`, A, 1, 1)).not.toBe(runName(`${p}-two`, A, 1, 1));
    expect(runName(`${p}-one`, A, 1, 1)).not.toBe(runName(`${p}-one`, A, 1, 2));
    expect(runName(`${p}-one`, A, 1, 1)).not.toBe(runName(`${p}-one`, A, 2, 1));
    expect(runName(`${p}-one`, A, 1, 1)).not.toBe(runName(`${p}-one`, B, 1, 1));
    // "e1-a12" and "e11-a2" must not meet: the separators keep the numbers apart.
    expect(runName(HWLAB, A, 1, 12)).not.toBe(runName(HWLAB, A, 11, 2));
  });
});

describe('fnv1a32', () => {
  it('matches the reference vectors', () => {
    expect(fnv1a32('')).toBe('811c9dc5');
    expect(fnv1a32('a')).toBe('e40c292c');
    expect(fnv1a32('foobar')).toBe('bf9cf968');
  });
});
