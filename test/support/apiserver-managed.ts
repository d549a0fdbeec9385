// Field ownership for server-side apply, simplified: fields are owned at leaf granularity and
// lists are atomic (the real server merges some built-in lists by key). That keeps the two
// behaviours callers depend on: applying a config that no longer sets a field removes it, and
// applying over a field another manager set to a different value is a conflict unless forced.

import { deepEqual, getPath, isObject, keyPath, leafPaths, pathKey } from './apiserver-json.ts';
import type { FieldPath, JsonObject } from './apiserver-json.ts';

export interface ManagerEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: Set<string>;
}

const systemMeta = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

/** The leaf fields of an object a manager can own. */
export function ownablePaths(obj: unknown, withStatus: boolean): FieldPath[] {
  return leafPaths(obj).filter((p) => {
    const [top, second] = p;
    if (top === 'apiVersion' || top === 'kind') return false;
    if (top === 'status' && !withStatus) return false;
    if (top === 'metadata' && (second === undefined || systemMeta.has(second))) return false;
    return true;
  });
}

function cloneEntries(entries: ManagerEntry[]): ManagerEntry[] {
  return entries.map((e) => ({ ...e, fields: new Set(e.fields) }));
}

/** Ownership after a non-apply write by `manager`: it takes every field it changed. */
export function recordUpdate(
  entries: ManagerEntry[],
  manager: string,
  apiVersion: string,
  time: string,
  oldObj: unknown,
  newObj: unknown,
  withStatus: boolean,
  subresource?: string,
): ManagerEntry[] {
  const next = cloneEntries(entries);
  const newPaths = ownablePaths(newObj, withStatus);
  const changed = newPaths.filter((p) => oldObj === undefined || !deepEqual(getPath(oldObj, p), getPath(newObj, p)));
  const live = new Set(newPaths.map(pathKey));
  for (const e of next) {
    for (const f of [...e.fields]) if (!live.has(f)) e.fields.delete(f);
  }
  if (changed.length > 0) {
    for (const e of next) for (const p of changed) e.fields.delete(pathKey(p));
    let mine = next.find((e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource);
    if (!mine) {
      mine = { manager, operation: 'Update', apiVersion, time, fields: new Set(), ...(subresource ? { subresource } : {}) };
      next.push(mine);
    }
    mine.time = time;
    for (const p of changed) mine.fields.add(pathKey(p));
  }
  return next.filter((e) => e.fields.size > 0);
}

export interface ApplyConflict {
  manager: string;
  operation: ManagerEntry['operation'];
  apiVersion: string;
  field: string;
}

/**
 * A conflicting manager as kube-apiserver names it: an Update manager with the API version it
 * wrote through (`"kubectl" using v1`), an Apply manager by its name alone (checked on 1.20).
 */
export const conflictingManager = (c: ApplyConflict): string =>
  c.operation === 'Apply' ? `"${c.manager}"` : `"${c.manager}" using ${c.apiVersion}`;

export interface ApplyPlan {
  conflicts: ApplyConflict[];
  /** Fields the applier set last time, no longer sets, and nobody else owns: to be removed. */
  removed: FieldPath[];
  entries: ManagerEntry[];
}

export function planApply(
  entries: ManagerEntry[],
  manager: string,
  apiVersion: string,
  time: string,
  live: JsonObject,
  config: JsonObject,
  force: boolean,
  withStatus: boolean,
): ApplyPlan {
  const next = cloneEntries(entries);
  const configPaths = ownablePaths(config, withStatus);
  const configKeys = new Set(configPaths.map(pathKey));
  const conflicts: ApplyConflict[] = [];
  const others = next.filter((e) => !(e.manager === manager && e.operation === 'Apply'));
  for (const p of configPaths) {
    if (deepEqual(getPath(live, p), getPath(config, p))) continue;
    const key = pathKey(p);
    for (const e of others) {
      if (!e.fields.has(key)) continue;
      if (force) e.fields.delete(key);
      else conflicts.push({ manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, field: `.${p.join('.')}` });
    }
  }
  const previous = next.find((e) => e.manager === manager && e.operation === 'Apply');
  const removed: FieldPath[] = [];
  if (previous) {
    for (const f of previous.fields) {
      if (configKeys.has(f)) continue;
      if (others.some((e) => e.fields.has(f))) continue;
      removed.push(keyPath(f));
    }
  }
  const mine: ManagerEntry = { manager, operation: 'Apply', apiVersion, time, fields: configKeys };
  const rest = next.filter((e) => e !== previous);
  // Fields another manager set to the value this apply also sets become shared, as in the real server.
  return { conflicts, removed, entries: [...rest, mine].filter((e) => e.fields.size > 0) };
}

/**
 * Associative lists keyed by a field the server's apply schema gives no default, per resource
 * (`group/resource`). kube-apiserver 1.20 cannot build the typed patch when an element omits it
 * and answers 500; a Service port without `protocol` is the case met in practice (a container
 * port without one is fine: that key has a default).
 */
const applyKeysWithoutDefault: Record<string, { list: readonly string[]; key: string }[]> = {
  '/services': [{ list: ['spec', 'ports'], key: 'protocol' }],
};

/** The 1.20 server's answer to such an apply configuration, or null when it has none of them. */
export function missingApplyKey(resource: string, config: JsonObject): string | null {
  for (const { list, key } of applyKeysWithoutDefault[resource] ?? []) {
    const items = getPath(config, [...list]);
    if (!Array.isArray(items)) continue;
    const at = items.findIndex((item) => isObject(item) && item[key] === undefined);
    if (at !== -1) {
      return `failed to create typed patch object: .${list.join('.')}: element ${at}: associative list with keys has an element that omits key field "${key}" (and doesn't have default value)`;
    }
  }
  return null;
}

export function conflictMessage(conflicts: ApplyConflict[]): string {
  const first = conflicts[0];
  if (conflicts.length === 1 && first) {
    return `Apply failed with 1 conflict: conflict with ${conflictingManager(first)}: ${first.field}`;
  }
  const managers = [...new Set(conflicts.map(conflictingManager))];
  const head = managers.length === 1 ? `conflicts with ${managers[0] ?? ''}` : 'conflicts';
  return `Apply failed with ${conflicts.length} conflicts: ${head}:\n${conflicts.map((c) => `- ${c.field}`).join('\n')}`;
}

function fieldsV1(fields: Set<string>): JsonObject {
  const root: JsonObject = {};
  for (const f of [...fields].sort()) {
    let node = root;
    for (const seg of keyPath(f)) {
      const key = `f:${seg}`;
      const child = node[key];
      const next: JsonObject = isObject(child) ? child : {};
      node[key] = next;
      node = next;
    }
  }
  return root;
}

export function renderManagedFields(entries: ManagerEntry[]): JsonObject[] {
  return entries.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    fieldsType: 'FieldsV1',
    fieldsV1: fieldsV1(e.fields),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}
