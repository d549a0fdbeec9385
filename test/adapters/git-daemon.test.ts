import { chmod, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceObservation } from '../../src/core/observe.ts';
import { DAEMON_UNANSWERED_LIMIT, daemonNeedsGit, daemonRequest, readDaemonRefs } from '../../src/adapters/git/git-daemon.ts';
import { encodePkt } from '../../src/adapters/git/pkt-line.ts';
import { createGitRefReader } from '../../src/adapters/git/ref-reader.ts';
import { createGitFixture, eventually, runGitCmd, startBlackholeServer, type GitFixture, type GitServer } from '../support/git-fixtures.ts';

let fx: GitFixture;
let daemon: GitServer;
let recorder: string;
let recorded: string;

beforeAll(async () => {
  fx = await createGitFixture();
  await fx.commitMany('acme/app', ['main', 'release/1.x']);
  await fx.createBareRepo('acme/sha256', { objectFormat: 'sha256' });
  await fx.commitMany('acme/sha256', ['main', 'release/1.x']);
  daemon = await fx.serveDaemon();
  // A git that writes down each run: a read that must not fork git leaves the file absent.
  recorded = join(fx.root, 'git-calls.log');
  recorder = join(fx.root, 'recording-git');
  await writeFile(recorder, `#!/bin/sh\necho "$*" >> '${recorded}'\nexec git "$@"\n`);
  await chmod(recorder, 0o755);
});

afterAll(async () => {
  await fx?.cleanup();
});

const gitCalls = async (): Promise<number> => (await readFile(recorded, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

/** `git ls-remote` of the whole repository over the daemon: the oracle, ref name to sha. */
const lsRemote = async (url: string): Promise<Map<string, string>> => {
  const out = (await fx.git(['ls-remote', url])).stdout;
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [sha, ref] = l.split('\t') as [string, string];
        return [ref, sha];
      }),
  );
};

const expected = (refs: Map<string, string>, branch: string, repo: string): SourceObservation => {
  const sha = refs.get(`refs/heads/${branch}`);
  return sha === undefined ? { kind: 'missing', repo, branch } : { kind: 'ok', sha };
};

type Conn = { received: () => Buffer; closed: () => boolean; socket: Socket };
/** A node:net server standing in for a daemon: `onData` sees every byte received so far on a connection. */
const fakeDaemon = async (onData: (conn: Conn, chunk: Buffer) => void) => {
  const conns: Conn[] = [];
  const server = createServer((socket) => {
    const chunks: Buffer[] = [];
    let closed = false;
    const conn: Conn = { received: () => Buffer.concat(chunks), closed: () => closed, socket };
    conns.push(conn);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      onData(conn, c);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `git://127.0.0.1:${port}`,
    port,
    conns,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => resolve());
      }),
  };
};

/** The bytes a real daemon answers a v0 request for `path` (a captured advertisement), read until its flush. */
const captureV0 = async (path: string): Promise<Buffer> => {
  const socket = connect({ host: '127.0.0.1', port: daemon.port });
  const chunks: Buffer[] = [];
  const req = `git-upload-pack ${path}\0host=127.0.0.1:${daemon.port}\0`;
  socket.write(encodePkt(req));
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).subarray(-4).toString('latin1') === '0000') resolve();
    });
    socket.on('error', reject);
  });
  socket.end('0000');
  return Buffer.concat(chunks);
};

const CAPS_V2 = Buffer.concat([encodePkt('version 2\n'), encodePkt('agent=fake\n'), encodePkt('ls-refs=unborn\n'), encodePkt('object-format=sha1\n'), Buffer.from('0000')]);
const SHA1 = 'a'.repeat(40);

describe('the git:// request and the decision to keep git', () => {
  it('frames the request as git does: service, path, NUL host, and version=2 after a second NUL', async () => {
    expect(daemonRequest('git://mirror.local:9419/git/acme/app.git').toString('latin1')).toBe(
      '0048git-upload-pack /git/acme/app.git\0host=mirror.local:9419\0\0version=2\0',
    );
    expect(daemonRequest('git://mirror.local/a%20b/x.git', 'v0').toString('latin1')).toBe('0031git-upload-pack /a b/x.git\0host=mirror.local\0');
    // Real git's own first packet to the same server is byte for byte the same.
    const seen = await fakeDaemon((conn) => conn.socket.end());
    try {
      await runGitCmd(['-c', 'protocol.version=2', 'ls-remote', `${seen.url}/acme/app.git`], { cwd: fx.root, env: fx.env, allowFail: true });
      expect(seen.conns).toHaveLength(1);
      expect(seen.conns[0]!.received().toString('latin1')).toBe(daemonRequest(`${seen.url}/acme/app.git`).toString('latin1'));
    } finally {
      await seen.stop();
    }
  });

  it('keeps git for a git:// mirror only when git would go through a proxy command', () => {
    expect(daemonNeedsGit({})).toBeNull();
    expect(daemonNeedsGit({ PATH: '/bin', http_proxy: 'http://proxy:3128', GIT_PROXY_COMMAND: '' })).toBeNull();
    expect(daemonNeedsGit({ GIT_PROXY_COMMAND: '/usr/bin/proxy' })).toMatch(/GIT_PROXY_COMMAND/);
    expect(daemonNeedsGit({ GIT_CONFIG_PARAMETERS: "'core.gitProxy'='/usr/bin/proxy'" })).toMatch(/core\.gitProxy/);
    expect(daemonNeedsGit({ GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.gitproxy', GIT_CONFIG_VALUE_0: 'p' })).toMatch(/GIT_CONFIG_KEY_0/);
    expect(daemonNeedsGit({ GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.editor', GIT_CONFIG_VALUE_0: 'vi' })).toBeNull();
  });
});

// Valid branch names, odd for a reader, none a directory of another (git refuses both `a` and `a/b`).
const POOL = ['main', 'release/1.x', 'release/1.xy', 'feat/ünï/ß', 'no\u00a0break', 'a+b#c', 'x@y', '@', 'v0.3', 'v0.30', 'deep/a/b/c', 'emoji/🌿'];
// Asked for but never created: prefixes and lookalikes of the pool.
const NEVER = ['release', 'release/1', 'deep/a', 'v0', 'feat/ünï', 'absent'];

type Op = { kind: 'commit'; b: string } | { kind: 'force'; b: string; back: number } | { kind: 'delete'; b: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('commit' as const), b: fc.constantFrom(...POOL) }),
  fc.record({ kind: fc.constant('force' as const), b: fc.constantFrom(...POOL), back: fc.nat(8) }),
  fc.record({ kind: fc.constant('delete' as const), b: fc.constantFrom(...POOL) }),
);

describe('reading a real git daemon in process', () => {
  it('answers every branch asked exactly as git ls-remote does, over generated histories (sha1 and sha256)', async () => {
    let run = 0;
    const before = await gitCalls();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(opArb, { minLength: 0, maxLength: 6 }), fc.subarray([...POOL, ...NEVER], { minLength: 1 }), async (sha256, ops, asked) => {
        const repo = `prop/r${run++}`;
        const bare = await fx.createBareRepo(repo, { objectFormat: sha256 ? 'sha256' : 'sha1' });
        // Deleting the branch HEAD names is part of real histories too (HEAD then dangles).
        await fx.git(['--git-dir', bare, 'config', 'receive.denyDeleteCurrent', 'ignore']);
        const shas: string[] = [];
        const live = new Set<string>();
        for (const op of ops) {
          if (op.kind === 'commit') {
            shas.push(await fx.commit(repo, op.b));
            live.add(op.b);
          } else if (op.kind === 'force' && shas.length > 0) {
            // Back to an old sha (or the branch re-created at one).
            await fx.forcePush(repo, op.b, shas[op.back % shas.length]!);
            live.add(op.b);
          } else if (op.kind === 'delete' && live.has(op.b)) {
            await fx.deleteBranch(repo, op.b);
            live.delete(op.b);
          }
        }
        const oracle = await lsRemote(`${daemon.url}/${repo}.git`);
        const reader = createGitRefReader({ readUrl: daemon.url, gitBinary: recorder });
        const res = await reader.readMany([{ repo, branches: asked }]);
        for (const b of asked) expect(res.get(repo)?.get(b), b).toEqual(expected(oracle, b, repo));
        expect(reader.readsIssued()).toBe(1);
        // The v0 advertisement of the same daemon agrees on every head.
        const v0 = await readDaemonRefs(`${daemon.url}/${repo}.git`, { timeoutMs: 10_000, maxBytes: 1 << 20, branches: asked, protocol: 'v0' });
        expect(v0.kind).toBe('refs');
        if (v0.kind === 'refs') {
          expect(v0.protocol).toBe('v0');
          for (const b of [...POOL, ...NEVER]) expect(v0.refs.get(`refs/heads/${b}`), b).toBe(oracle.get(`refs/heads/${b}`));
        }
      }),
      { numRuns: Number(process.env.DAEMON_RUNS ?? 24) },
    );
    // No read started git.
    expect(await gitCalls()).toBe(before);
  }, 120_000);

  it('reads with git ls-remote when asked (daemonTransport: git), one git per repository', async () => {
    const before = await gitCalls();
    const reader = createGitRefReader({ readUrl: daemon.url, gitBinary: recorder, daemonTransport: 'git' });
    const res = await reader.readMany([
      { repo: 'acme/app', branches: ['main'] },
      { repo: 'acme/sha256', branches: ['main'] },
    ]);
    expect(res.get('acme/app')?.get('main')).toEqual({ kind: 'ok', sha: await fx.tip('acme/app', 'main') });
    expect(res.get('acme/sha256')?.get('main')).toEqual({ kind: 'ok', sha: await fx.tip('acme/sha256', 'main') });
    expect((await gitCalls()) - before).toBe(2);
  });

  it("reports a repository the daemon does not serve as unreachable with the daemon's message", async () => {
    const reader = createGitRefReader({ readUrl: daemon.url, gitBinary: recorder });
    const res = await reader.readMany([
      { repo: 'acme/absent', branches: ['main'] },
      { repo: 'acme/app', branches: ['main'] },
    ]);
    const obs = res.get('acme/absent')?.get('main');
    expect(obs?.kind).toBe('unreachable');
    // The fixture's daemon runs with --informative-errors.
    expect(obs?.kind === 'unreachable' && obs.message).toMatch(/daemon answered an error: "no such repository: \/acme\/absent\.git"/);
    expect(res.get('acme/app')?.get('main')?.kind).toBe('ok');
    expect(reader.readsIssued()).toBe(2);
  });
});

describe('a server that is not a well-behaved daemon', () => {
  const readOne = (url: string, timeoutMs = 10_000) =>
    readDaemonRefs(`${url}/acme/app.git`, { timeoutMs, maxBytes: 1 << 20, branches: ['main'] });

  it.each(['sha1', 'sha256'])('reads a v0-only server replaying a captured %s advertisement, and ends with a flush', async (format) => {
    const path = format === 'sha1' ? '/acme/app.git' : '/acme/sha256.git';
    const captured = await captureV0(path);
    expect(captured.toString('latin1')).not.toMatch(/version 2/);
    const replay = await fakeDaemon((conn, chunk) => {
      if (conn.received().length === chunk.length) conn.socket.write(captured);
    });
    try {
      const res = await readDaemonRefs(`${replay.url}${path}`, { timeoutMs: 10_000, maxBytes: 1 << 20, branches: ['main', 'gone'] });
      const oracle = await lsRemote(`${daemon.url}${path}`);
      expect(res.kind === 'refs' && res.protocol).toBe('v0');
      expect(res.kind === 'refs' && res.refs.get('refs/heads/main')).toBe(oracle.get('refs/heads/main'));
      expect(res.kind === 'refs' && res.refs.get('refs/heads/release/1.x')).toBe(oracle.get('refs/heads/release/1.x'));
      // The request, then a flush-pkt (no wants), then the connection closed.
      const request = `git-upload-pack ${path}\0host=127.0.0.1:${replay.port}\0\0version=2\0`;
      expect(await eventually(() => replay.conns[0]!.closed())).toBe(true);
      expect(replay.conns[0]!.received().toString('latin1')).toBe(`${encodePkt(request).toString('latin1')}0000`);
    } finally {
      await replay.stop();
    }
  });

  it('ends a v2 read with a flush after the ls-refs answer', async () => {
    let answered = false;
    const fake = await fakeDaemon((conn, chunk) => {
      const got = conn.received().toString('latin1');
      if (got.length === chunk.length) conn.socket.write(CAPS_V2);
      else if (!answered && got.endsWith('0000') && got.includes('command=ls-refs')) {
        answered = true;
        conn.socket.write(Buffer.concat([encodePkt(`${SHA1} refs/heads/main\n`), Buffer.from('0000')]));
      }
    });
    try {
      const res = await readOne(fake.url);
      expect(res).toEqual({ kind: 'refs', refs: new Map([['refs/heads/main', SHA1]]), protocol: 'v2', bytes: expect.any(Number) });
      expect(await eventually(() => fake.conns[0]!.closed())).toBe(true);
      const got = fake.conns[0]!.received().toString('latin1');
      expect(got).toContain('0014command=ls-refs\n');
      expect(got).toContain('0017object-format=sha1\n0001');
      expect(got).toContain('ref-prefix refs/heads/main\n');
      // The ls-refs request ends with a flush, and one more flush ends the session.
      expect(got.endsWith('\n00000000')).toBe(true);
    } finally {
      await fake.stop();
    }
  });

  const cases: [string, (conn: Conn, chunk: Buffer) => void, RegExp][] = [
    ['answers garbage', (c) => c.socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'), /not a pkt-line answer/],
    ['closes without a word', (c) => c.socket.end(), /closed the connection without answering/],
    ['stops mid-advertisement', (c) => c.socket.end(CAPS_V2.subarray(0, 20)), /not a pkt-line answer ending in a flush packet/],
    [
      'stops mid ls-refs answer',
      (c, chunk) => (c.received().length === chunk.length ? c.socket.write(CAPS_V2) : c.socket.end(encodePkt(`${SHA1} refs/heads/main\n`))),
      /not a pkt-line answer ending in a flush packet/,
    ],
    [
      'answers ls-refs with a line that is not a ref',
      (c, chunk) => (c.received().length === chunk.length ? c.socket.write(CAPS_V2) : c.socket.write(Buffer.concat([encodePkt('zzz refs/heads/main\n'), Buffer.from('0000')]))),
      /malformed ls-refs answer/,
    ],
    [
      'answers ls-refs with an ERR line',
      (c, chunk) => (c.received().length === chunk.length ? c.socket.write(CAPS_V2) : c.socket.end(encodePkt('ERR upload-pack: not our ref'))),
      /daemon answered an error: "upload-pack: not our ref"/,
    ],
    ['answers v2 without ls-refs', (c) => c.socket.write(Buffer.concat([encodePkt('version 2\n'), encodePkt('fetch\n'), Buffer.from('0000')])), /without the ls-refs command/],
  ];
  it.each(cases)('reads a server that %s as unreachable and closes the connection', async (_, onData, why) => {
    const fake = await fakeDaemon(onData);
    try {
      const res = await readOne(fake.url);
      expect(res.kind).toBe('unreachable');
      expect(res.kind === 'unreachable' && res.message).toMatch(why);
      expect(await eventually(() => fake.conns.every((c) => c.closed()))).toBe(true);
    } finally {
      await fake.stop();
    }
  });

  it('does not trust an answer past the byte cap, and closes the connection', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => encodePkt(`${SHA1} refs/heads/b${i}${i === 0 ? '\0multi_ack' : ''}\n`));
    const fake = await fakeDaemon((c) => c.socket.write(Buffer.concat([...lines, Buffer.from('0000')])));
    try {
      const res = await readDaemonRefs(`${fake.url}/acme/app.git`, { timeoutMs: 10_000, maxBytes: 4096, branches: ['main'] });
      expect(res.kind).toBe('untrusted');
      expect(res.kind === 'untrusted' && res.message).toMatch(/more than 4096 bytes/);
      expect(await eventually(() => fake.conns[0]!.closed())).toBe(true);
    } finally {
      await fake.stop();
    }
  });

  it.each([
    ['never answers', null],
    ['answers the capabilities, then hangs mid ls-refs answer', 'mid'],
  ])('gives up on a server that %s at the deadline, and closes the connection', async (_, mode) => {
    const hole = mode === null ? await startBlackholeServer() : null;
    const fake =
      mode === null
        ? null
        : await fakeDaemon((c, chunk) => (c.received().length === chunk.length ? c.socket.write(CAPS_V2) : c.socket.write(encodePkt(`${SHA1} refs/he`).subarray(0, 20))));
    const url = hole !== null ? `git://127.0.0.1:${hole.port}` : fake!.url;
    try {
      const res = await readOne(url, 800);
      expect(res.kind).toBe('unreachable');
      expect(res.kind === 'unreachable' && res.message).toMatch(/timed out after 800 ms and the connection was closed/);
      if (hole !== null) expect(await eventually(() => hole.accepted() === 1 && hole.closed() === 1)).toBe(true);
      else expect(await eventually(() => fake!.conns.length === 1 && fake!.conns[0]!.closed())).toBe(true);
    } finally {
      await hole?.stop();
      await fake?.stop();
    }
  });

  it(`keeps at most ${DAEMON_UNANSWERED_LIMIT} connections waiting for the daemon's answer (git daemon listens with a backlog of 5)`, async () => {
    let waiting = 0;
    let peak = 0;
    const empty = Buffer.concat([encodePkt(`${'0'.repeat(40)} capabilities^{}\0multi_ack\n`), Buffer.from('0000')]);
    // A connection waits from its request until the server answers, 30 ms later.
    const fake = await fakeDaemon((c, chunk) => {
      if (c.received().length !== chunk.length) return;
      waiting++;
      peak = Math.max(peak, waiting);
      setTimeout(() => {
        waiting--;
        c.socket.write(empty);
      }, 30);
    });
    try {
      const reader = createGitRefReader({ readUrl: fake.url, concurrency: 8, gitBinary: recorder });
      const repos = Array.from({ length: 12 }, (_, i) => `gate/r${i}`);
      const res = await reader.readMany(repos.map((repo) => ({ repo, branches: ['main'] })));
      for (const repo of repos) expect(res.get(repo)?.get('main')).toEqual({ kind: 'missing', repo, branch: 'main' });
      expect(fake.conns).toHaveLength(12);
      expect(peak).toBe(DAEMON_UNANSWERED_LIMIT);
    } finally {
      await fake.stop();
    }
  });
});
