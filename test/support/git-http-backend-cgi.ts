// `git http-backend` run as a CGI program for one node:http request, its answer streamed back.
// Imports only node builtins: the cluster suite's git mirror ships this file into its pod beside
// its server (git-mirror-server.ts), and the loopback fixtures (git-fixtures.ts) use it too.
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Splits a CGI response's header block from its body. */
export const splitCgi = (buf: Buffer): { headers: [string, string][]; status: number; body: Buffer } | null => {
  let end = buf.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = buf.indexOf('\n\n');
  if (lf !== -1 && (end === -1 || lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end === -1) return null;
  const headers: [string, string][] = [];
  let status = 200;
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { headers, status, body: buf.subarray(end + sep) };
};

/**
 * Runs `git http-backend` for one request (PATH_INFO `pathInfo`, repositories under `root`) with
 * the standard CGI variables on top of `env`, and streams its answer into `res`.
 */
export const runGitHttpBackend = (req: IncomingMessage, res: ServerResponse, o: { root: string; pathInfo: string; env: NodeJS.ProcessEnv; remoteUser?: string; /** a server that offers only protocol v0: GIT_PROTOCOL is not passed on */ v0Only?: boolean }): ChildProcess => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const child = spawn('git', ['http-backend'], {
    env: {
      ...o.env,
      GIT_PROJECT_ROOT: o.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: o.pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REMOTE_USER: o.remoteUser ?? '',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      ...(req.headers['content-length'] !== undefined ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] !== undefined ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(typeof req.headers['git-protocol'] === 'string' && !o.v0Only ? { GIT_PROTOCOL: req.headers['git-protocol'] } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  child.stderr.resume();
  let head = Buffer.alloc(0);
  let started = false;
  child.stdout.on('data', (b: Buffer) => {
    if (started) {
      res.write(b);
      return;
    }
    head = Buffer.concat([head, b]);
    const parsed = splitCgi(head);
    if (parsed === null) return;
    started = true;
    res.writeHead(parsed.status, parsed.headers);
    if (parsed.body.length > 0) res.write(parsed.body);
  });
  child.on('close', (code) => {
    if (!started) res.writeHead(502).end(`http-backend exited ${code} without a response\n`);
    else res.end();
  });
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  return child;
};
