// JSON plumbing for the API-server double: cloning, structural equality and the three patch
// formats the real server accepts (RFC 7386 merge patch, RFC 6902 JSON patch, and the merge
// used by server-side apply).

export type JsonObject = { [key: string]: unknown };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keysA = Object.keys(a).filter((k) => a[k] !== undefined);
    const keysB = Object.keys(b).filter((k) => b[k] !== undefined);
    if (keysA.length !== keysB.length) return false;
    return keysA.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386: null deletes, objects merge recursively, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/**
 * Strategic merge patch for the objects this double serves. Lists are replaced rather than
 * merged by key (the real server merges e.g. containers by name); the `$patch: delete|replace`
 * directive on maps is honoured because clients do send it.
 */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch['$patch'] === 'delete') return undefined;
  const base: JsonObject = patch['$patch'] === 'replace' || !isObject(target) ? {} : clone(target);
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete base[key];
      continue;
    }
    const merged = strategicMergePatch(base[key], value);
    if (merged === undefined) delete base[key];
    else base[key] = merged;
  }
  return base;
}

export class JsonPatchError extends Error {}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchError(`JSON pointer must start with "/": ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = JsonObject | unknown[];

function resolveParent(doc: unknown, segments: string[], op: string, pointer: string): Container {
  let node = doc;
  for (const seg of segments.slice(0, -1)) {
    if (Array.isArray(node)) {
      const idx = Number(seg);
      if (!Number.isInteger(idx) || idx < 0 || idx >= node.length) {
        throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
      }
      node = node[idx];
    } else if (isObject(node) && seg in node) {
      node = node[seg];
    } else {
      throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
    }
  }
  if (!Array.isArray(node) && !isObject(node)) {
    throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
  }
  return node;
}

function readPointer(doc: unknown, pointer: string, op: string): unknown {
  const segments = parsePointer(pointer);
  if (segments.length === 0) return doc;
  const parent = resolveParent(doc, segments, op, pointer);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const idx = Number(last);
    if (!Number.isInteger(idx) || idx < 0 || idx >= parent.length) {
      throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
    }
    return parent[idx];
  }
  if (!(last in parent)) throw new JsonPatchError(`${op} operation does not apply: doc is missing key: ${pointer}`);
  return parent[last];
}

function removeAt(doc: unknown, pointer: string, op: string): unknown {
  const segments = parsePointer(pointer);
  const parent = resolveParent(doc, segments, op, pointer);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const idx = Number(last);
    if (!Number.isInteger(idx) || idx < 0 || idx >= parent.length) {
      throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
    }
    return parent.splice(idx, 1)[0];
  }
  if (!(last in parent)) throw new JsonPatchError(`${op} operation does not apply: doc is missing key: ${pointer}`);
  const old = parent[last];
  delete parent[last];
  return old;
}

function addAt(doc: unknown, pointer: string, value: unknown, op: string, replace: boolean): unknown {
  const segments = parsePointer(pointer);
  if (segments.length === 0) return clone(value);
  const parent = resolveParent(doc, segments, op, pointer);
  const last = segments[segments.length - 1] ?? '';
  if (Array.isArray(parent)) {
    const idx = last === '-' ? parent.length : Number(last);
    const limit = replace ? parent.length - 1 : parent.length;
    if (!Number.isInteger(idx) || idx < 0 || idx > limit) {
      throw new JsonPatchError(`${op} operation does not apply: doc is missing path: "${pointer}"`);
    }
    if (replace) parent[idx] = clone(value);
    else parent.splice(idx, 0, clone(value));
    return doc;
  }
  if (replace && !(last in parent)) {
    throw new JsonPatchError(`${op} operation does not apply: doc is missing key: ${pointer}`);
  }
  parent[last] = clone(value);
  return doc;
}

/** RFC 6902; errors carry the wording of the Go library the real server uses. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new JsonPatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw new JsonPatchError('invalid JSON patch operation: missing "op" or "path"');
    }
    const op: JsonPatchOp = {
      op: raw['op'],
      path: raw['path'],
      value: raw['value'],
      ...(typeof raw['from'] === 'string' ? { from: raw['from'] } : {}),
    };
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, op.value, 'add', false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, op.value, 'replace', true);
        break;
      case 'remove':
        removeAt(doc, op.path, 'remove');
        break;
      case 'test': {
        const actual = readPointer(doc, op.path, 'test');
        if (!deepEqual(actual, op.value)) throw new JsonPatchError(`testing value ${op.path} failed: test failed`);
        break;
      }
      case 'move': {
        if (op.from === undefined) throw new JsonPatchError('move operation missing "from"');
        const moved = removeAt(doc, op.from, 'move');
        doc = addAt(doc, op.path, moved, 'move', false);
        break;
      }
      case 'copy': {
        if (op.from === undefined) throw new JsonPatchError('copy operation missing "from"');
        doc = addAt(doc, op.path, readPointer(doc, op.from, 'copy'), 'copy', false);
        break;
      }
      default:
        throw new JsonPatchError(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

/** A field path as a list of map keys; lists are atomic, so a path never indexes into one. */
export type FieldPath = string[];

export function pathKey(path: FieldPath): string {
  return JSON.stringify(path);
}

export function keyPath(key: string): FieldPath {
  const parsed: unknown = JSON.parse(key);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

export function getPath(obj: unknown, path: FieldPath): unknown {
  let node = obj;
  for (const seg of path) {
    if (!isObject(node)) return undefined;
    node = node[seg];
  }
  return node;
}

/** Leaf fields of an object: scalars, lists and empty maps. */
export function leafPaths(obj: unknown, prefix: FieldPath = []): FieldPath[] {
  if (!isObject(obj) || (Object.keys(obj).length === 0 && prefix.length > 0)) return [prefix];
  const out: FieldPath[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    out.push(...leafPaths(value, [...prefix, key]));
  }
  return out;
}

/** Removes a field and then any maps left empty by that removal, up to (not including) `keepDepth`. */
export function deletePath(obj: JsonObject, path: FieldPath, keepDepth = 1): void {
  const parents: JsonObject[] = [obj];
  let node: unknown = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isObject(node)) return;
    node = node[seg];
    if (!isObject(node)) return;
    parents.push(node);
  }
  const last = path[path.length - 1];
  const parent = parents[parents.length - 1];
  if (last === undefined || parent === undefined) return;
  delete parent[last];
  for (let depth = path.length - 1; depth >= keepDepth; depth--) {
    const holder = parents[depth - 1];
    const child = parents[depth];
    const seg = path[depth - 1];
    if (!holder || !child || seg === undefined || Object.keys(child).length > 0) break;
    delete holder[seg];
  }
}

/** The merge server-side apply performs for fields the applier sets: maps merge, lists and scalars replace. */
export function applyMerge(live: unknown, config: unknown): unknown {
  if (!isObject(config) || !isObject(live)) return clone(config);
  const out = clone(live);
  for (const [key, value] of Object.entries(config)) {
    if (value === null || value === undefined) delete out[key];
    else out[key] = applyMerge(out[key], value);
  }
  return out;
}
