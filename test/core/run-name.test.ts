// Dispatch names: deterministic, Kubernetes-safe, and distinct for distinct (id, sha, attempt).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a32, RUN_NAME_MAX, runName } from '../../src/core/run-name.ts';
import { PendingDispatch, Run } from '../../src/core/state.ts';
import { anyShaArb, fcParams, followerIdArb } from '../support/arbitraries.ts';
import { A, AGENTRUN, B, HWLAB, SENTINEL } from './fixtures.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** DNS-1123-label-shaped ids of any length, well past the registry's 40. */
const longIdArb = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,150}[a-z0-9])?$/);

describe('runName', () => {
  it('names the seed followers\' dispatches readably', () => {
    expect(runName(HWLAB, A, 1)).toBe('bf-hwlab-jd01-v03-111111111111-a1');
    expect(runName(AGENTRUN, B, 2)).toBe('bf-agentrun-jd01-v02-2a2a2a2a2a2a-a2');
    expect(runName(SENTINEL, A, 3)).toBe('bf-web-probe-sentinel-master-111111111111-a3');
  });

  it('fits every registry-valid id (≤ 40) and attempt (≤ 20) without hashing', () => {
    const id = 'a'.repeat(40);
    expect(runName(id, A, 20)).toBe(`bf-${id}-${A.slice(0, 12)}-a20`);
    expect(runName(id, A, 20).length).toBeLessThanOrEqual(RUN_NAME_MAX);
  });

  it('cuts and hashes longer input, keeping the sha and attempt readable', () => {
    const long = `${'x'.repeat(50)}-lane`;
    const name = runName(long, A, 1);
    expect(name).toHaveLength(RUN_NAME_MAX);
    expect(name).toMatch(DNS1123_LABEL);
    expect(name.endsWith(`-${A.slice(0, 12)}-a1`)).toBe(true);
    expect(name).toContain(fnv1a32(`${long}/${A}/1`));
    // A cut that ends in "-" is not left dangling before the hash.
    const dashy = `${'y'.repeat(35)}${'-'.repeat(20)}z`;
    expect(runName(dashy, A, 1)).toMatch(/^bf-y{35}-[0-9a-f]{8}-/);
  });

  it('is a DNS-1123 label of at most 63 characters for any label-shaped id, sha and attempt', () => {
    fc.assert(
      fc.property(fc.oneof(followerIdArb, longIdArb), anyShaArb, fc.integer({ min: 1, max: 100_000 }), (id, sha, attempt) => {
        const name = runName(id, sha, attempt);
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
      fc.property(fc.oneof(followerIdArb, longIdArb), anyShaArb, fc.integer({ min: 1, max: 20 }), (id, sha, attempt) => {
        expect(runName(id, sha, attempt)).toBe(runName(id.slice(0), `${sha}`, attempt));
      }),
      fcParams(),
    );
  });

  it('is distinct for distinct (id, sha, attempt), on both the plain and the hashed path', () => {
    const input = fc.tuple(fc.oneof(followerIdArb, longIdArb, fc.constantFrom(HWLAB, `${HWLAB}-x`, `${'q'.repeat(60)}-1`, `${'q'.repeat(60)}-2`)), anyShaArb, fc.integer({ min: 1, max: 20 }));
    fc.assert(
      fc.property(input, input, ([id1, sha1, n1], [id2, sha2, n2]) => {
        // Names keep 12 hex of the sha: distinct inputs differ there or in id/attempt.
        fc.pre(id1 !== id2 || sha1.slice(0, 12) !== sha2.slice(0, 12) || n1 !== n2);
        expect(runName(id1, sha1, n1)).not.toBe(runName(id2, sha2, n2));
      }),
      fcParams(),
    );
    // Ids that differ only past the cut are kept apart by the hash.
    const p = 'k'.repeat(60);
    expect(runName(`${p}-one`, A, 1)).not.toBe(runName(`${p}-two`, A, 1));
    expect(runName(`${p}-one`, A, 1)).not.toBe(runName(`${p}-one`, A, 2));
    expect(runName(`${p}-one`, A, 1)).not.toBe(runName(`${p}-one`, B, 1));
  });
});

describe('fnv1a32', () => {
  it('matches the reference vectors', () => {
    expect(fnv1a32('')).toBe('811c9dc5');
    expect(fnv1a32('a')).toBe('e40c292c');
    expect(fnv1a32('foobar')).toBe('bf9cf968');
  });
});
