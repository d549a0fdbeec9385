// Validation and defaulting as the real registry applies them, for the fields a branch follower
// touches. Messages are the apimachinery ones, so a 422 from the double reads like a cluster's.

import { deepEqual, isObject } from './apiserver-json.ts';
import type { JsonObject } from './apiserver-json.ts';
import type { ResourceDef } from './apiserver-resources.ts';
import type { StatusCause } from './apiserver-status.ts';

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelValueFmt = `(${qualifiedNameFmt})?`;
const configKeyFmt = '[-._a-zA-Z0-9]+';

const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueRe = new RegExp(`^${labelValueFmt}$`);
const configKeyRe = new RegExp(`^${configKeyFmt}$`);

export const maxConfigMapBytes = 1024 * 1024;
const maxAnnotationBytes = 256 * 1024;

function regexError(msg: string, fmt: string, examples: string[]): string {
  const e = examples.map((x) => `'${x}'`).join(',  or ');
  return `${msg} (e.g. ${e}, regex used for validation is '${fmt}')`;
}

function maxLen(n: number): string {
  return `must be no more than ${n} characters`;
}

export function validateDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push(maxLen(253));
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainFmt,
        ['example.com'],
      ),
    );
  }
  return errs;
}

export function validateDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(maxLen(63));
  if (!dns1123LabelRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        dns1123LabelFmt,
        ['my-name', '123-abc'],
      ),
    );
  }
  return errs;
}

export function validatePathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const errs: string[] = [];
  if (value.includes('/')) errs.push("may not contain '/'");
  if (value.includes('%')) errs.push("may not contain '%'");
  return errs;
}

export function validateQualifiedName(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const errs: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...validateDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else if (parts.length > 2) {
    return [
      regexError(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFmt,
        ['MyName', 'my.name', '123-abc'],
      ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push(`name part ${maxLen(63)}`);
  if (name.length > 0 && !qualifiedNameRe.test(name)) {
    errs.push(
      regexError(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFmt,
        ['MyName', 'my.name', '123-abc'],
      ),
    );
  }
  return errs;
}

export function validateLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(maxLen(63));
  if (!labelValueRe.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFmt,
        ['MyValue', 'my_value', '12345'],
      ),
    );
  }
  return errs;
}

function quote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value ?? null);
}

export function invalidCause(field: string, value: unknown, message: string): StatusCause {
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${quote(value)}: ${message}`, field };
}

export function requiredCause(field: string, detail?: string): StatusCause {
  return { reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value', field };
}

function notSupportedCause(field: string, value: unknown, supported: string[]): StatusCause {
  return {
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${quote(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
    field,
  };
}

function forbiddenCause(field: string, detail: string): StatusCause {
  return { reason: 'FieldValueForbidden', message: `Forbidden: ${detail}`, field };
}

function tooLongCause(field: string, max: number): StatusCause {
  return { reason: 'FieldValueTooLong', message: `Too long: must have at most ${max} bytes`, field };
}

function duplicateCause(field: string, value: unknown): StatusCause {
  return { reason: 'FieldValueDuplicate', message: `Duplicate value: ${quote(value)}`, field };
}

function stringMap(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'string' ? v : String(v);
  return out;
}

export function validateLabels(labels: unknown, field: string): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [key, value] of Object.entries(stringMap(labels))) {
    for (const m of validateQualifiedName(key)) causes.push(invalidCause(field, key, m));
    for (const m of validateLabelValue(value)) causes.push(invalidCause(field, value, m));
  }
  return causes;
}

function validateAnnotations(annotations: unknown, field: string): StatusCause[] {
  const causes: StatusCause[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(stringMap(annotations))) {
    for (const m of validateQualifiedName(key.toLowerCase())) causes.push(invalidCause(field, key, m));
    total += key.length + Buffer.byteLength(value);
  }
  if (total > maxAnnotationBytes) causes.push(tooLongCause(field, maxAnnotationBytes));
  return causes;
}

export function validateName(def: ResourceDef, name: string, field = 'metadata.name'): StatusCause[] {
  const errs =
    def.nameRule === 'label'
      ? validateDNS1123Label(name)
      : def.nameRule === 'path-segment'
        ? validatePathSegmentName(name)
        : validateDNS1123Subdomain(name);
  if (def.maxNameLength !== undefined && name.length > def.maxNameLength && errs.length === 0) {
    errs.push(maxLen(def.maxNameLength));
  }
  return errs.map((m) => invalidCause(field, name, m));
}

export function validateObjectMeta(def: ResourceDef, obj: JsonObject): StatusCause[] {
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const causes: StatusCause[] = [];
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') {
    causes.push(requiredCause('metadata.name', 'name or generateName is required'));
  } else {
    causes.push(...validateName(def, name));
  }
  causes.push(...validateLabels(meta['labels'], 'metadata.labels'));
  causes.push(...validateAnnotations(meta['annotations'], 'metadata.annotations'));
  return causes;
}

function validateConfigMap(obj: JsonObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = stringMap(obj['data']);
  const binary = stringMap(obj['binaryData']);
  let total = 0;
  const checkKey = (section: string, key: string): void => {
    const field = `${section}[${key}]`;
    if (key.length > 253) causes.push(invalidCause(field, key, maxLen(253)));
    if (!configKeyRe.test(key)) {
      causes.push(
        invalidCause(
          field,
          key,
          regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", configKeyFmt, [
            'key.name',
            'KEY_NAME',
            'key-name',
          ]),
        ),
      );
    }
    if (key === '.') causes.push(invalidCause(field, key, "must not be '.'"));
    else if (key === '..') causes.push(invalidCause(field, key, "must not be '..'"));
    else if (key.startsWith('..')) causes.push(invalidCause(field, key, "must not start with '..'"));
  };
  // Only the values count toward the 1 MiB, not the keys (a real 1.20 server takes 1 MiB of
  // values under a 3-character key).
  for (const [key, value] of Object.entries(data)) {
    checkKey('data', key);
    total += Buffer.byteLength(value);
  }
  for (const [key, value] of Object.entries(binary)) {
    checkKey('binaryData', key);
    if (key in data) causes.push(invalidCause(`binaryData[${key}]`, key, 'duplicate of key present in data'));
    total += Buffer.from(value, 'base64').length;
  }
  if (total > maxConfigMapBytes) causes.push(tooLongCause('[]', maxConfigMapBytes));
  return causes;
}

function validateContainers(spec: JsonObject, prefix: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(requiredCause(`${prefix}.containers`));
    return causes;
  }
  const seen = new Set<string>();
  containers.forEach((c: unknown, i) => {
    const field = `${prefix}.containers[${i}]`;
    const container = isObject(c) ? c : {};
    const name = container['name'];
    if (typeof name !== 'string' || name === '') causes.push(requiredCause(`${field}.name`));
    else {
      for (const m of validateDNS1123Label(name)) causes.push(invalidCause(`${field}.name`, name, m));
      if (seen.has(name)) causes.push(duplicateCause(`${field}.name`, name));
      seen.add(name);
    }
    if (typeof container['image'] !== 'string' || container['image'] === '') causes.push(requiredCause(`${field}.image`));
    for (const key of ['command', 'args']) {
      const v = container[key];
      if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
        causes.push(invalidCause(`${field}.${key}`, v, 'must be a list of strings'));
      }
    }
  });
  return causes;
}

function validatePodTemplate(template: unknown, prefix: string, restartPolicies: string[]): StatusCause[] {
  const t = isObject(template) ? template : {};
  const meta = isObject(t['metadata']) ? t['metadata'] : {};
  const spec = isObject(t['spec']) ? t['spec'] : {};
  const causes = validateLabels(meta['labels'], `${prefix}.labels`);
  causes.push(...validateContainers(spec, `${prefix}.spec`));
  const policy = spec['restartPolicy'];
  if (!restartPolicies.includes(String(policy))) {
    causes.push(notSupportedCause(`${prefix}.spec.restartPolicy`, policy, restartPolicies));
  }
  return causes;
}

function selectorMatchesTemplate(spec: JsonObject, causes: StatusCause[]): void {
  const selector = spec['selector'];
  if (!isObject(selector)) {
    causes.push(requiredCause('spec.selector'));
    return;
  }
  const template = isObject(spec['template']) ? spec['template'] : {};
  const meta = isObject(template['metadata']) ? template['metadata'] : {};
  const labels = stringMap(meta['labels']);
  const wanted = stringMap(selector['matchLabels']);
  if (!Object.entries(wanted).every(([k, v]) => labels[k] === v)) {
    causes.push(invalidCause('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
  }
}

const cronMacros = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Kind-specific checks on the object as it would be stored. `old` is set on updates. */
export function validateSpec(def: ResourceDef, obj: JsonObject, old: JsonObject | undefined): StatusCause[] {
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  const causes: StatusCause[] = [];
  const key = `${def.group}/${def.resource}`;
  switch (key) {
    case '/configmaps':
      causes.push(...validateConfigMap(obj));
      if (old && old['immutable'] === true) {
        if (!deepEqual(old['data'], obj['data']) || !deepEqual(old['binaryData'], obj['binaryData'])) {
          causes.push(forbiddenCause('data', 'field is immutable when `immutable` is set'));
        }
        if (obj['immutable'] !== true) causes.push(forbiddenCause('immutable', 'field is immutable when `immutable` is set'));
      }
      break;
    case '/pods':
      causes.push(...validateContainers(spec, 'spec'));
      break;
    case '/events': {
      const involved = isObject(obj['involvedObject']) ? obj['involvedObject'] : {};
      const ns = involved['namespace'];
      const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
      if (typeof ns === 'string' && ns !== '' && ns !== meta['namespace']) {
        causes.push(invalidCause('involvedObject.namespace', ns, 'does not match event.namespace'));
      }
      break;
    }
    case 'batch/jobs':
      causes.push(...validatePodTemplate(spec['template'], 'spec.template', ['OnFailure', 'Never']));
      if (old) {
        const oldSpec = isObject(old['spec']) ? old['spec'] : {};
        if (!deepEqual(oldSpec['template'], spec['template'])) {
          causes.push(invalidCause('spec.template', spec['template'], 'field is immutable'));
        }
        if (!deepEqual(oldSpec['selector'], spec['selector'])) {
          causes.push(invalidCause('spec.selector', spec['selector'], 'field is immutable'));
        }
      }
      break;
    case 'batch/cronjobs': {
      const schedule = spec['schedule'];
      if (typeof schedule !== 'string' || schedule.trim() === '') causes.push(requiredCause('spec.schedule'));
      else if (!cronMacros.has(schedule.trim())) {
        const fields = schedule
          .trim()
          .replace(/^(TZ|CRON_TZ)=\S+\s+/, '')
          .split(/\s+/);
        if (fields.length !== 5) {
          causes.push(invalidCause('spec.schedule', schedule, `expected exactly 5 fields, found ${fields.length}: ${schedule}`));
        }
      }
      const policy = spec['concurrencyPolicy'];
      if (!['Allow', 'Forbid', 'Replace'].includes(String(policy))) {
        causes.push(notSupportedCause('spec.concurrencyPolicy', policy, ['Allow', 'Forbid', 'Replace']));
      }
      const jobTemplate = isObject(spec['jobTemplate']) ? spec['jobTemplate'] : {};
      const jobSpec = isObject(jobTemplate['spec']) ? jobTemplate['spec'] : {};
      causes.push(
        ...validatePodTemplate(jobSpec['template'], 'spec.jobTemplate.spec.template', ['OnFailure', 'Never']),
      );
      break;
    }
    case 'apps/deployments':
    case 'apps/statefulsets':
    case 'apps/daemonsets':
      selectorMatchesTemplate(spec, causes);
      causes.push(...validatePodTemplate(spec['template'], 'spec.template', ['Always']));
      break;
    case 'rbac.authorization.k8s.io/roles':
    case 'rbac.authorization.k8s.io/clusterroles': {
      const rules = obj['rules'];
      if (Array.isArray(rules)) {
        rules.forEach((r: unknown, i) => {
          const verbs = isObject(r) ? r['verbs'] : undefined;
          if (!Array.isArray(verbs) || verbs.length === 0) {
            causes.push(requiredCause(`rules[${i}].verbs`, 'verbs must contain at least one value'));
          }
        });
      }
      break;
    }
    case 'rbac.authorization.k8s.io/rolebindings':
    case 'rbac.authorization.k8s.io/clusterrolebindings': {
      const ref = isObject(obj['roleRef']) ? obj['roleRef'] : {};
      const kinds = def.resource === 'rolebindings' ? ['Role', 'ClusterRole'] : ['ClusterRole'];
      if (!kinds.includes(String(ref['kind']))) causes.push(notSupportedCause('roleRef.kind', ref['kind'] ?? '', kinds));
      if (ref['apiGroup'] !== 'rbac.authorization.k8s.io') {
        causes.push(notSupportedCause('roleRef.apiGroup', ref['apiGroup'] ?? '', ['rbac.authorization.k8s.io']));
      }
      if (typeof ref['name'] !== 'string' || ref['name'] === '') causes.push(requiredCause('roleRef.name'));
      const subjects = obj['subjects'];
      if (Array.isArray(subjects)) {
        subjects.forEach((s: unknown, i) => {
          const subject = isObject(s) ? s : {};
          const kind = subject['kind'];
          if (!['ServiceAccount', 'User', 'Group'].includes(String(kind))) {
            causes.push(notSupportedCause(`subjects[${i}].kind`, kind ?? '', ['ServiceAccount', 'User', 'Group']));
          }
          if (typeof subject['name'] !== 'string' || subject['name'] === '') causes.push(requiredCause(`subjects[${i}].name`));
        });
      }
      if (old && !deepEqual(old['roleRef'], obj['roleRef'])) {
        causes.push(invalidCause('roleRef', obj['roleRef'], 'cannot change roleRef'));
      }
      break;
    }
    default:
      break;
  }
  return causes;
}

function defaultPodSpec(spec: JsonObject, restartPolicy: string): void {
  spec['restartPolicy'] ??= restartPolicy;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['schedulerName'] ??= 'default-scheduler';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['securityContext'] ??= {};
  const containers = spec['containers'];
  if (Array.isArray(containers)) {
    for (const c of containers) {
      if (!isObject(c)) continue;
      const image = typeof c['image'] === 'string' ? c['image'] : '';
      const tagged = /:[^/]+$/.test(image) && !image.endsWith(':latest');
      c['imagePullPolicy'] ??= tagged || image.includes('@') ? 'IfNotPresent' : 'Always';
      c['terminationMessagePath'] ??= '/dev/termination-log';
      c['terminationMessagePolicy'] ??= 'File';
      c['resources'] ??= {};
    }
  }
}

function defaultTemplate(holder: JsonObject): JsonObject {
  const template = isObject(holder['template']) ? holder['template'] : {};
  holder['template'] = template;
  const meta = isObject(template['metadata']) ? template['metadata'] : {};
  template['metadata'] = meta;
  const spec = isObject(template['spec']) ? template['spec'] : {};
  template['spec'] = spec;
  // Pod templates default to Always before validation, which is why a Job without a
  // restartPolicy fails with `Unsupported value: "Always"` on a real cluster.
  defaultPodSpec(spec, 'Always');
  return meta;
}

/**
 * Scheme defaulting. The real server defaults every decoded body (creates, updates and patched
 * objects alike), so re-sending a manifest without the defaulted fields changes nothing.
 */
export function applyDefaults(def: ResourceDef, obj: JsonObject): void {
  const key = `${def.group}/${def.resource}`;
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  switch (key) {
    case '/pods':
      obj['spec'] = spec;
      defaultPodSpec(spec, 'Always');
      break;
    case '/secrets':
      obj['type'] ??= 'Opaque';
      break;
    case '/namespaces':
      meta['labels'] = {
        ...(isObject(meta['labels']) ? meta['labels'] : {}),
        'kubernetes.io/metadata.name': String(meta['name'] ?? ''),
      };
      break;
    case 'batch/jobs':
      obj['spec'] = spec;
      spec['backoffLimit'] ??= 6;
      // Completions default to 1 only when parallelism is unset too (a real 1.20 server: a Job
      // with parallelism 0 and no completions keeps completions unset).
      if (spec['parallelism'] === undefined) spec['completions'] ??= 1;
      spec['parallelism'] ??= 1;
      spec['completionMode'] ??= 'NonIndexed';
      spec['suspend'] ??= false;
      spec['podReplacementPolicy'] ??= 'TerminatingOrFailed';
      defaultTemplate(spec);
      break;
    case 'batch/cronjobs': {
      obj['spec'] = spec;
      spec['concurrencyPolicy'] ??= 'Allow';
      spec['suspend'] ??= false;
      spec['successfulJobsHistoryLimit'] ??= 3;
      spec['failedJobsHistoryLimit'] ??= 1;
      const jobTemplate = isObject(spec['jobTemplate']) ? spec['jobTemplate'] : {};
      spec['jobTemplate'] = jobTemplate;
      const jobSpec = isObject(jobTemplate['spec']) ? jobTemplate['spec'] : {};
      jobTemplate['spec'] = jobSpec;
      defaultTemplate(jobSpec);
      break;
    }
    case 'apps/deployments':
    case 'apps/statefulsets':
    case 'apps/daemonsets':
      obj['spec'] = spec;
      if (def.resource !== 'daemonsets') spec['replicas'] ??= 1;
      spec['revisionHistoryLimit'] ??= 10;
      defaultTemplate(spec);
      break;
    default:
      break;
  }
}

/** What the registry's PrepareForCreate fills in beyond defaulting. */
export function prepareForCreate(def: ResourceDef, obj: JsonObject, uid: string): void {
  const key = `${def.group}/${def.resource}`;
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const name = String(meta['name'] ?? '');
  const spec = isObject(obj['spec']) ? obj['spec'] : {};
  if (key === '/namespaces') {
    obj['spec'] = { finalizers: ['kubernetes'] };
    obj['status'] = { phase: 'Active' };
  }
  if (key === 'batch/jobs' && spec['manualSelector'] !== true) {
    spec['selector'] = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    const tmeta = defaultTemplate(spec);
    tmeta['labels'] = {
      ...(isObject(tmeta['labels']) ? tmeta['labels'] : {}),
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    };
  }
}
