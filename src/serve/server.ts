import type { IncomingMessage, Server, ServerResponse } from 'node:http';

// Not imported: an ES import of node:http loads undici for nothing (see adapters/http/request.ts), and
// this module is in the chunk every verb loads; taken when serving starts, as node:http cannot be
// in the start-up snapshot (src/snapshot-entry.ts).
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, MAX_BODY_BYTES, text, type Route, type ServeRequest, type ServeResponse } from './route.ts';

export type ServerOptions = {
  routes: readonly Route[];
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** One line per failed request: method, path and status, never a body or a header value. */
  log: (line: string) => void;
};

export type RunningServer = {
  /** The port actually bound. */
  port: number;
  host: string;
  /** Stops accepting, aborts handlers in flight and resolves once every connection is closed. */
  close(): Promise<void>;
};

const readBody = (req: IncomingMessage, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return reject(new BodyTooLargeError(limit));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLargeError(limit));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const matches = (route: Route, path: string): boolean => (typeof route.path === 'string' ? route.path === path : route.path.test(path));

/**
 * The route for a request: 404 when no route has the path, 405 (with `Allow`) when routes have it
 * under other methods. HEAD is answered as GET without the body (RFC 9110 §9.3.2).
 */
export const resolveRoute = (routes: readonly Route[], method: string, path: string): Route | ServeResponse => {
  const onPath = routes.filter((r) => matches(r, path));
  if (onPath.length === 0) return text(404, 'not found');
  const want = method === 'HEAD' ? 'GET' : method;
  const route = onPath.find((r) => r.method === want);
  if (route) return route;
  const allow = [...new Set(onPath.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].join(', ');
  return text(405, 'method not allowed', { allow });
};

/**
 * Starts the HTTP server of `branch-follower serve`. A handler that throws answers 500 with no
 * detail (its message might carry what a request or the state held); the log names the route.
 */
export const startServer = async (o: ServerOptions): Promise<RunningServer> => {
  const stop = new AbortController();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://serve.invalid');
    const method = req.method ?? 'GET';
    let answer: ServeResponse;
    const found = resolveRoute(o.routes, method, url.pathname);
    if ('handle' in found) {
      let body: Promise<Buffer> | null = null;
      const request: ServeRequest = {
        method,
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: () => (body ??= readBody(req, MAX_BODY_BYTES)),
        signal: stop.signal,
      };
      try {
        answer = await found.handle(request);
      } catch (e) {
        if (e instanceof BodyTooLargeError) answer = text(413, `request body over ${MAX_BODY_BYTES} bytes`);
        else {
          o.log(`serve: ${method} ${url.pathname}: ${e instanceof Error ? e.name : 'error'} (answered 500)`);
          answer = text(500, 'internal error');
        }
      }
    } else answer = found;
    if (answer.status >= 500) o.log(`serve: ${method} ${url.pathname} -> ${answer.status}`);
    const body = answer.body ?? '';
    res.writeHead(answer.status, { 'cache-control': 'no-store', ...answer.headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(method === 'HEAD' ? undefined : body);
  };
  const server: Server = process.getBuiltinModule('node:http').createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  // A slow client must not hold a connection forever; forges time out hooks at 10 s anyway.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    host: o.host,
    close: () =>
      new Promise<void>((resolve) => {
        stop.abort();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
};
