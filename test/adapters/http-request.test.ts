// The one HTTP exchange every client here makes (src/adapters/http/request.ts), against real
// node:http servers on loopback: caps, aborts, and no redirect followed.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRequestError, httpRequest } from '../../src/adapters/http/request.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const serve = async (handler: http.RequestListener): Promise<string> => {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
};

describe('httpRequest', () => {
  it('reads a whole answer, refuses one past the cap (announced or streamed), and follows no redirect', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/moved') return void res.writeHead(302, { Location: 'http://elsewhere.invalid/' }).end();
      if (req.url === '/sized') return void res.writeHead(200, { 'Content-Length': '10' }).end('0123456789');
      res.writeHead(200);
      res.write('01234');
      res.end('56789');
    });
    const whole = await httpRequest(`${url}/chunked`);
    expect((await whole.read(10)).toString()).toBe('0123456789');
    expect(await (await httpRequest(`${url}/sized`)).read(9)).toBe('too-large');
    expect(await (await httpRequest(`${url}/chunked`)).read(9)).toBe('too-large');
    const moved = await httpRequest(`${url}/moved`);
    expect(moved.status).toBe(302);
    expect(moved.header('location')).toBe('http://elsewhere.invalid/');
    moved.discard();
  });

  it('ends on its signal, as an aborted HttpRequestError, waiting for headers or for the body', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/body') res.writeHead(200).write('partial');
      // Otherwise: never answers.
    });
    await expect(httpRequest(`${url}/silent`, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'HttpRequestError', aborted: true });
    const res = await httpRequest(`${url}/body`, { signal: AbortSignal.timeout(100) });
    await expect(res.read()).rejects.toBeInstanceOf(HttpRequestError);
  });

  it('says why a connection failed, with the socket error code', async () => {
    const url = await serve(() => undefined);
    const port = new URL(url).port;
    servers[0]!.close();
    servers.length = 0;
    await expect(httpRequest(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ name: 'HttpRequestError', aborted: false, code: 'ECONNREFUSED' });
  });
});
