// Label and field selectors with the grammar and matching rules of k8s.io/apimachinery.

import { badRequest } from './apiserver-status.ts';
import { isObject } from './apiserver-json.ts';
import type { ResourceDef } from './apiserver-resources.ts';
import { validateLabelValue, validateQualifiedName } from './apiserver-validation.ts';

type Operator = 'exists' | 'notexists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

export type LabelSelector = Requirement[];

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: '!' | '=' | '==' | '!=' | '>' | '<' | ',' | '(' | ')' }
  | { t: 'end' };

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const special = new Set([' ', '\t', '\n', '!', '=', ',', '(', ')', '<', '>']);
  while (i < input.length) {
    const c = input[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === '!' && input[i + 1] === '=') {
      tokens.push({ t: 'op', v: '!=' });
      i += 2;
    } else if (c === '=' && input[i + 1] === '=') {
      tokens.push({ t: 'op', v: '==' });
      i += 2;
    } else if (c === '!' || c === '=' || c === ',' || c === '(' || c === ')' || c === '<' || c === '>') {
      tokens.push({ t: 'op', v: c });
      i++;
    } else {
      let j = i;
      while (j < input.length && !special.has(input[j] ?? '')) j++;
      tokens.push({ t: 'id', v: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ t: 'end' });
  return tokens;
}

function describe(tok: Token | undefined): string {
  if (!tok || tok.t === 'end') return 'EOS';
  return tok.v;
}

function parseError(message: string): never {
  throw badRequest(`unable to parse requirement: ${message}`);
}

export function parseLabelSelector(input: string | null | undefined): LabelSelector {
  if (input === null || input === undefined || input.trim() === '') return [];
  const tokens = lex(input);
  let pos = 0;
  const peek = (): Token => tokens[pos] ?? { t: 'end' };
  const next = (): Token => tokens[pos++] ?? { t: 'end' };
  const reqs: Requirement[] = [];

  const checkKey = (key: string): void => {
    const errs = validateQualifiedName(key);
    if (errs.length > 0) parseError(`key: Invalid value: "${key}": ${errs.join('; ')}`);
  };
  const checkValue = (value: string, i: number): void => {
    const errs = validateLabelValue(value);
    if (errs.length > 0) parseError(`values[${i}][${value}]: Invalid value: "${value}": ${errs.join('; ')}`);
  };

  for (;;) {
    let tok = next();
    let negated = false;
    if (tok.t === 'op' && tok.v === '!') {
      negated = true;
      tok = next();
    }
    if (tok.t !== 'id') {
      throw badRequest(`found '${describe(tok)}', expected: !, identifier, or 'end of string'`);
    }
    const key = tok.v;
    checkKey(key);
    if (negated) {
      reqs.push({ key, op: 'notexists', values: [] });
    } else {
      const opTok = peek();
      if (opTok.t === 'end' || (opTok.t === 'op' && opTok.v === ',')) {
        reqs.push({ key, op: 'exists', values: [] });
      } else if (opTok.t === 'op' && (opTok.v === '=' || opTok.v === '==' || opTok.v === '!=')) {
        next();
        const valTok = peek();
        let value = '';
        if (valTok.t === 'id') {
          value = valTok.v;
          next();
        } else if (!(valTok.t === 'end' || (valTok.t === 'op' && valTok.v === ','))) {
          throw badRequest(`found '${describe(valTok)}', expected: identifier`);
        }
        checkValue(value, 0);
        reqs.push({ key, op: opTok.v === '!=' ? '!=' : '=', values: [value] });
      } else if (opTok.t === 'op' && (opTok.v === '>' || opTok.v === '<')) {
        next();
        const valTok = next();
        if (valTok.t !== 'id' || !/^-?\d+$/.test(valTok.v)) {
          parseError(`for 'Gt', 'Lt' operators, the value must be an integer`);
        }
        reqs.push({ key, op: opTok.v === '>' ? 'gt' : 'lt', values: [valTok.v] });
      } else if (opTok.t === 'id' && (opTok.v === 'in' || opTok.v === 'notin')) {
        next();
        const open = next();
        if (!(open.t === 'op' && open.v === '(')) throw badRequest(`found '${describe(open)}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          const v = next();
          if (v.t === 'id') {
            checkValue(v.v, values.length);
            values.push(v.v);
            const sep = next();
            if (sep.t === 'op' && sep.v === ')') break;
            if (!(sep.t === 'op' && sep.v === ',')) throw badRequest(`found '${describe(sep)}', expected: ',' or ')'`);
          } else if (v.t === 'op' && v.v === ')' && values.length === 0) {
            break;
          } else if (v.t === 'op' && v.v === ',') {
            values.push('');
          } else {
            throw badRequest(`found '${describe(v)}', expected: ',', ')' or identifier`);
          }
        }
        if (values.length === 0) parseError(`for 'in', 'notin' operators, values set can't be empty`);
        reqs.push({ key, op: opTok.v === 'in' ? 'in' : 'notin', values });
      } else {
        throw badRequest(`found '${describe(opTok)}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    const after = next();
    if (after.t === 'end') break;
    if (!(after.t === 'op' && after.v === ',')) throw badRequest(`found '${describe(after)}', expected: ',' or 'end of string'`);
  }
  return reqs;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const value = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case '=':
        return has && value === r.values[0];
      case '!=':
        return !has || value !== r.values[0];
      case 'in':
        return has && r.values.includes(value ?? '');
      case 'notin':
        return !has || !r.values.includes(value ?? '');
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(value ?? '')) return false;
        const n = Number(value);
        const bound = Number(r.values[0]);
        return r.op === 'gt' ? n > bound : n < bound;
      }
    }
    return false;
  });
}

export interface FieldRequirement {
  field: string;
  equals: boolean;
  value: string;
}

export function parseFieldSelector(input: string | null | undefined, def: ResourceDef): FieldRequirement[] {
  if (input === null || input === undefined || input.trim() === '') return [];
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(def.fieldLabels ?? [])]);
  const out: FieldRequirement[] = [];
  for (const part of input.split(',')) {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${input}'; can't understand '${part}'`);
    const field = m[1] ?? '';
    if (!allowed.has(field)) {
      if (def.custom) {
        throw badRequest(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
      }
      throw badRequest(`field label not supported: ${field}`);
    }
    out.push({ field, equals: m[2] !== '!=', value: m[3] ?? '' });
  }
  return out;
}

function fieldValue(obj: unknown, field: string): string {
  // Events answer `source` from source.component, as the real field set does.
  const path = field === 'source' ? ['source', 'component'] : field.split('.');
  let node = obj;
  for (const seg of path) {
    if (!isObject(node)) return '';
    node = node[seg];
  }
  if (node === undefined || node === null) return '';
  return typeof node === 'string' ? node : JSON.stringify(node);
}

export function matchesFields(reqs: FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === r.equals);
}
