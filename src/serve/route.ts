import type { IncomingHttpHeaders } from 'node:http';

/**
 * One HTTP route of `branch-follower serve`. Routes are plain values so each concern (health,
 * push receiver, metrics, status page) lives in its own module and the server knows none of them.
 */

/** What a handler sees of a request: no socket, so handlers stay testable without a server. */
export type ServeRequest = {
  method: string;
  /** The URL path, percent-decoding left to the route (paths are matched as sent). */
  path: string;
  query: URLSearchParams;
  /** Header names are lower-case, as node:http gives them. */
  headers: IncomingHttpHeaders;
  /**
   * The whole body, read on demand and at most `MAX_BODY_BYTES` long; a longer one rejects with
   * `BodyTooLargeError`, which the server answers 413 (the push receiver's rule: 1 MiB).
   */
  body(): Promise<Buffer>;
  /** Aborted when the server shuts down. */
  signal: AbortSignal;
};

export type ServeResponse = {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
};

export type Route = {
  method: 'GET' | 'POST';
  /** An exact path, or a pattern for paths with a parameter (`/followers/<id>`). */
  path: string | RegExp;
  handle(req: ServeRequest): Promise<ServeResponse>;
};

/** 1 MiB: no forge sends a push payload near it, and it bounds what one request can cost. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`request body over ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/** A plain-text answer, as every non-page route gives. */
export const text = (status: number, body: string, headers: Record<string, string> = {}): ServeResponse => ({
  status,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
  body: body.endsWith('\n') ? body : `${body}\n`,
});
