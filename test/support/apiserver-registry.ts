// The verbs of the generic registry (create, get, list, update, patch, apply, delete) with the
// semantics of k8s.io/apiserver's store: preconditions, no-op updates that keep their
// resourceVersion, status subresources, generation, finalizers and garbage collection.

import { randomBytes, randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import {
  applyMerge,
  clone,
  deepEqual,
  deletePath,
  isObject,
  jsonPatch,
  JsonPatchError,
  mergePatch,
  strategicMergePatch,
} from './apiserver-json.ts';
import type { JsonObject } from './apiserver-json.ts';
import { conflictMessage, conflictingManager, missingApplyKey, planApply, recordUpdate } from './apiserver-managed.ts';
import type { ManagerEntry } from './apiserver-managed.ts';
import { groupVersion, qualifiedKind } from './apiserver-resources.ts';
import type { ResourceDef, ResourceRegistry } from './apiserver-resources.ts';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './apiserver-selectors.ts';
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  failure,
  invalid,
  modifiedMessage,
  notFound,
  success,
  unsupportedMediaType,
} from './apiserver-status.ts';
import type { GroupResource, StatusCause } from './apiserver-status.ts';
import { metaOf, metaString } from './apiserver-store.ts';
import type { ObjectStore, StoredEntry } from './apiserver-store.ts';
import {
  applyDefaults,
  invalidCause,
  prepareForCreate,
  requiredCause,
  validateDNS1123Subdomain,
  validateObjectMeta,
  validateSpec,
} from './apiserver-validation.ts';

export interface Target {
  def: ResourceDef;
  /** '' for cluster-scoped types and for lists across all namespaces. */
  namespace: string;
  name?: string;
  subresource?: string;
}

export interface WriteContext {
  query: URLSearchParams;
  /** The field manager: `fieldManager`, else the User-Agent's product token, as the real server derives it. */
  manager: string;
  dryRun: boolean;
}

export interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RegistryOptions {
  now: () => Date;
  strictNamespaces: boolean;
}

/** etcd's default --max-request-bytes: larger objects fail in storage, after validation. */
const etcdMaxRequestBytes = 1.5 * 1024 * 1024;

const patchTypes = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

const systemMetaFields = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
];

function gr(def: ResourceDef): GroupResource {
  return { group: def.group, resource: def.resource };
}

function generatedSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

function specPart(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind') out[k] = v;
  }
  return out;
}

function withoutResourceVersion(obj: JsonObject): JsonObject {
  const c = clone(obj);
  delete metaOf(c)['resourceVersion'];
  return c;
}

function stringMapOf(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

export class Registry {
  readonly store: ObjectStore;
  readonly resources: ResourceRegistry;
  private readonly opts: RegistryOptions;

  constructor(store: ObjectStore, resources: ResourceRegistry, opts: RegistryOptions) {
    this.store = store;
    this.resources = resources;
    this.opts = opts;
  }

  timestamp(): string {
    return this.opts.now().toISOString().replace(/\.\d+Z$/, 'Z');
  }

  private namespacesDef(): ResourceDef {
    return this.resources.lookup('namespaces');
  }

  /** A request into a namespace that does not exist: 404 when strict, otherwise the namespace appears. */
  ensureNamespace(def: ResourceDef, namespace: string, dryRun: boolean): void {
    if (!def.namespaced || namespace === '') return;
    const nsDef = this.namespacesDef();
    if (this.store.get(nsDef, '', namespace)) return;
    if (this.opts.strictNamespaces) throw notFound(gr(nsDef), namespace);
    if (!dryRun) this.createNamespace(namespace);
  }

  createNamespace(name: string): JsonObject {
    const nsDef = this.namespacesDef();
    const existing = this.store.get(nsDef, '', name);
    if (existing) return this.store.render(nsDef, existing);
    const obj: JsonObject = { metadata: { name, uid: randomUUID(), creationTimestamp: this.timestamp() } };
    applyDefaults(nsDef, obj);
    prepareForCreate(nsDef, obj, String(metaOf(obj)['uid']));
    return this.store.write(nsDef, { obj, managers: [] });
  }

  private bodyObject(def: ResourceDef, body: unknown): JsonObject {
    if (!isObject(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
    const obj = clone(body);
    const apiVersion = obj['apiVersion'];
    if (apiVersion !== undefined && apiVersion !== '' && apiVersion !== groupVersion(def)) {
      throw badRequest(
        `the API version in the data (${String(apiVersion)}) does not match the expected API version (${groupVersion(def)})`,
      );
    }
    const kind = obj['kind'];
    if (kind !== undefined && kind !== '' && kind !== def.kind) {
      throw badRequest(`the object provided is unrecognized (must be of type ${def.kind}): kind ${String(kind)}`);
    }
    obj['apiVersion'] = groupVersion(def);
    obj['kind'] = def.kind;
    return obj;
  }

  private checkNamespace(t: Target, obj: JsonObject): void {
    const meta = metaOf(obj);
    if (!t.def.namespaced) {
      delete meta['namespace'];
      return;
    }
    const ns = meta['namespace'];
    if (ns !== undefined && ns !== '' && ns !== t.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta['namespace'] = t.namespace;
  }

  private validate(def: ResourceDef, obj: JsonObject, old: JsonObject | undefined): void {
    const causes: StatusCause[] = [...validateObjectMeta(def, obj), ...validateSpec(def, obj, old)];
    if (old) {
      const uid = metaOf(obj)['uid'];
      const oldUid = metaOf(old)['uid'];
      if (uid !== oldUid) causes.push(invalidCause('metadata.uid', uid ?? '', 'field is immutable'));
    }
    if (causes.length > 0) {
      throw invalid(qualifiedKind(def), def.group, def.kind, metaString(obj, 'name'), causes);
    }
  }

  get(t: Target): Outcome {
    const entry = this.mustGet(t);
    return { status: 200, body: this.store.render(t.def, entry) };
  }

  private mustGet(t: Target): StoredEntry {
    const name = t.name ?? '';
    const entry = this.store.get(t.def, t.def.namespaced ? t.namespace : '', name);
    if (!entry) throw notFound(gr(t.def), name);
    return entry;
  }

  /** Entries a list or deletecollection selects, sorted as etcd returns them. */
  select(t: Target, query: URLSearchParams): StoredEntry[] {
    const labels = parseLabelSelector(query.get('labelSelector'));
    const fields = parseFieldSelector(query.get('fieldSelector'), t.def);
    const entries = this.store.entries(t.def, t.def.namespaced && t.namespace !== '' ? t.namespace : undefined);
    return entries.filter((e) => {
      const meta = metaOf(e.obj);
      return matchesLabels(labels, stringMapOf(meta['labels'])) && matchesFields(fields, e.obj);
    });
  }

  matcher(t: Target, query: URLSearchParams): (obj: JsonObject) => boolean {
    const labels = parseLabelSelector(query.get('labelSelector'));
    const fields = parseFieldSelector(query.get('fieldSelector'), t.def);
    return (obj) => matchesLabels(labels, stringMapOf(metaOf(obj)['labels'])) && matchesFields(fields, obj);
  }

  /**
   * A LIST, paged as kube-apiserver pages it: `limit` cuts a page and hands out a `continue`
   * token holding the list's revision and the next key; a continued page is served from the
   * snapshot at that revision (later writes do not show), with that revision as its
   * resourceVersion, and is 410 Expired once the history no longer reaches it.
   */
  list(t: Target, query: URLSearchParams): Outcome {
    const matches = this.matcher(t, query);
    const namespace = t.def.namespaced && t.namespace !== '' ? t.namespace : undefined;
    const keyOf = (o: JsonObject): string => `${metaString(o, 'namespace')}/${metaString(o, 'name')}`;
    let revision = this.store.currentRevision();
    let objects: JsonObject[];
    const cont = query.get('continue');
    if (cont) {
      const rvParam = query.get('resourceVersion');
      if (rvParam !== null && rvParam !== '') throw badRequest('specifying resource version is not allowed when using continue');
      let token: { rv: number; start: string };
      try {
        const decoded: unknown = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8'));
        if (!isObject(decoded) || typeof decoded['start'] !== 'string' || typeof decoded['rv'] !== 'number') throw new Error('no start key');
        token = { rv: decoded['rv'], start: decoded['start'] };
      } catch {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      const at = this.store.renderedAt(t.def, namespace, token.rv);
      if (at === undefined) {
        throw new ApiError(
          failure(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          ),
        );
      }
      revision = token.rv;
      objects = at.filter((o) => matches(o) && keyOf(o) >= token.start);
    } else {
      objects = this.select(t, query).map((e) => this.store.render(t.def, e));
    }
    const limitRaw = query.get('limit');
    const limit = limitRaw ? Number(limitRaw) : 0;
    const metadata: JsonObject = { resourceVersion: String(revision) };
    if (limit > 0 && objects.length > limit) {
      const next = objects[limit];
      if (next) {
        metadata['continue'] = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start: keyOf(next) })).toString('base64url');
        metadata['remainingItemCount'] = objects.length - limit;
      }
      objects = objects.slice(0, limit);
    }
    const items = objects.map((obj) => {
      // Built-in types are served without apiVersion/kind on list items; custom resources keep them.
      if (!t.def.custom) {
        delete obj['apiVersion'];
        delete obj['kind'];
      }
      return obj;
    });
    return {
      status: 200,
      body: { kind: `${t.def.kind}List`, apiVersion: groupVersion(t.def), metadata, items },
    };
  }

  create(t: Target, body: unknown, ctx: WriteContext): Outcome {
    if (t.subresource) throw new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
    const obj = this.bodyObject(t.def, body);
    this.checkNamespace(t, obj);
    const meta = metaOf(obj);
    const rv = meta['resourceVersion'];
    if (rv !== undefined && rv !== '' && rv !== '0') {
      throw new ApiError({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'resourceVersion should not be set on objects to be created',
        code: 500,
      });
    }
    return this.createObject(t, obj, ctx, (o) =>
      recordUpdate([], ctx.manager, groupVersion(t.def), this.timestamp(), undefined, o, this.ownsStatus(t)),
    );
  }

  private ownsStatus(t: Target): boolean {
    return !t.def.statusSubresource || t.subresource === 'status';
  }

  private createObject(
    t: Target,
    obj: JsonObject,
    ctx: WriteContext,
    owners: (stored: JsonObject) => ManagerEntry[],
  ): Outcome {
    const def = t.def;
    const meta = metaOf(obj);
    if ((meta['name'] === undefined || meta['name'] === '') && typeof meta['generateName'] === 'string') {
      const prefix = meta['generateName'];
      const problems = validateDNS1123Subdomain(prefix.replace(/-$/, '') || 'x');
      if (problems.length > 0) {
        throw invalid(
          qualifiedKind(def),
          def.group,
          def.kind,
          '',
          problems.map((m) => invalidCause('metadata.generateName', prefix, m)),
        );
      }
      meta['name'] = `${prefix.slice(0, 58)}${generatedSuffix()}`;
    }
    for (const f of systemMetaFields) delete meta[f];
    const uid = randomUUID();
    meta['uid'] = uid;
    meta['creationTimestamp'] = this.timestamp();
    if (def.generation) meta['generation'] = 1;
    else delete meta['generation'];
    if (def.statusSubresource) {
      if (def.custom) delete obj['status'];
      else if (def.resource === 'pods') obj['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
      else obj['status'] = {};
    }
    applyDefaults(def, obj);
    prepareForCreate(def, obj, uid);
    this.ensureNamespace(def, t.namespace, ctx.dryRun);
    this.validate(def, obj, undefined);
    const name = metaString(obj, 'name');
    if (this.store.get(def, def.namespaced ? t.namespace : '', name)) throw alreadyExists(gr(def), name);
    return this.commit(t, undefined, obj, owners(obj), ctx, 201);
  }

  /** The object an update stores: system metadata and (for the main resource) status come from the old one. */
  private merged(t: Target, old: JsonObject, incoming: JsonObject): JsonObject {
    const def = t.def;
    if (t.subresource === 'status') {
      const out = clone(old);
      if (incoming['status'] === undefined) delete out['status'];
      else out['status'] = clone(incoming['status']);
      return out;
    }
    const out = clone(incoming);
    const meta = metaOf(out);
    const oldMeta = metaOf(old);
    for (const f of ['creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'namespace', 'name']) {
      if (oldMeta[f] === undefined) delete meta[f];
      else meta[f] = clone(oldMeta[f]);
    }
    if (meta['uid'] === undefined || meta['uid'] === '') meta['uid'] = oldMeta['uid'];
    delete meta['managedFields'];
    delete meta['selfLink'];
    if (def.statusSubresource) {
      if (old['status'] === undefined) delete out['status'];
      else out['status'] = clone(old['status']);
    }
    applyDefaults(def, out);
    if (def.generation && !deepEqual(specPart(old), specPart(out))) {
      meta['generation'] = (typeof oldMeta['generation'] === 'number' ? oldMeta['generation'] : 0) + 1;
    }
    return out;
  }

  private checkResourceVersion(t: Target, old: StoredEntry, rv: unknown): void {
    if (rv === undefined || rv === '' || rv === null) return;
    if (String(rv) !== metaString(old.obj, 'resourceVersion')) {
      throw conflict(gr(t.def), metaString(old.obj, 'name'), modifiedMessage);
    }
  }

  private checkName(t: Target, obj: JsonObject): void {
    const name = metaOf(obj)['name'];
    if (name !== t.name) {
      throw badRequest(
        `the name of the object (${typeof name === 'string' ? name : ''}) does not match the name on the URL (${t.name ?? ''})`,
      );
    }
  }

  update(t: Target, body: unknown, ctx: WriteContext): Outcome {
    const obj = this.bodyObject(t.def, body);
    this.checkNamespace(t, obj);
    this.checkName(t, obj);
    const old = this.mustGet(t);
    const rv = metaOf(obj)['resourceVersion'];
    if (t.def.custom && (rv === undefined || rv === '')) {
      throw invalid(qualifiedKind(t.def), t.def.group, t.def.kind, t.name ?? '', [
        invalidCause('metadata.resourceVersion', '0x0', 'must be specified for an update'),
      ]);
    }
    this.checkResourceVersion(t, old, rv);
    return this.updateFrom(t, old, obj, ctx);
  }

  private updateFrom(t: Target, old: StoredEntry, incoming: JsonObject, ctx: WriteContext): Outcome {
    const next = this.merged(t, old.obj, incoming);
    const managers = recordUpdate(
      old.managers,
      ctx.manager,
      groupVersion(t.def),
      this.timestamp(),
      old.obj,
      next,
      this.ownsStatus(t),
      t.subresource,
    );
    this.validate(t.def, next, old.obj);
    return this.commit(t, old, next, managers, ctx, 200);
  }

  patch(t: Target, raw: string, contentType: string, ctx: WriteContext): Outcome {
    const force = ctx.query.get('force');
    if (contentType === 'application/apply-patch+yaml') return this.apply(t, raw, ctx, force === 'true');
    if (!patchTypes.includes(contentType)) throw unsupportedMediaType(contentType, patchTypes);
    if (t.def.custom && contentType === 'application/strategic-merge-patch+json') {
      throw unsupportedMediaType(
        contentType,
        patchTypes.filter((p) => p !== 'application/strategic-merge-patch+json'),
      );
    }
    if (force !== null) throw badRequest('force: Forbidden: may not be specified for non-apply patch');
    let patchBody: unknown;
    try {
      patchBody = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch (e) {
      throw badRequest(`error decoding patch: ${e instanceof Error ? e.message : String(e)}`);
    }
    const old = this.mustGet(t);
    const base = this.store.render(t.def, old);
    let patched: unknown;
    try {
      if (contentType === 'application/json-patch+json') patched = jsonPatch(base, patchBody);
      else if (contentType === 'application/merge-patch+json') patched = mergePatch(base, patchBody);
      else patched = strategicMergePatch(base, patchBody);
    } catch (e) {
      if (e instanceof JsonPatchError) throw new ApiError(failure(422, 'Invalid', e.message));
      throw e;
    }
    if (!isObject(patched)) throw badRequest('the patch did not produce an object');
    const obj = this.bodyObject(t.def, patched);
    this.checkNamespace(t, obj);
    this.checkName(t, obj);
    this.checkResourceVersion(t, old, metaOf(obj)['resourceVersion']);
    return this.updateFrom(t, old, obj, ctx);
  }

  private apply(t: Target, raw: string, ctx: WriteContext, force: boolean): Outcome {
    const def = t.def;
    const fieldManager = ctx.query.get('fieldManager');
    if (!fieldManager) {
      throw new ApiError(
        failure(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
          group: 'meta.k8s.io',
          kind: 'PatchOptions',
          causes: [requiredCause('fieldManager', 'is required for apply patch')],
        }),
      );
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(raw);
    } catch (e) {
      throw badRequest(`error decoding YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!isObject(parsed)) throw badRequest(`error decoding YAML: the apply configuration is not an object`);
    if (parsed['kind'] === undefined || parsed['kind'] === '') throw badRequest(`Object 'Kind' is missing in '${raw}'`);
    if (parsed['apiVersion'] === undefined || parsed['apiVersion'] === '') {
      throw badRequest(`Object 'apiVersion' is missing in '${raw}'`);
    }
    const config = this.bodyObject(def, parsed);
    this.checkNamespace(t, config);
    this.checkName(t, config);
    const missingKey = missingApplyKey(`${def.group}/${def.resource}`, config);
    // The real Status names no reason for it.
    if (missingKey) throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: missingKey, code: 500 });
    const meta = metaOf(config);
    const rv = meta['resourceVersion'];
    for (const f of systemMetaFields) delete meta[f];
    const gv = groupVersion(def);
    const old = this.store.get(def, def.namespaced ? t.namespace : '', t.name ?? '');
    const withStatus = this.ownsStatus(t);
    if (!old) {
      if (t.subresource) throw notFound(gr(def), t.name ?? '');
      return this.createObject(t, clone(config), ctx, () =>
        planApply([], fieldManager, gv, this.timestamp(), {}, config, force, withStatus).entries,
      );
    }
    this.checkResourceVersion(t, old, rv);
    const plan = planApply(old.managers, fieldManager, gv, this.timestamp(), old.obj, config, force, withStatus);
    if (plan.conflicts.length > 0) {
      throw new ApiError(
        failure(409, 'Conflict', conflictMessage(plan.conflicts), {
          causes: plan.conflicts.map((c) => ({
            reason: 'FieldManagerConflict',
            message: `conflict with ${conflictingManager(c)}`,
            field: c.field,
          })),
        }),
      );
    }
    const working = clone(old.obj);
    for (const p of plan.removed) deletePath(working, p);
    const appliedRaw = applyMerge(working, config);
    const applied = isObject(appliedRaw) ? appliedRaw : {};
    const next = this.merged(t, old.obj, applied);
    this.validate(def, next, old.obj);
    return this.commit(t, old, next, plan.entries, ctx, 200);
  }

  private commit(
    t: Target,
    old: StoredEntry | undefined,
    obj: JsonObject,
    managers: ManagerEntry[],
    ctx: WriteContext,
    status: number,
  ): Outcome {
    const def = t.def;
    if (Buffer.byteLength(JSON.stringify(obj)) > etcdMaxRequestBytes) {
      throw new ApiError(failure(500, 'InternalError', 'etcdserver: request is too large'));
    }
    // An update that changes nothing is not written: the resourceVersion stays, no event fires.
    if (old && deepEqual(withoutResourceVersion(old.obj), withoutResourceVersion(obj))) {
      return { status: 200, body: this.store.render(def, old) };
    }
    if (ctx.dryRun) {
      const preview: StoredEntry = { obj: clone(obj), managers };
      if (old) metaOf(preview.obj)['resourceVersion'] = metaString(old.obj, 'resourceVersion');
      return { status, body: this.store.render(def, preview) };
    }
    const written = this.store.write(def, { obj, managers });
    const meta = metaOf(obj);
    const finalizers = meta['finalizers'];
    if (meta['deletionTimestamp'] !== undefined && (!Array.isArray(finalizers) || finalizers.length === 0)) {
      this.removeNow(def, t.namespace, metaString(obj, 'name'), 'Background');
    }
    return { status, body: written };
  }

  delete(t: Target, body: unknown, ctx: WriteContext): Outcome {
    const def = t.def;
    const options = isObject(body) ? body : {};
    const policy = this.propagation(def, options, ctx.query);
    const old = this.mustGet(t);
    this.checkPreconditions(t, old, options);
    const headers: Record<string, string> = {};
    if (def.defaultPropagation === 'Orphan' && !this.explicitPropagation(options, ctx.query)) {
      headers['Warning'] =
        '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"';
    }
    const name = metaString(old.obj, 'name');
    const namespace = def.namespaced ? t.namespace : '';
    const finalizers = metaOf(old.obj)['finalizers'];
    const now = this.timestamp();
    if (Array.isArray(finalizers) && finalizers.length > 0) {
      // Finalizers hold the object: it is only marked, and goes once the last finalizer is removed.
      const marked = clone(old.obj);
      const meta = metaOf(marked);
      if (meta['deletionTimestamp'] === undefined) {
        meta['deletionTimestamp'] = now;
        meta['deletionGracePeriodSeconds'] = 0;
      }
      if (ctx.dryRun || deepEqual(marked, old.obj)) return { status: 200, body: this.store.render(def, { obj: marked, managers: old.managers }), headers };
      return { status: 200, body: this.store.write(def, { obj: marked, managers: old.managers }), headers };
    }
    const uid = metaString(old.obj, 'uid');
    let removed: JsonObject;
    if (ctx.dryRun) {
      removed = this.store.render(def, old);
    } else {
      removed = this.removeNow(def, namespace, name, policy) ?? this.store.render(def, old);
    }
    if (def.resource === 'namespaces' && def.group === '') {
      const terminating = clone(removed);
      metaOf(terminating)['deletionTimestamp'] = now;
      terminating['status'] = { phase: 'Terminating' };
      return { status: 200, body: terminating, headers };
    }
    if (def.returnsDeletedObject) {
      const meta = metaOf(removed);
      meta['deletionTimestamp'] ??= now;
      meta['deletionGracePeriodSeconds'] ??= 0;
      return { status: 200, body: removed, headers };
    }
    return { status: 200, body: success(gr(def), name, uid), headers };
  }

  deleteCollection(t: Target, body: unknown, ctx: WriteContext): Outcome {
    const entries = this.select(t, ctx.query);
    const items: JsonObject[] = [];
    for (const e of entries) {
      const outcome = this.delete(
        { def: t.def, namespace: metaString(e.obj, 'namespace'), name: metaString(e.obj, 'name') },
        body,
        ctx,
      );
      const rendered = this.store.render(t.def, e);
      items.push(isObject(outcome.body) && outcome.body['kind'] === t.def.kind ? outcome.body : rendered);
    }
    return {
      status: 200,
      body: {
        kind: `${t.def.kind}List`,
        apiVersion: groupVersion(t.def),
        metadata: { resourceVersion: String(this.store.currentRevision()) },
        items,
      },
    };
  }

  private explicitPropagation(options: JsonObject, query: URLSearchParams): boolean {
    return (
      options['propagationPolicy'] !== undefined ||
      options['orphanDependents'] !== undefined ||
      query.get('propagationPolicy') !== null ||
      query.get('orphanDependents') !== null
    );
  }

  private propagation(def: ResourceDef, options: JsonObject, query: URLSearchParams): string {
    const raw = options['propagationPolicy'] ?? query.get('propagationPolicy');
    const orphanRaw = options['orphanDependents'] ?? query.get('orphanDependents');
    if (raw !== undefined && raw !== null) {
      const policy = String(raw);
      if (!['Foreground', 'Background', 'Orphan'].includes(policy)) {
        throw new ApiError(
          failure(
            422,
            'Invalid',
            `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
            { group: 'meta.k8s.io', kind: 'DeleteOptions' },
          ),
        );
      }
      return policy;
    }
    if (orphanRaw !== undefined && orphanRaw !== null) return String(orphanRaw) === 'true' ? 'Orphan' : 'Background';
    return def.defaultPropagation ?? 'Background';
  }

  private checkPreconditions(t: Target, old: StoredEntry, options: JsonObject): void {
    const pre = isObject(options['preconditions']) ? options['preconditions'] : {};
    const name = metaString(old.obj, 'name');
    const uid = pre['uid'];
    if (typeof uid === 'string' && uid !== '' && uid !== metaString(old.obj, 'uid')) {
      throw conflict(
        gr(t.def),
        name,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${metaString(old.obj, 'uid')}`,
      );
    }
    const rv = pre['resourceVersion'];
    if (typeof rv === 'string' && rv !== '' && rv !== metaString(old.obj, 'resourceVersion')) {
      throw conflict(
        gr(t.def),
        name,
        `Precondition failed: ResourceVersion in precondition: ${rv}, ResourceVersion in object meta: ${metaString(old.obj, 'resourceVersion')}`,
      );
    }
  }

  /** Removes an object now and collects its dependents as the garbage collector would. */
  removeNow(def: ResourceDef, namespace: string, name: string, policy: string): JsonObject | undefined {
    const entry = this.store.get(def, namespace, name);
    if (!entry) return undefined;
    const uid = metaString(entry.obj, 'uid');
    if (def.resource === 'namespaces' && def.group === '') {
      for (const other of this.resources.defs) {
        if (!other.namespaced) continue;
        for (const e of this.store.entries(other, name)) this.store.remove(other, name, metaString(e.obj, 'name'));
      }
    }
    const removed = this.store.remove(def, namespace, name);
    this.collectDependents(def, namespace, name, uid, policy);
    return removed;
  }

  private collectDependents(def: ResourceDef, namespace: string, name: string, uid: string, policy: string): void {
    for (const other of this.resources.defs) {
      const candidates = this.store.entries(other, other.namespaced && def.namespaced ? namespace : undefined);
      for (const e of candidates) {
        const refs = metaOf(e.obj)['ownerReferences'];
        const owned = Array.isArray(refs) && refs.some((r: unknown) => isObject(r) && r['uid'] === uid);
        // Pods a Job created carry its name as a label; tests often put such pods without ownerReferences.
        const labels = stringMapOf(metaOf(e.obj)['labels']);
        const jobPod =
          def.group === 'batch' &&
          def.resource === 'jobs' &&
          other.group === '' &&
          other.resource === 'pods' &&
          metaString(e.obj, 'namespace') === namespace &&
          (labels['job-name'] === name || labels['batch.kubernetes.io/job-name'] === name);
        if (!owned && !jobPod) continue;
        const depNs = metaString(e.obj, 'namespace');
        const depName = metaString(e.obj, 'name');
        if (policy === 'Orphan') {
          if (!owned || !Array.isArray(refs)) continue;
          const orphaned = clone(e.obj);
          const kept = refs.filter((r: unknown) => !(isObject(r) && r['uid'] === uid));
          if (kept.length === 0) delete metaOf(orphaned)['ownerReferences'];
          else metaOf(orphaned)['ownerReferences'] = kept;
          this.store.write(other, { obj: orphaned, managers: e.managers });
        } else {
          this.removeNow(other, depNs, depName, 'Background');
        }
      }
    }
  }
}
