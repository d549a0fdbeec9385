// The push receiver's pure decisions: forge headers, payload normalisation, which followers a push
// concerns, replayed deliveries, and coalescing (a burst of pushes costs a few ticks, never N, and
// no push is lost). Properties first; examples use the headers and payload fields each forge documents.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  closerWakeJobName,
  decideHook,
  followersOfPush,
  noDeliveries,
  noteDelivery,
  NO_POKES,
  onPoke,
  onTickEnd,
  parsePushPayload,
  pokeJobName,
  readHookHeaders,
  type FollowedSource,
  type HookRequest,
  type Pokes,
} from '../../src/core/push.ts';
import { parseRegistry } from '../../src/core/registry.ts';
import { signBody, verifyCredential } from '../../src/serve/push-auth.ts';
import { anyShaArb, branchCandidateArb, fcParams, followerIdArb } from '../support/arbitraries.ts';

const SHA = 'bffeb74224043ba2feb48d137756c8a9331c449a';
const SHA64 = `${'ab'.repeat(32)}`;
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const repoArb = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/)).map(([o, n]) => `${o}/${n}`);
const sourcesArb: fc.Arbitrary<FollowedSource[]> = fc.uniqueArray(fc.record({ id: followerIdArb, repo: fc.constantFrom('acme/web', 'Acme/API', 'pikasTech/HWLAB'), branch: fc.constantFrom('main', 'v0.3', 'release/1.x', 'ünï/@x') }), {
  selector: (s) => s.id,
  maxLength: 6,
});

describe('coalescing: onPoke / onTickEnd', () => {
  type Op = { kind: 'poke'; key: string } | { kind: 'end'; key: string };
  const opsArb = fc.array(fc.record({ kind: fc.constantFrom('poke' as const, 'poke' as const, 'end' as const), key: fc.constantFrom('a/x', 'b/y', 'c/z') }), { maxLength: 200 });

  /** Runs ops (an end only where a tick runs), then ends every tick until none runs. */
  const simulate = (ops: readonly Op[]) => {
    let pokes: Pokes = NO_POKES;
    const running = new Map<string, number>();
    const starts: { key: string; at: number }[] = [];
    const pokesAt: { key: string; at: number }[] = [];
    let maxRunning = 0;
    const start = (key: string, at: number) => {
      starts.push({ key, at });
      running.set(key, (running.get(key) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, running.get(key)!);
    };
    let t = 0;
    const apply = (op: Op) => {
      t++;
      if (op.kind === 'poke') {
        pokesAt.push({ key: op.key, at: t });
        const r = onPoke(pokes, op.key);
        pokes = r.pokes;
        if (r.start) start(op.key, t);
      } else {
        if (!running.get(op.key)) return;
        running.set(op.key, running.get(op.key)! - 1);
        const r = onTickEnd(pokes, op.key);
        pokes = r.pokes;
        if (r.start) start(op.key, t);
      }
    };
    for (const op of ops) apply(op);
    for (let guard = 0; guard < 1000 && [...running.values()].some((n) => n > 0); guard++) {
      for (const [key, n] of running) if (n > 0) apply({ kind: 'end', key });
    }
    return { starts, pokesAt, maxRunning, pokes };
  };

  it('at most one tick runs per repository, and every poke is followed by a tick that starts at or after it', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { starts, pokesAt, maxRunning, pokes } = simulate(ops);
        expect(maxRunning).toBeLessThanOrEqual(1);
        for (const p of pokesAt) expect(starts.some((s) => s.key === p.key && s.at >= p.at), `poke of ${p.key} at ${p.at} lost`).toBe(true);
        expect(pokes.size).toBe(0);
      }),
      fcParams(),
    );
  });

  it('a burst of N pokes while nothing ends costs one tick, plus at most one after it: never N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.boolean(), (n, runningBefore) => {
        const ops: Op[] = [...(runningBefore ? [{ kind: 'poke' as const, key: 'a/x' }] : []), ...Array.from({ length: n }, () => ({ kind: 'poke' as const, key: 'a/x' }))];
        const { starts } = simulate(ops);
        expect(starts.length).toBeLessThanOrEqual(2);
      }),
      fcParams(200),
    );
  });

  it('ticks started never exceed the ends seen plus one per repository', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        let pokes: Pokes = NO_POKES;
        const running = new Set<string>();
        const started = new Map<string, number>();
        const ended = new Map<string, number>();
        for (const op of ops) {
          if (op.kind === 'poke') {
            const r = onPoke(pokes, op.key);
            pokes = r.pokes;
            if (r.start) {
              running.add(op.key);
              started.set(op.key, (started.get(op.key) ?? 0) + 1);
            }
          } else if (running.has(op.key)) {
            ended.set(op.key, (ended.get(op.key) ?? 0) + 1);
            const r = onTickEnd(pokes, op.key);
            pokes = r.pokes;
            if (r.start) started.set(op.key, (started.get(op.key) ?? 0) + 1);
            else running.delete(op.key);
          }
        }
        for (const [k, n] of started) expect(n).toBeLessThanOrEqual((ended.get(k) ?? 0) + 1);
      }),
      fcParams(),
    );
  });
});

describe('replayed deliveries', () => {
  it('a delivery id seen among the last `max` is a replay; the memory stays bounded', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-f0-9-]{1,8}$/), { maxLength: 300 }), fc.integer({ min: 1, max: 50 }), (ids, max) => {
        let d = noDeliveries(max);
        const seen: string[] = [];
        for (const id of ids) {
          const r = noteDelivery(d, id);
          const recent = seen.slice(-max);
          if (recent.includes(id)) expect(r.replay).toBe(true);
          if (!seen.includes(id)) expect(r.replay).toBe(false);
          if (!r.replay) seen.push(id);
          d = r.deliveries;
          expect(d.ids.length).toBeLessThanOrEqual(max);
        }
      }),
      fcParams(),
    );
  });
});

describe('forge headers', () => {
  it("reads each forge's documented headers; Forgejo's own names win over the Gitea and GitHub ones it also sends", () => {
    const hex = 'a'.repeat(64);
    expect(readHookHeaders({ 'x-github-event': 'push', 'x-github-delivery': 'g-1', 'x-hub-signature-256': `sha256=${hex}` })).toEqual({ forge: 'github', event: 'push', delivery: 'g-1', credential: { scheme: 'hmac-sha256', hex } });
    expect(readHookHeaders({ 'x-github-event': 'push', 'x-github-delivery': 'd', 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt-1', 'x-gitea-signature': hex.toUpperCase() })).toEqual({ forge: 'gitea', event: 'push', delivery: 'gt-1', credential: { scheme: 'hmac-sha256', hex } });
    expect(readHookHeaders({ 'x-forgejo-event': 'push', 'x-forgejo-delivery': 'fj', 'x-forgejo-signature': hex, 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt', 'x-gitea-signature': 'b'.repeat(64) })).toEqual({ forge: 'gitea', event: 'push', delivery: 'fj', credential: { scheme: 'hmac-sha256', hex } });
    expect(readHookHeaders({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 's3cret', 'x-gitlab-event-uuid': 'ev', 'idempotency-key': 'ik' })).toEqual({ forge: 'gitlab', event: 'Push Hook', delivery: 'ik', credential: { scheme: 'token', token: 's3cret' } });
    expect(readHookHeaders({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'ev' })).toMatchObject({ delivery: 'ev', credential: null });
    expect(readHookHeaders({ 'x-hub-signature-256': `sha256=${hex}` })).toEqual({ forge: 'generic', event: null, delivery: null, credential: { scheme: 'hmac-sha256', hex } });
    // GitHub's signature without its prefix, or the legacy SHA-1 header alone, is no credential.
    expect(readHookHeaders({ 'x-github-event': 'push', 'x-hub-signature-256': hex }).credential).toBeNull();
    expect(readHookHeaders({ 'x-github-event': 'push', 'x-hub-signature': `sha1=${'a'.repeat(40)}` }).credential).toBeNull();
  });
});

describe('signatures', () => {
  it('an HMAC-SHA256 of the exact body verifies; any other body, secret or token does not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ minLength: 1, maxLength: 40 }), fc.string({ minLength: 1, maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 4 }), (bytes, secret, other, extra) => {
        const body = Buffer.from(bytes);
        const hex = signBody(body, secret);
        expect(verifyCredential({ scheme: 'hmac-sha256', hex }, body, secret)).toBe(true);
        expect(verifyCredential({ scheme: 'hmac-sha256', hex }, Buffer.concat([body, Buffer.from(extra)]), secret)).toBe(false);
        if (other !== secret) {
          expect(verifyCredential({ scheme: 'hmac-sha256', hex }, body, other)).toBe(false);
          expect(verifyCredential({ scheme: 'token', token: other }, body, secret)).toBe(false);
        }
        expect(verifyCredential({ scheme: 'token', token: secret }, body, secret)).toBe(true);
        expect(verifyCredential(null, body, secret)).toBe(false);
        // An empty secret (an unset variable) authenticates nothing.
        expect(verifyCredential({ scheme: 'hmac-sha256', hex: signBody(body, '') }, body, '')).toBe(false);
      }),
      fcParams(300),
    );
  });
});

describe('payloads', () => {
  it('normalises each forge to (repository, ref, branch, after); tags are not branches', () => {
    expect(parsePushPayload('github', { ref: 'refs/heads/main', after: SHA, repository: { full_name: 'acme/web', id: 1 }, commits: [] })).toEqual({ ok: true, push: { repo: 'acme/web', ref: 'refs/heads/main', branch: 'main', after: SHA } });
    expect(parsePushPayload('gitea', { ref: 'refs/tags/v1', after: SHA, repository: { full_name: 'acme/web' } })).toMatchObject({ ok: true, push: { branch: null } });
    expect(parsePushPayload('gitlab', { object_kind: 'push', ref: 'refs/heads/release/1.x', after: SHA64, checkout_sha: SHA64, project: { path_with_namespace: 'group/sub' } })).toEqual({ ok: true, push: { repo: 'group/sub', ref: 'refs/heads/release/1.x', branch: 'release/1.x', after: SHA64 } });
    expect(parsePushPayload('generic', { repo: 'acme/web.git', ref: 'main', after: SHA })).toEqual({ ok: true, push: { repo: 'acme/web', ref: 'refs/heads/main', branch: 'main', after: SHA } });
  });

  it('a body of the wrong shape names the field, never echoes its value', () => {
    const r = parsePushPayload('github', { ref: 'refs/heads/main', after: 'SECRET-LOOKING-VALUE', repository: { full_name: 'acme/web' } });
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) {
      expect(r.message).toContain('after');
      expect(r.message).not.toContain('SECRET');
    }
    const extra = parsePushPayload('generic', { repo: 'a/b', ref: 'main', after: SHA, 'SECRET-KEY': 1 });
    expect(extra).toMatchObject({ ok: false, message: expect.stringContaining('unknown keys') });
    expect(JSON.stringify(extra)).not.toContain('SECRET');
    expect(parsePushPayload('gitlab', { ref: 'main', after: SHA, project: { path_with_namespace: 'a/b' } })).toMatchObject({ ok: false });
  });

  it('matches followers by repository (any case) and exact branch, whatever the branch name', () => {
    fc.assert(
      fc.property(sourcesArb, fc.constantFrom('acme/web', 'ACME/WEB', 'Acme/API', 'pikasTech/HWLAB', 'other/repo'), fc.oneof(fc.constantFrom('main', 'v0.3', 'release/1.x', 'ünï/@x'), branchCandidateArb), anyShaArb, (sources, repo, branch, sha) => {
        const got = followersOfPush(sources, { repo, ref: `refs/heads/${branch}`, branch, after: sha });
        expect(got).toEqual(sources.filter((s) => s.repo.toLowerCase() === repo.toLowerCase() && s.branch === branch));
      }),
      fcParams(),
    );
  });
});

describe('decideHook', () => {
  const github = (delivery: string | null): HookRequest => ({ forge: 'github', event: 'push', delivery, credential: { scheme: 'hmac-sha256', hex: 'a'.repeat(64) } });
  const body = (repo: string, branch: string, after: string): string => JSON.stringify({ ref: `refs/heads/${branch}`, after, repository: { full_name: repo } });

  it('never trusts the payload sha: which followers are poked and the answer do not depend on it', () => {
    fc.assert(
      fc.property(sourcesArb, fc.constantFrom('acme/web', 'Acme/API', 'nobody/here'), fc.constantFrom('main', 'v0.3', 'release/1.x'), anyShaArb, anyShaArb, (sources, repo, branch, a, b) => {
        const one = decideHook({ request: github(null), authenticated: true, body: body(repo, branch, a), sources, deliveries: noDeliveries() }).decision;
        const two = decideHook({ request: github(null), authenticated: true, body: body(repo, branch, b), sources, deliveries: noDeliveries() }).decision;
        expect(one.status).toBe(two.status);
        expect('poke' in one ? [one.poke.key, one.poke.followers] : null).toEqual('poke' in two ? [two.poke.key, two.poke.followers] : null);
        // A decision is an answer and at most a poke: never a dispatch, a name of one, or a target sha.
        for (const d of [one, two]) expect(Object.keys(d).every((k) => ['status', 'text', 'ignored', 'replay', 'poke', 'log'].includes(k))).toBe(true);
      }),
      fcParams(),
    );
  });

  it('unauthenticated is 401 whatever else the request holds, and remembers nothing', () => {
    fc.assert(
      fc.property(fc.string(), fc.option(fc.string({ minLength: 1 }), { nil: null }), (text, delivery) => {
        const deliveries = noDeliveries();
        const r = decideHook({ request: github(delivery), authenticated: false, body: text, sources: [{ id: 'web', repo: 'acme/web', branch: 'main' }], deliveries });
        expect(r.decision.status).toBe(401);
        expect(r.deliveries).toBe(deliveries);
      }),
      fcParams(300),
    );
  });

  it('answers each case as the receiver documents it', () => {
    const sources = [{ id: 'web-main', repo: 'acme/web', branch: 'main' }];
    const ok = (request: HookRequest, text: string, deliveries = noDeliveries()) => decideHook({ request, authenticated: true, body: text, sources, deliveries });
    expect(ok({ ...github('x'), event: 'issues' }, '{}').decision).toMatchObject({ status: 202, ignored: true });
    expect(ok({ ...github('x'), event: 'ping' }, '{}').decision.status).toBe(200);
    expect(ok(github('x'), '{not json').decision.status).toBe(400);
    expect(ok(github('x'), '{"ref":"refs/heads/main"}').decision.status).toBe(400);
    expect(ok(github('x'), body('acme/web', 'other', SHA)).decision).toMatchObject({ status: 200, text: expect.stringContaining('ignored') });
    const first = ok(github('d-1'), body('acme/web', 'main', SHA));
    expect(first.decision).toMatchObject({ status: 202, poke: { key: 'acme/web', sha: SHA, followers: ['web-main'] } });
    expect(ok(github('d-1'), body('acme/web', 'main', SHA), first.deliveries).decision).toMatchObject({ status: 200, replay: true });
    // A malformed body is not remembered, so its corrected redelivery still counts.
    const bad = ok(github('d-2'), '{');
    expect(bad.deliveries.ids).not.toContain('d-2');
  });
});

describe('poke Job names', () => {
  it('are DNS-1123 labels named from (repository, sha) alone, apart for distinct shas', () => {
    fc.assert(
      fc.property(repoArb, anyShaArb, anyShaArb, (repo, a, b) => {
        const n = pokeJobName(repo, a);
        expect(n).toMatch(DNS1123);
        expect(n.length).toBeLessThanOrEqual(52);
        expect(pokeJobName(repo, a)).toBe(n);
        expect(pokeJobName(repo.toUpperCase(), a)).toBe(n);
        if (a.slice(0, 12) !== b.slice(0, 12)) expect(pokeJobName(repo, b)).not.toBe(n);
        expect(closerWakeJobName(`bf-web-${a.slice(0, 12)}-e1-a1`)).toMatch(DNS1123);
      }),
      fcParams(300),
    );
  });
});

describe('controller.serve.push in the registry', () => {
  const reg = (push: unknown) => ({ controller: { driver: 'local', gitMirror: { readUrl: 'file:///m' }, serve: { enabled: true, push } }, followers: [] });
  it('takes the name of an environment variable, never a secret, and no other key', () => {
    expect(parseRegistry('r.yaml', reg({ secretEnv: 'BF_PUSH_SECRET' }))).toMatchObject({ ok: true });
    const bad = parseRegistry('r.yaml', reg({ secretEnv: 'hunter2-secret!' }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors[0]).toMatchObject({ file: 'r.yaml', path: 'controller.serve.push.secretEnv' });
      expect(bad.errors[0]!.message).not.toContain('hunter2');
    }
    const extra = parseRegistry('r.yaml', reg({ secretEnv: 'X', secret: 'plain' }));
    expect(extra.ok).toBe(false);
    if (!extra.ok) expect(extra.errors[0]).toMatchObject({ path: 'controller.serve.push.secret', message: expect.stringContaining('unknown key') });
  });
});
