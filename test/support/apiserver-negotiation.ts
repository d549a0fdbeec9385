// Which representation a GET or LIST answers with, from its Accept header, as kube-apiserver
// negotiates it: the object itself as JSON, or its metadata alone (`as=PartialObjectMetadata`
// for one object, `as=PartialObjectMetadataList` for a collection, group meta.k8s.io, version
// v1), the first acceptable media range winning. A header naming only representations the
// double does not serve (protobuf, Table, metadata of the wrong arity) is refused with 406, as
// the real server refuses what it cannot serve; a plain `application/json` range is the fallback
// clients add to take the whole object from a server that cannot.
import { ApiError, failure } from './apiserver-status.ts';
import type { JsonObject } from './apiserver-json.ts';

export type Representation = 'object' | 'metadata';

const NOT_ACCEPTABLE = 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf';

type MediaRange = { type: string; params: Map<string, string> };

const parseAccept = (header: string): MediaRange[] =>
  header
    .split(',')
    .map((part) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim());
      return { type: type.toLowerCase(), params: new Map(params.map((p) => p.split('=').map((s) => s.trim()) as [string, string])) };
    })
    .filter((r) => r.type !== '');

export function negotiate(accept: string | undefined, list: boolean): Representation {
  if (accept === undefined || accept.trim() === '') return 'object';
  for (const r of parseAccept(accept)) {
    if (r.type !== 'application/json' && r.type !== 'application/*' && r.type !== '*/*') continue;
    const as = r.params.get('as');
    if (as === undefined) return 'object';
    const wanted = list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
    if (as === wanted && r.params.get('g') === 'meta.k8s.io' && r.params.get('v') === 'v1') return 'metadata';
  }
  throw new ApiError(failure(406, 'NotAcceptable', NOT_ACCEPTABLE));
}

/** An object as PartialObjectMetadata: its whole ObjectMeta, nothing else. */
export const partialObject = (obj: JsonObject): JsonObject => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj['metadata'] ?? {} });

/** A list answer as PartialObjectMetadataList: the list's metadata (resourceVersion, continue, remainingItemCount) kept. */
export const partialList = (list: JsonObject): JsonObject => ({
  kind: 'PartialObjectMetadataList',
  apiVersion: 'meta.k8s.io/v1',
  metadata: list['metadata'] ?? {},
  items: (Array.isArray(list['items']) ? (list['items'] as JsonObject[]) : []).map(partialObject),
});

// A pod's log (GET .../pods/{pod}/log): answered as text whatever the Accept names, but only
// after the same negotiation as any GET, so an Accept of `text/plain` alone is refused with 406,
// as the real kube-apiserver (1.20) refuses it; kubectl asks for `application/json, */*`.
export function negotiateLog(accept: string | undefined): void {
  if (accept === undefined || accept.trim() === '') return;
  const served = new Set(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'application/*', '*/*']);
  if (parseAccept(accept).some((r) => served.has(r.type))) return;
  throw new ApiError(failure(406, 'NotAcceptable', NOT_ACCEPTABLE));
}
