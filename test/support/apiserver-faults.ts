// Fault injection: a queue of rules, consumed in the order they were added, each shaping the
// answer to the next requests it matches.

import type { RequestInfo, Verb } from './apiserver-requests.ts';

export interface FaultMatch {
  verb?: Verb | Verb[];
  /** Substring of the path, or a RegExp tested against path plus `?query`. */
  path?: string | RegExp;
  resource?: string;
  namespace?: string;
  name?: string;
  method?: string;
}

export interface FaultResponse {
  /** Answer with this status and a real-looking Status body (429, 500, 503, 504, 409, 403...). */
  status?: number;
  /** With 429 (or 503): sets `Retry-After` and `details.retryAfterSeconds`. */
  retryAfterSeconds?: number;
  message?: string;
  reason?: string;
  /** Wait this long first; alone, the request is then served normally. */
  delayMs?: number;
  /** Destroy the socket without answering. */
  drop?: boolean;
  /**
   * Perform the request (store the write) and only then answer with the fault: the client sees
   * a failure for a write that happened, as after a timeout or a lost connection.
   */
  afterCommit?: boolean;
}

export interface FaultRule {
  match?: FaultMatch | ((req: RequestInfo) => boolean);
  /** How many matching requests this rule shapes; default 1. Use Infinity for "until cleared". */
  times?: number;
  respond: FaultResponse;
}

export interface FaultHandle {
  readonly rule: FaultRule;
  /** Requests this rule has shaped so far. */
  readonly hits: number;
  readonly remaining: number;
}

class ActiveFault implements FaultHandle {
  readonly rule: FaultRule;
  hits = 0;
  remaining: number;

  constructor(rule: FaultRule) {
    this.rule = rule;
    this.remaining = rule.times ?? 1;
  }
}

function matches(match: FaultRule['match'], req: RequestInfo): boolean {
  if (match === undefined) return true;
  if (typeof match === 'function') return match(req);
  if (match.verb !== undefined) {
    const verbs = Array.isArray(match.verb) ? match.verb : [match.verb];
    if (!verbs.includes(req.verb)) return false;
  }
  if (match.method !== undefined && match.method.toUpperCase() !== req.method) return false;
  if (match.resource !== undefined && match.resource !== req.resource) return false;
  if (match.namespace !== undefined && match.namespace !== req.namespace) return false;
  if (match.name !== undefined && match.name !== req.name) return false;
  if (match.path !== undefined) {
    const q = req.query.toString();
    const full = q === '' ? req.path : `${req.path}?${q}`;
    if (typeof match.path === 'string' ? !full.includes(match.path) : !match.path.test(full)) return false;
  }
  return true;
}

export class FaultQueue {
  private faults: ActiveFault[] = [];

  add(rule: FaultRule): FaultHandle {
    const r = rule.respond;
    if (r.status === undefined && r.delayMs === undefined && r.drop !== true) {
      throw new Error('apiserver double: a fault needs respond.status, respond.delayMs or respond.drop');
    }
    const fault = new ActiveFault(rule);
    this.faults.push(fault);
    return fault;
  }

  clear(): void {
    this.faults = [];
  }

  /** Faults still waiting to fire. */
  pending(): number {
    return this.faults.reduce((n, f) => n + (f.remaining > 0 ? 1 : 0), 0);
  }

  /** Takes the first rule matching the request, if any, and consumes one of its uses. */
  take(req: RequestInfo): FaultResponse | undefined {
    const fault = this.faults.find((f) => f.remaining > 0 && matches(f.rule.match, req));
    if (!fault) return undefined;
    fault.remaining -= 1;
    fault.hits += 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault.rule.respond;
  }
}
