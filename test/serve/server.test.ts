// The HTTP server under every `serve` route, over real HTTP: routing answers, the body limit, a
// handler's failure, and the verb itself as a subprocess that a SIGTERM stops cleanly.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseListen } from '../../src/cli/verbs/serve.ts';
import { text, type Route } from '../../src/serve/route.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { createWorld, type World } from '../support/cli-world.ts';
import { startServe } from '../support/serve-process.ts';

const call = (port: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    // The server may answer 413 and close before the whole body is sent.
    req.on('error', reject);
    req.end(body);
  });

describe('the serve HTTP server', () => {
  let server: RunningServer;
  const logged: string[] = [];
  const routes: Route[] = [
    { method: 'GET', path: '/healthz', handle: async () => text(200, 'ok') },
    { method: 'POST', path: '/echo-size', handle: async (r) => text(200, String((await r.body()).length)) },
    { method: 'GET', path: /^\/followers\/[^/]+$/, handle: async (r) => text(200, r.path) },
    {
      method: 'GET',
      path: '/boom',
      handle: async () => {
        throw new Error('secret-in-message');
      },
    },
  ];
  beforeAll(async () => {
    server = await startServer({ routes, host: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
  });
  afterAll(async () => {
    await server.close();
  });

  it('routes by path and method: 404, 405 with Allow, HEAD as GET without a body, patterns', async () => {
    expect(await call(server.port, 'GET', '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    const head = await call(server.port, 'HEAD', '/healthz');
    expect([head.status, head.body]).toEqual([200, '']);
    expect((await call(server.port, 'GET', '/nope')).status).toBe(404);
    const wrong = await call(server.port, 'POST', '/healthz');
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, HEAD');
    expect((await call(server.port, 'GET', '/followers/web-main')).body).toBe('/followers/web-main\n');
    expect((await call(server.port, 'GET', '/followers/a/b')).status).toBe(404);
  });

  it('reads a body up to 1 MiB and answers 413 beyond, declared or streamed', async () => {
    expect((await call(server.port, 'POST', '/echo-size', Buffer.alloc(1024 * 1024, 1))).body).toBe(`${1024 * 1024}\n`);
    expect((await call(server.port, 'POST', '/echo-size', Buffer.alloc(1024 * 1024 + 1, 1))).status).toBe(413);
    // Chunked: no content-length, so the limit is counted as the bytes arrive.
    expect((await call(server.port, 'POST', '/echo-size', Buffer.alloc(2 * 1024 * 1024, 1), { 'transfer-encoding': 'chunked' })).status).toBe(413);
  });

  it("a handler's failure answers 500 without its message, and the log names only the route", async () => {
    const r = await call(server.port, 'GET', '/boom');
    expect(r.status).toBe(500);
    expect(r.body).not.toContain('secret');
    expect(logged.join('\n')).toContain('GET /boom');
    expect(logged.join('\n')).not.toContain('secret');
  });
});

describe('--listen', () => {
  it('takes HOST:PORT, :PORT, PORT and bracketed IPv6; refuses the rest', () => {
    expect(parseListen('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen(':9090')).toEqual({ host: undefined, port: 9090 });
    expect(parseListen('9090')).toEqual({ host: undefined, port: 9090 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    for (const bad of ['host', '1.2.3.4:99999', 'a:b:1', ':', '']) expect(() => parseListen(bad), bad).toThrow(/--listen/);
  });
});

describe('branch-follower serve (subprocess)', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld([{ id: 'web-main', repo: 'acme/web', branch: 'main' }]);
  });
  afterAll(async () => {
    await w.cleanup();
  });

  it('answers /healthz on the local driver and exits 0 on SIGTERM', async () => {
    const s = await startServe(['--registry', `${w.configDir}/cicd-branch-followers.yaml`], { cwd: w.dir });
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${s.url}/healthz`);
    expect([r.status, await r.text()]).toEqual([200, 'ok\n']);
    expect(await s.stop()).toBe(0);
  });

  it('a bad --listen is a usage error: exit 2', async () => {
    const r = await w.cli(['serve', '--listen', 'nowhere']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--listen must be');
  });
});
