// Storage for the double: objects by type, namespace and name, one cluster-wide resourceVersion
// counter (as etcd's revision), and the event history that watches replay.

import { clone, isObject } from './apiserver-json.ts';
import type { JsonObject } from './apiserver-json.ts';
import { renderManagedFields } from './apiserver-managed.ts';
import type { ManagerEntry } from './apiserver-managed.ts';
import { groupVersion } from './apiserver-resources.ts';
import type { ResourceDef } from './apiserver-resources.ts';

export interface StoredEntry {
  obj: JsonObject;
  managers: ManagerEntry[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  rv: number;
  def: ResourceDef;
  namespace: string;
  type: WatchEventType;
  object: JsonObject;
  /** The object before this change, for selector transitions. */
  previous?: JsonObject;
}

const metaOrder = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

/** Key order as the real server prints objects: apiVersion, kind, metadata, then the rest. */
export function orderObject(def: ResourceDef, obj: JsonObject): JsonObject {
  const out: JsonObject = { apiVersion: groupVersion(def), kind: def.kind };
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const orderedMeta: JsonObject = {};
  for (const k of metaOrder) if (meta[k] !== undefined) orderedMeta[k] = meta[k];
  for (const [k, v] of Object.entries(meta)) if (!(k in orderedMeta) && v !== undefined) orderedMeta[k] = v;
  out['metadata'] = orderedMeta;
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata' || v === undefined) continue;
    out[k] = v;
  }
  return out;
}

export function metaOf(obj: JsonObject): JsonObject {
  const meta = obj['metadata'];
  if (isObject(meta)) return meta;
  const fresh: JsonObject = {};
  obj['metadata'] = fresh;
  return fresh;
}

export function metaString(obj: JsonObject, key: string): string {
  const meta = obj['metadata'];
  if (!isObject(meta)) return '';
  const v = meta[key];
  return typeof v === 'string' ? v : '';
}

export class ObjectStore {
  private revision: number;
  private readonly tables = new Map<ResourceDef, Map<string, StoredEntry>>();
  private history: WatchEvent[] = [];
  private readonly historyLimit: number;
  private readonly listeners = new Set<(e: WatchEvent) => void>();
  readonly managedFields: boolean;

  constructor(opts: { startRevision?: number; historyLimit?: number; managedFields?: boolean } = {}) {
    this.revision = opts.startRevision ?? 1000;
    this.historyLimit = opts.historyLimit ?? 10_000;
    this.managedFields = opts.managedFields ?? true;
  }

  currentRevision(): number {
    return this.revision;
  }

  /** The oldest revision a watch can still resume from. */
  oldestRevision(): number {
    const first = this.history[0];
    return first ? first.rv - 1 : this.revision;
  }

  private table(def: ResourceDef): Map<string, StoredEntry> {
    let t = this.tables.get(def);
    if (!t) {
      t = new Map();
      this.tables.set(def, t);
    }
    return t;
  }

  get(def: ResourceDef, namespace: string, name: string): StoredEntry | undefined {
    return this.table(def).get(`${namespace}/${name}`);
  }

  /** Entries sorted as etcd keys sort: by namespace, then name. */
  entries(def: ResourceDef, namespace?: string): StoredEntry[] {
    const out: [string, StoredEntry][] = [];
    for (const [key, entry] of this.table(def)) {
      if (namespace !== undefined && metaString(entry.obj, 'namespace') !== namespace) continue;
      out.push([key, entry]);
    }
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out.map(([, e]) => e);
  }

  types(): ResourceDef[] {
    return [...this.tables.keys()];
  }

  render(def: ResourceDef, entry: StoredEntry): JsonObject {
    const obj = orderObject(def, clone(entry.obj));
    if (this.managedFields && entry.managers.length > 0) {
      metaOf(obj)['managedFields'] = renderManagedFields(entry.managers);
      return orderObject(def, obj);
    }
    return obj;
  }

  /** Stores a new or changed object under a fresh resourceVersion and tells the watchers. */
  write(def: ResourceDef, entry: StoredEntry): JsonObject {
    const meta = metaOf(entry.obj);
    const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : '';
    const name = String(meta['name'] ?? '');
    const key = `${namespace}/${name}`;
    const table = this.table(def);
    const before = table.get(key);
    const previous = before ? this.render(def, before) : undefined;
    this.revision += 1;
    meta['resourceVersion'] = String(this.revision);
    const stored: StoredEntry = { obj: clone(entry.obj), managers: entry.managers };
    table.set(key, stored);
    const object = this.render(def, stored);
    this.emit({
      rv: this.revision,
      def,
      namespace,
      type: before ? 'MODIFIED' : 'ADDED',
      object,
      ...(previous ? { previous } : {}),
    });
    return object;
  }

  remove(def: ResourceDef, namespace: string, name: string): JsonObject | undefined {
    const key = `${namespace}/${name}`;
    const table = this.table(def);
    const entry = table.get(key);
    if (!entry) return undefined;
    table.delete(key);
    const previous = this.render(def, entry);
    this.revision += 1;
    metaOf(entry.obj)['resourceVersion'] = String(this.revision);
    const object = this.render(def, entry);
    this.emit({ rv: this.revision, def, namespace, type: 'DELETED', object, previous });
    return object;
  }

  private emit(event: WatchEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const l of this.listeners) l(event);
  }

  /**
   * The objects of a type (in one namespace, or all) as they were at revision `rv`, in key
   * order: what etcd serves a continued LIST from (the first page's snapshot). Undefined when
   * the history no longer reaches back to `rv` (compacted: 410 Expired).
   */
  renderedAt(def: ResourceDef, namespace: string | undefined, rv: number): JsonObject[] | undefined {
    const since = this.eventsSince(rv);
    if (since === undefined) return undefined;
    const at = new Map<string, JsonObject>();
    for (const e of this.entries(def, namespace)) at.set(`${metaString(e.obj, 'namespace')}/${metaString(e.obj, 'name')}`, this.render(def, e));
    // Undo what happened after rv, newest first.
    for (const e of [...since].reverse()) {
      if (e.def !== def || (namespace !== undefined && e.namespace !== namespace)) continue;
      const key = `${e.namespace}/${metaString(e.object, 'name')}`;
      if (e.previous) at.set(key, e.previous);
      else at.delete(key);
    }
    return [...at.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, o]) => o);
  }

  /** Events after `rv`, or undefined when they are no longer in the history (410 Expired). */
  eventsSince(rv: number): WatchEvent[] | undefined {
    if (rv < this.oldestRevision()) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  subscribe(listener: (e: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
