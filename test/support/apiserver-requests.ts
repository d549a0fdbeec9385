// The request log: every request the double answered, so tests can assert on how many reads and
// writes a tick made (e.g. "dry-run makes zero writes", "one list call per tick").

export type Verb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  /** /api, /apis, /version and group discovery: kept apart so a client's discovery cache does not blur read counts. */
  | 'discovery';

export interface RequestInfo {
  verb: Verb;
  method: string;
  /** URL path without the query string. */
  path: string;
  query: URLSearchParams;
  /** Plural resource (`configmaps`, `jobs`, `pipelineruns`), '' for discovery and unknown paths. */
  resource: string;
  group: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface RequestRecord {
  verb: Verb;
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  resource: string;
  group: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** HTTP status answered; 0 when a fault dropped the connection. */
  status: number;
  contentType?: string;
  /** The Accept header as sent: which representation the client asked for (see apiserver-negotiation.ts). */
  accept?: string;
  dryRun: boolean;
  /** Set when an injected fault shaped the answer. */
  fault?: 'status' | 'drop' | 'delay';
}

export type RequestFilter =
  | ((r: RequestRecord) => boolean)
  | {
      verb?: Verb | Verb[];
      method?: string;
      resource?: string;
      namespace?: string;
      name?: string;
      subresource?: string;
      status?: number;
      /** Substring of the path, or a RegExp tested against it. */
      path?: string | RegExp;
      fault?: boolean;
    };

function matches(r: RequestRecord, filter: RequestFilter | undefined): boolean {
  if (!filter) return true;
  if (typeof filter === 'function') return filter(r);
  if (filter.verb !== undefined) {
    const verbs = Array.isArray(filter.verb) ? filter.verb : [filter.verb];
    if (!verbs.includes(r.verb)) return false;
  }
  if (filter.method !== undefined && filter.method.toUpperCase() !== r.method) return false;
  if (filter.resource !== undefined && filter.resource !== r.resource) return false;
  if (filter.namespace !== undefined && filter.namespace !== r.namespace) return false;
  if (filter.name !== undefined && filter.name !== r.name) return false;
  if (filter.subresource !== undefined && filter.subresource !== r.subresource) return false;
  if (filter.status !== undefined && filter.status !== r.status) return false;
  if (filter.fault !== undefined && filter.fault !== (r.fault !== undefined)) return false;
  if (filter.path !== undefined) {
    if (typeof filter.path === 'string' ? !r.path.includes(filter.path) : !filter.path.test(r.path)) return false;
  }
  return true;
}

export class RequestLog {
  private records: RequestRecord[] = [];

  record(r: RequestRecord): void {
    this.records.push(r);
  }

  /** Every record, oldest first (a copy). */
  all(filter?: RequestFilter): RequestRecord[] {
    return this.records.filter((r) => matches(r, filter));
  }

  count(filter?: RequestFilter): number {
    return this.all(filter).length;
  }

  byVerb(filter?: RequestFilter): Partial<Record<Verb, number>> {
    const out: Partial<Record<Verb, number>> = {};
    for (const r of this.all(filter)) out[r.verb] = (out[r.verb] ?? 0) + 1;
    return out;
  }

  /** Requests with a method other than GET (dry-run writes included: they are still write calls). */
  writes(filter?: RequestFilter): number {
    return this.all(filter).filter((r) => r.method !== 'GET').length;
  }

  last(filter?: RequestFilter): RequestRecord | undefined {
    const all = this.all(filter);
    return all[all.length - 1];
  }

  reset(): void {
    this.records = [];
  }
}
