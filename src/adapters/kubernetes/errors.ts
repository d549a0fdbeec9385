import { HttpRequestError } from '../http/request.ts';
import { KubeApiError } from './rest.ts';

/**
 * What the REST client's failures mean (rest.ts): KubeApiError (`code`, `headers`, and the
 * response body as raw text, holding a Status) for an HTTP answer, HttpRequestError (the socket
 * error's `code`, or `aborted` by the request's timeout) when no answer came.
 */

export type ApiFailure = {
  code: number;
  /** The Status reason (NotFound, AlreadyExists, Conflict, Invalid...), when the body had one. */
  reason: string | null;
  message: string;
  retryAfter: string | undefined;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const statusBody = (body: unknown): Record<string, unknown> | null => {
  if (isRecord(body)) return body;
  if (typeof body !== 'string' || body === '') return null;
  try {
    const parsed: unknown = JSON.parse(body);
    return isRecord(parsed) ? parsed : null;
  } catch {
    return null;
  }
};

export const apiFailure = (e: unknown): ApiFailure | null => {
  if (!(e instanceof KubeApiError)) return null;
  const code = e.code;
  const status = statusBody(e.body);
  const headers = e.headers;
  const reason = typeof status?.['reason'] === 'string' ? status['reason'] : null;
  const text = typeof status?.['message'] === 'string' ? status['message'] : typeof e.body === 'string' && e.body.length < 300 ? e.body.trim() : '';
  return { code, reason, message: text || `HTTP ${code}`, retryAfter: headers['retry-after'] };
};

export const isNotFound = (e: unknown): boolean => apiFailure(e)?.code === 404;
/** A create that found the object already there. */
export const isAlreadyExists = (e: unknown): boolean => {
  const f = apiFailure(e);
  return f?.code === 409 && f.reason === 'AlreadyExists';
};
/** Any 409: a lost resourceVersion race, or AlreadyExists. */
export const isConflict = (e: unknown): boolean => apiFailure(e)?.code === 409;

const RETRY_CODES = new Set([429, 500, 502, 503, 504]);

/** Socket-level errors worth another try; certificate and name-resolution failures are not. */
const TRANSIENT_SOCKET = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const codeOf = (e: unknown): string | undefined => (isRecord(e) && typeof e['code'] === 'string' ? e['code'] : undefined);
const causeOf = (e: unknown): unknown => (e instanceof Error ? e.cause : undefined);
const nameOf = (e: unknown): string | undefined => (e instanceof Error || e instanceof DOMException ? e.name : undefined);

const isTimeout = (e: unknown): boolean =>
  nameOf(e) === 'TimeoutError' || (nameOf(e) === 'AbortError' && nameOf(causeOf(e)) === 'TimeoutError');

export const isNetworkError = (e: unknown): boolean => {
  if (e instanceof KubeApiError) return false;
  if (isTimeout(e)) return true;
  if (e instanceof HttpRequestError) {
    if (e.aborted) return true;
    // No code: the connection closed before the whole answer came, more often passing than permanent.
    return e.code === undefined || TRANSIENT_SOCKET.has(e.code);
  }
  const code = codeOf(e) ?? codeOf(causeOf(e)) ?? codeOf(causeOf(causeOf(e)));
  if (code !== undefined) return TRANSIENT_SOCKET.has(code);
  return false;
};

/** 429, 5xx gateway-ish answers and dropped or timed-out connections; never 4xx verdicts like 403, 404, 409, 422. */
export const isRetryable = (e: unknown): boolean => {
  const f = apiFailure(e);
  if (f) return RETRY_CODES.has(f.code);
  return isNetworkError(e);
};

/** One line for logs, status and errors: `409 AlreadyExists: jobs.batch "x" already exists`. */
export const describeError = (e: unknown): string => {
  const f = apiFailure(e);
  if (f) return `${f.code}${f.reason ? ` ${f.reason}` : ''}: ${f.message}`;
  if (isTimeout(e) || (e instanceof HttpRequestError && e.aborted)) return 'request timed out';
  if (e instanceof HttpRequestError) return e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
  if (e instanceof KubeRetryError) return e.message;
  if (e instanceof Error) {
    const cause = causeOf(e);
    const detail = cause instanceof Error ? `${cause.message}${codeOf(cause) && !cause.message.includes(codeOf(cause) ?? '') ? ` (${codeOf(cause)})` : ''}` : '';
    return detail && !e.message.includes(detail) ? `${e.message}: ${detail}` : e.message;
  }
  return String(e);
};

/** Carries the last failure of a call that kept failing, with why retrying stopped. */
export class KubeRetryError extends Error {
  override name = 'KubeRetryError';
  readonly tries: number;
  constructor(last: unknown, tries: number, why: string) {
    super(`${describeError(last)} (${why})`, { cause: last });
    this.tries = tries;
  }
}
