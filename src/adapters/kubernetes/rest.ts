import { httpRequest, type HttpResponse } from '../http/request.ts';
import type { KubeConnection } from './kubeconfig.ts';

/**
 * The Kubernetes REST API as plain JSON over node:https: a path, a verb, a body, an answer. No
 * typed model classes (the driver checks what it reads with its own schemas) and no client
 * library: see kubeconfig.ts for why @kubernetes/client-node is not loaded.
 */

export const USER_AGENT = 'branch-follower';

/** An HTTP answer outside 2xx. `body` is the raw text (a Status object, as a rule); errors.ts reads it. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly code: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: number, body: string, headers: Record<string, string>, what: string) {
    super(`${what}: HTTP ${code}`);
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export type KubeRequest = {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  accept?: string;
  /** JSON unless said otherwise (a server-side apply is `application/apply-patch+yaml`). */
  contentType?: string;
  body?: unknown;
  signal?: AbortSignal;
};

/** Past this many bytes an answer is refused: the largest a LIST page of the driver can be is far below. */
export const MAX_ANSWER_BYTES = 256 << 20;

const urlOf = (conn: KubeConnection, path: string, query: Query = {}): URL => {
  const u = new URL(conn.server + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u;
};

/** Sends one request; the answer's body is the caller's to read. */
export const kubeSend = async (conn: KubeConnection, r: KubeRequest): Promise<HttpResponse> => {
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: r.accept ?? 'application/json' };
  const auth = await conn.authorization();
  if (auth !== undefined) headers['Authorization'] = auth;
  let body: string | undefined;
  if (r.body !== undefined) {
    headers['Content-Type'] = r.contentType ?? 'application/json';
    body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  }
  return httpRequest(urlOf(conn, r.path, r.query), {
    method: r.method ?? 'GET',
    headers,
    agent: await conn.agent(),
    ...(body !== undefined ? { body } : {}),
    ...(r.signal ? { signal: r.signal } : {}),
  });
};

const headersOf = (res: HttpResponse): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.stream.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
};

/** The whole answer as text; a non-2xx answer rejects as KubeApiError. */
export const kubeText = async (conn: KubeConnection, r: KubeRequest): Promise<string> => {
  const res = await kubeSend(conn, r);
  const bytes = await res.read(MAX_ANSWER_BYTES);
  const what = `${r.method ?? 'GET'} ${r.path}`;
  if (bytes === 'too-large') throw new KubeApiError(res.status, '', headersOf(res), `${what}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  const text = bytes.toString('utf8');
  if (res.status < 200 || res.status > 299) throw new KubeApiError(res.status, text, headersOf(res), what);
  return text;
};

/** The answer parsed as JSON (untyped until the caller checks it); a non-2xx answer rejects as KubeApiError. */
export const kubeJson = async (conn: KubeConnection, r: KubeRequest): Promise<unknown> => JSON.parse(await kubeText(conn, r)) as unknown;

/** One event of a watch (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes). */
export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: unknown };

/**
 * Opens a watch (`?watch=1`) and calls `onEvent` per event until the server ends it, the
 * connection drops, or `signal` aborts; resolves then (rejects when it could not be opened or
 * broke). Each line of the answer is one JSON event.
 */
export const kubeWatch = async (conn: KubeConnection, path: string, query: Query, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> => {
  const res = await kubeSend(conn, { path, query: { ...query, watch: 1 }, signal });
  if (res.status !== 200) {
    const text = await res.read(1 << 20).catch(() => '');
    throw new KubeApiError(res.status, typeof text === 'string' ? '' : text.toString('utf8'), headersOf(res), `watch ${path}`);
  }
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    res.stream.setEncoding('utf8');
    res.stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch {
          res.stream.destroy();
          return reject(new Error(`watch ${path}: an event that is not JSON`));
        }
        const e = ev as Partial<WatchEvent>;
        if (typeof e.type === 'string') onEvent({ type: e.type, object: e.object });
      }
    });
    res.stream.on('end', () => resolve());
    res.stream.on('close', () => resolve());
    res.stream.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
  });
};

