/**
 * Values in case files are JSON literals, generators that the runner expands
 * before use, and (in expectations only) matchers. There is no expression
 * language and nothing is evaluated: each generator is a fixed operation.
 *
 * Generators:
 *   {$unique: NAME}            a string unique to this run and case; the same NAME gives the same value within a case
 *   {$string: {fill, chars|bytes, prefix?}}
 *                              prefix followed by copies of fill up to exactly `chars` code points or `bytes` UTF-8 bytes
 *   {$var: NAME}               a value captured by an earlier step
 *   {$user_id: ALIAS}          the Matrix user id of one of the case's users
 *   {$template: NAME, with?: {...}, without?: [KEY...]}
 *                              a named object from the edition's _templates.yaml, members replaced or removed
 *   {$service: NAME.KEY}       a value of a service of the run the case needs, e.g. {$service: gateway.url}
 *   {$sent: POINTER, with?, without?}   (clean-up rules only) the body of the request being cleaned up after
 *   {$received: POINTER}       (clean-up rules only) its answer
 *   {$matched: N}              (clean-up rules only) the path segment the N-th `*` of the rule's `after.path` matched, decoded
 * Matchers (expectations only):
 *   {$absent: true}            as an object member: the member must not be present
 *   {$anyOf: [A, B, ...]}      the value matches any alternative ($absent allowed among them)
 *   {$type: T | [T, ...]}      any value of that JSON type (null, boolean, number, integer, string, array, object)
 */

import { shortJson } from '../text.js';

export const GENERATORS = ['$unique', '$string', '$var', '$user_id', '$template', '$sent', '$received', '$matched', '$service'] as const;
export const MATCHERS = ['$absent', '$anyOf', '$type'] as const;
const JSON_TYPES = ['null', 'boolean', 'number', 'integer', 'string', 'array', 'object'];

/** A problem found in a value of a case file: where it is, and what is wrong. */
export type ValueProblem = [(string | number)[], string];

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface ValueContext {
  unique(name: string): string;
  variable(name: string): unknown;
  userId(alias: string): string;
  template(name: string): unknown;
  /** A value of a service of the run (gateway.url, …). */
  service?(name: string, key: string): unknown;
  /** For clean-up rules: a value of the request body being cleaned up after. */
  sent?(ptr: string): unknown;
  /** For clean-up rules: a value of its answer. */
  received?(ptr: string): unknown;
  /** For clean-up rules: the path segment the n-th `*` of the rule's path matched (1-based). */
  matched?(n: number): string | undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The `$name` of an object that is a generator or matcher, else undefined. */
export function operatorOf(v: unknown): string | undefined {
  if (!isPlainObject(v)) return undefined;
  const key = Object.keys(v).find((k) => k.startsWith('$'));
  return key;
}

export class ValueError extends Error {}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function buildString(spec: Record<string, unknown>, ctx: ValueContext): string {
  const fill = spec['fill'];
  if (typeof fill !== 'string' || fill === '') throw new ValueError('$string needs a non-empty string `fill`');
  const prefix = spec['prefix'] === undefined ? '' : resolve(spec['prefix'], ctx);
  if (typeof prefix !== 'string') throw new ValueError('$string `prefix` must be a string');
  const chars = spec['chars'];
  const bytes = spec['bytes'];
  if (typeof chars === 'number') {
    const fillChars = [...fill];
    const need = chars - [...prefix].length;
    if (need < 0) throw new ValueError(`$string prefix is longer than ${chars} characters`);
    if (need % fillChars.length !== 0) throw new ValueError(`$string cannot reach exactly ${chars} characters with fill "${fill}"`);
    return prefix + fill.repeat(need / fillChars.length);
  }
  if (typeof bytes === 'number') {
    const need = bytes - byteLength(prefix);
    const per = byteLength(fill);
    if (need < 0) throw new ValueError(`$string prefix is longer than ${bytes} bytes`);
    if (need % per !== 0) throw new ValueError(`$string cannot reach exactly ${bytes} bytes with fill "${fill}"`);
    return prefix + fill.repeat(need / per);
  }
  throw new ValueError('$string needs `chars` or `bytes`');
}

/** A copy of `base` with the members of `op.without` removed and those of `op.with` (expanded) set. */
function withAndWithout(base: Record<string, unknown>, op: Record<string, unknown>, ctx: ValueContext): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const key of (op['without'] as string[] | undefined) ?? []) delete out[key];
  const withMembers = op['with'];
  if (isPlainObject(withMembers)) for (const [k, v] of Object.entries(withMembers)) out[k] = resolve(v, ctx);
  return out;
}

/**
 * Expands generators. Matchers are left in place (their contents expanded) so
 * that the matcher in match() can read them.
 */
export function resolve(value: unknown, ctx: ValueContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, ctx));
  if (!isPlainObject(value)) return value;
  const op = operatorOf(value);
  switch (op) {
    case undefined: {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = resolve(v, ctx);
      return out;
    }
    case '$unique':
      return ctx.unique(String(value['$unique']));
    case '$var':
      return ctx.variable(String(value['$var']));
    case '$user_id':
      return ctx.userId(String(value['$user_id']));
    case '$string': {
      const spec = value['$string'];
      if (!isPlainObject(spec)) throw new ValueError('$string takes an object');
      return buildString(spec, ctx);
    }
    case '$template': {
      const base = resolve(ctx.template(String(value['$template'])), ctx);
      if (!isPlainObject(base)) throw new ValueError(`template ${String(value['$template'])} is not an object`);
      return withAndWithout(base, value, ctx);
    }
    case '$sent': {
      if (!ctx.sent) throw new ValueError('$sent is only known in clean-up rules');
      const base = ctx.sent(String(value['$sent']));
      if (value['with'] === undefined && value['without'] === undefined) return base;
      if (!isPlainObject(base)) throw new ValueError('$sent with `with`/`without` needs an object');
      return withAndWithout(base, value, ctx);
    }
    case '$service': {
      const [name, key] = String(value['$service']).split('.') as [string, string];
      const v = ctx.service?.(name, key);
      if (v === undefined) throw new ValueError(`{$service: ${String(value['$service'])}}: the run has no such service value`);
      return v;
    }
    case '$received':
      if (!ctx.received) throw new ValueError('$received is only known in clean-up rules');
      return ctx.received(String(value['$received']));
    case '$matched': {
      const seg = ctx.matched?.(Number(value['$matched']));
      if (seg === undefined) throw new ValueError(`{$matched: ${String(value['$matched'])}}: the rule's path has no such * segment`);
      return seg;
    }
    case '$absent':
    case '$type':
      return value;
    case '$anyOf':
      return { $anyOf: (value['$anyOf'] as unknown[]).map((v) => resolve(v, ctx)) };
    default:
      throw new ValueError(`unknown operator ${op}`);
  }
}

/**
 * Checks the shape of every operator in a value without running it; returns
 * problems as [path, message] so the loader can point at the line.
 */
export function checkOperators(value: unknown, path: (string | number)[], allowMatchers: boolean, out: ValueProblem[], allowSent = false): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkOperators(v, [...path, i], allowMatchers, out, allowSent));
    return;
  }
  if (!isPlainObject(value)) return;
  const op = operatorOf(value);
  if (op === undefined) {
    for (const [k, v] of Object.entries(value)) checkOperators(v, [...path, k], allowMatchers, out, allowSent);
    return;
  }
  const keys = Object.keys(value);
  const only = (...allowed: string[]): void => {
    const extra = keys.filter((k) => !allowed.includes(k));
    if (extra.length) out.push([path, `${op} does not take ${extra.map((k) => `"${k}"`).join(', ')}`]);
  };
  switch (op) {
    case '$unique':
    case '$var':
    case '$user_id':
      only(op);
      if (typeof value[op] !== 'string' || value[op] === '') out.push([[...path, op], `${op} takes a non-empty name`]);
      return;
    case '$string': {
      only(op);
      const s = value[op];
      if (!isPlainObject(s)) {
        out.push([[...path, op], '$string takes an object {fill, chars|bytes, prefix?}']);
        return;
      }
      const bad = Object.keys(s).filter((k) => !['fill', 'chars', 'bytes', 'prefix'].includes(k));
      if (bad.length) out.push([[...path, op], `$string does not take ${bad.join(', ')}`]);
      if (typeof s['fill'] !== 'string' || s['fill'] === '') out.push([[...path, op], '$string needs a non-empty string `fill`']);
      const counts = ['chars', 'bytes'].filter((k) => s[k] !== undefined);
      if (counts.length !== 1) out.push([[...path, op], '$string needs exactly one of `chars` and `bytes`']);
      for (const k of counts) if (!Number.isInteger(s[k]) || (s[k] as number) < 0 || (s[k] as number) > 1_000_000) out.push([[...path, op, k], `${k} must be a whole number from 0 to 1000000`]);
      if (s['prefix'] !== undefined) checkOperators(s['prefix'], [...path, op, 'prefix'], false, out);
      return;
    }
    case '$service':
      only(op);
      if (typeof value[op] !== 'string' || !/^[a-z][a-z0-9-]*\.[a-z][a-z0-9_]*$/.test(value[op] as string)) out.push([[...path, op], '$service takes NAME.KEY, e.g. gateway.url']);
      return;
    case '$sent':
    case '$received':
      if (!allowSent) out.push([path, `${op} is only known in clean-up rules`]);
      only(...(op === '$sent' ? ['$sent', 'with', 'without'] : [op]));
      if (typeof value[op] !== 'string' || !/^(\/.*)?$/.test(value[op] as string)) out.push([[...path, op], `${op} takes a JSON pointer ("" for the whole body)`]);
      return;
    case '$matched':
      if (!allowSent) out.push([path, `${op} is only known in clean-up rules`]);
      only(op);
      if (!Number.isInteger(value[op]) || (value[op] as number) < 1 || (value[op] as number) > 16) out.push([[...path, op], '$matched takes the number of a * of the path, from 1']);
      return;
    case '$type': {
      if (!allowMatchers) out.push([path, '$type is a matcher: it belongs in an expectation']);
      only(op);
      const t = value[op];
      const types = Array.isArray(t) ? t : [t];
      if (types.length === 0 || !types.every((x) => typeof x === 'string' && JSON_TYPES.includes(x))) out.push([[...path, op], `$type takes one of ${JSON_TYPES.join(', ')}, or a list of them`]);
      return;
    }
    case '$template': {
      only('$template', 'with', 'without');
      if (typeof value['$template'] !== 'string') out.push([[...path, op], '$template takes a template name']);
      const w = value['with'];
      if (w !== undefined && !isPlainObject(w)) out.push([[...path, 'with'], '`with` must be an object']);
      if (isPlainObject(w)) checkOperators(w, [...path, 'with'], allowMatchers, out, allowSent);
      const wo = value['without'];
      if (wo !== undefined && !(Array.isArray(wo) && wo.every((k) => typeof k === 'string'))) out.push([[...path, 'without'], '`without` must be a list of member names']);
      return;
    }
    case '$absent':
      if (!allowMatchers) out.push([path, '$absent is a matcher: it belongs in an expectation']);
      only(op);
      if (value[op] !== true) out.push([[...path, op], '$absent takes true']);
      return;
    case '$anyOf':
      if (!allowMatchers) out.push([path, '$anyOf is a matcher: it belongs in an expectation']);
      only(op);
      if (!Array.isArray(value[op]) || (value[op] as unknown[]).length === 0) out.push([[...path, op], '$anyOf takes a non-empty list']);
      else checkOperators(value[op], [...path, op], true, out);
      return;
    default:
      out.push([path, `unknown operator "${op}"; known: ${[...GENERATORS, ...MATCHERS].join(', ')}`]);
  }
}

/** Names a value reads through {$var} / {$user_id} / {$template}, for static cross-checks. */
export function references(value: unknown, out: { vars: Set<string>; users: Set<string>; templates: Set<string>; services?: Set<string> }): void {
  if (Array.isArray(value)) return value.forEach((v) => references(v, out));
  if (!isPlainObject(value)) return;
  if ('$var' in value) out.vars.add(String(value['$var']));
  if ('$user_id' in value) out.users.add(String(value['$user_id']));
  if ('$template' in value) out.templates.add(String(value['$template']));
  if ('$service' in value) out.services?.add(String(value['$service']).split('.')[0] as string);
  for (const v of Object.values(value)) references(v, out);
}

export interface Mismatch {
  path: string;
  expected: unknown;
  actual: unknown;
  reason: string;
}

const MISSING = Symbol('missing');

function show(v: unknown): string {
  if (v === MISSING) return '(absent)';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return '(a value too deep to show)';
  }
  return s === undefined ? typeof v : s.length > 120 ? shortJson(v, 120) : s;
}

/**
 * A value the target gave, used as a key of the run (a path segment, an
 * event id, a pushkey): a string, a number or a boolean. Anything else (an
 * object, whatever members it has) is no key, and the case errors saying so.
 */
/** How a value of a request path is named in an error: the variable it reads, else its place. */
export function segmentName(part: unknown, i: number): string {
  const v = isPlainObject(part) ? part['$var'] : undefined;
  return typeof v === 'string' ? `the value of ${v} (path segment ${i + 1})` : `path segment ${i + 1}`;
}

export function asKey(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ValueError(`${what} would be ${show(v === undefined ? MISSING : v)}, which is not a string`);
}

/**
 * Compares a resolved expected value (which may hold matchers) with an actual
 * JSON value. `includes` lets actual objects carry more members; arrays are
 * compared element by element in both modes.
 */
export function match(expected: unknown, actual: unknown, mode: 'exact' | 'includes', path = ''): Mismatch[] {
  const op = operatorOf(expected);
  if (op === '$anyOf') {
    const alternatives = (expected as { $anyOf: unknown[] }).$anyOf;
    for (const alt of alternatives) {
      if (operatorOf(alt) === '$absent') {
        if (actual === MISSING) return [];
        continue;
      }
      if (actual !== MISSING && match(alt, actual, mode, path).length === 0) return [];
    }
    return [{ path: path || '/', expected: alternatives, actual: actual === MISSING ? undefined : actual, reason: `${show(actual)} matches none of ${alternatives.map(show).join(', ')}` }];
  }
  if (op === '$type') {
    const t = (expected as { $type: string | string[] }).$type;
    const types = Array.isArray(t) ? t : [t];
    if (actual !== MISSING && types.includes(jsonType(actual))) return [];
    if (actual !== MISSING && types.includes('number') && jsonType(actual) === 'integer') return [];
    return [{ path: path || '/', expected: `a value of type ${types.join(' or ')}`, actual: actual === MISSING ? undefined : actual, reason: actual === MISSING ? `missing member, expected a value of type ${types.join(' or ')}` : `expected a value of type ${types.join(' or ')}, got ${show(actual)}` }];
  }
  if (op === '$absent') {
    return actual === MISSING ? [] : [{ path, expected: '(absent)', actual, reason: `expected no member here, got ${show(actual)}` }];
  }
  if (actual === MISSING) return [{ path, expected, actual: undefined, reason: `missing member, expected ${show(expected)}` }];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [{ path: path || '/', expected, actual, reason: `expected an array, got ${show(actual)}` }];
    if (expected.length !== actual.length) return [{ path: path || '/', expected, actual, reason: `expected ${expected.length} items, got ${actual.length}` }];
    return expected.flatMap((e, i) => match(e, actual[i], mode, `${path}/${i}`));
  }
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) return [{ path: path || '/', expected, actual, reason: `expected an object, got ${show(actual)}` }];
    const out: Mismatch[] = [];
    for (const [k, e] of Object.entries(expected)) {
      const a = Object.prototype.hasOwnProperty.call(actual, k) ? actual[k] : MISSING;
      out.push(...match(e, a, mode, `${path}/${escapePointer(k)}`));
    }
    if (mode === 'exact') {
      for (const k of Object.keys(actual)) if (!Object.prototype.hasOwnProperty.call(expected, k)) out.push({ path: `${path}/${escapePointer(k)}`, expected: '(absent)', actual: actual[k], reason: `unexpected member ${show(actual[k])}` });
    }
    return out;
  }
  if (Object.is(expected, actual) || expected === actual) return [];
  return [{ path: path || '/', expected, actual, reason: `expected ${show(expected)}, got ${show(actual)}` }];
}

/** The JSON type of a value, as JSON Schema names it (integers are "integer"). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function escapePointer(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** RFC 6901 JSON pointer lookup; undefined when the path does not exist. */
export function pointer(doc: unknown, ptr: string): unknown {
  if (ptr === '') return doc;
  let cur: unknown = doc;
  for (const raw of ptr.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) cur = /^\d+$/.test(key) ? cur[Number(key)] : undefined;
    else if (isPlainObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, key) ? cur[key] : undefined;
    else return undefined;
  }
  return cur;
}
