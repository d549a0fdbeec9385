import type { Agent, IncomingMessage } from 'node:http';

// Through getBuiltinModule, not `import`: an ES import of node:http builds its namespace by
// reading every export, and the lazy WebSocket/MessageEvent ones load undici, ~13 MiB of RSS and
// ~40 ms (measured: 59.5 against 46 MiB for a process that only takes the module). Taken when a
// request is made, not when this module loads: the start-up snapshot (src/snapshot-entry.ts) holds
// every module, and node:http cannot be in it.

/**
 * One HTTP exchange on node:http / node:https, for the mirror reader, the webhook notifier and
 * the Kubernetes client. Not `fetch`: Node's fetch is undici, whose HTTP parser is WebAssembly
 * that V8 compiles on the first request, and that compile alone was ~30 MiB of a tick's peak
 * RSS (docs/performance.md, change 9); node:http parses with the llhttp built into the binary.
 *
 * Never follows a redirect (a 3xx is an answer like any other) and sends only the headers given.
 */

export type HttpRequestInit = {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Ends the exchange (connecting, waiting, or reading the body) with the signal's reason. */
  signal?: AbortSignal;
  /** https only: the TLS settings of the connection and the pool it is kept in; default the global agent. */
  agent?: Agent;
};

export type HttpResponse = {
  status: number;
  statusText: string;
  /** A response header, by case-insensitive name; repeated headers joined by `, `. */
  header(name: string): string | null;
  /** The whole body; `too-large` (and the connection closed) past `maxBytes` bytes. */
  read(maxBytes?: number): Promise<Buffer | 'too-large'>;
  /** The body as it arrives (a watch); the caller consumes it or calls discard(). */
  readonly stream: IncomingMessage;
  /** Releases the connection of an answer whose body is not wanted. */
  discard(): void;
};

/** No answer came: the connection failed, was reset, or the signal ended it. `code` is the socket error's (ECONNREFUSED...). */
export class HttpRequestError extends Error {
  override name = 'HttpRequestError';
  readonly code: string | undefined;
  /** The signal ended it (its reason is the cause: a TimeoutError for AbortSignal.timeout). */
  readonly aborted: boolean;
  constructor(message: string, o: { code?: string; aborted: boolean; cause?: unknown }) {
    super(message, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.code = o.code;
    this.aborted = o.aborted;
  }
}

const reasonName = (signal: AbortSignal | undefined): string => {
  const r: unknown = signal?.reason;
  return r instanceof Error || r instanceof DOMException ? r.name : 'AbortError';
};

const failure = (e: unknown, signal: AbortSignal | undefined): HttpRequestError => {
  if (signal?.aborted) {
    const why = reasonName(signal) === 'TimeoutError' ? 'timed out' : 'was aborted';
    return new HttpRequestError(`the request ${why}`, { aborted: true, cause: signal.reason });
  }
  const err = e as NodeJS.ErrnoException;
  // Several addresses tried (happy eyeballs): the first one's error says why.
  const first: unknown = e instanceof AggregateError ? e.errors[0] : undefined;
  const inner = first instanceof Error ? (first as NodeJS.ErrnoException) : err;
  const code = inner.code ?? err.code;
  return new HttpRequestError(inner.message || code || 'the connection failed', { aborted: false, ...(code !== undefined ? { code } : {}), cause: e });
};

const headerOf = (res: IncomingMessage, name: string): string | null => {
  const v = res.headers[name.toLowerCase()];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
};

/**
 * Sends one request and resolves when the answer's status and headers are in; the body is read
 * by the caller (read, stream or discard). Rejects with HttpRequestError when no answer came.
 */
export const httpRequest = (url: string | URL, init: HttpRequestInit = {}): Promise<HttpResponse> =>
  new Promise((resolve, reject) => {
    const u = typeof url === 'string' ? new URL(url) : url;
    const signal = init.signal;
    if (signal?.aborted) return reject(failure(null, signal));
    const mod = u.protocol === 'https:' ? process.getBuiltinModule('node:https') : u.protocol === 'http:' ? process.getBuiltinModule('node:http') : null;
    if (mod === null) return reject(new HttpRequestError(`not an http(s) URL (${u.protocol})`, { aborted: false }));
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
    const headers: Record<string, string> = { ...init.headers };
    if (body !== undefined) headers['Content-Length'] = String(body.length);
    const req = mod.request(u, { method: init.method ?? 'GET', headers, ...(init.agent ? { agent: init.agent } : {}) });
    let answered: IncomingMessage | null = null;
    const onAbort = (): void => {
      const err = failure(null, signal);
      req.destroy(err);
      answered?.destroy(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => signal?.removeEventListener('abort', onAbort);
    req.on('error', (e) => {
      done();
      reject(e instanceof HttpRequestError ? e : failure(e, signal));
    });
    req.on('response', (res) => {
      answered = res;
      res.on('close', done);
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        header: (name) => headerOf(res, name),
        stream: res,
        discard: () => {
          res.resume();
          // A body still coming is not waited for; the connection is not reused.
          if (!res.complete) res.destroy();
        },
        read: (maxBytes = Number.POSITIVE_INFINITY) =>
          new Promise((ok, fail) => {
            // Destroying the answer emits 'aborted' and 'error' at once: settle before it.
            const tooLarge = (): void => {
              ok('too-large');
              res.destroy();
            };
            if (Number(res.headers['content-length'] ?? NaN) > maxBytes) return tooLarge();
            const chunks: Buffer[] = [];
            let total = 0;
            res.on('data', (c: Buffer) => {
              total += c.length;
              if (total > maxBytes) tooLarge();
              else chunks.push(c);
            });
            res.on('end', () => ok(Buffer.concat(chunks)));
            res.on('error', (e) => fail(e instanceof HttpRequestError ? e : failure(e, signal)));
            res.on('aborted', () => fail(failure(new Error('the connection closed before the whole answer came'), signal)));
          }),
      });
    });
    req.end(body);
  });
