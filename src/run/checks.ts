import type { Expectation } from '../cases/types.js';
import { match, pointer, type Mismatch } from '../cases/values.js';
import { describeErrors, getValidator } from '../schemas.js';

/** What one response is checked against: its status and its body (undefined when not JSON). */
export interface Observed {
  status: number;
  json: unknown;
  isJson: boolean;
}

export interface CheckOutcome {
  check: string;
  expected: unknown;
  actual: unknown;
  message: string;
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

function mismatchText(ms: Mismatch[]): string {
  return ms.slice(0, 8).map((m) => `at ${m.path || '/'}: ${m.reason}`).join('; ') + (ms.length > 8 ? `; and ${ms.length - 8} more` : '');
}

/**
 * Evaluates one expectation (already resolved) against a response and returns
 * every check that did not hold. An empty list means the expectation holds.
 */
export function evaluate(e: Expectation, o: Observed): CheckOutcome[] {
  const out: CheckOutcome[] = [];
  if (e.status !== undefined) {
    const want = list(e.status);
    if (!want.includes(o.status)) out.push({ check: 'status', expected: e.status, actual: o.status, message: `expected status ${want.join(' or ')}, got ${o.status}` });
  }
  const body = o.json;
  if (e.errcode !== undefined) {
    const want = list(e.errcode);
    const got = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { errcode?: unknown }).errcode : undefined;
    if (typeof got !== 'string' || !want.includes(got)) {
      out.push({ check: 'errcode', expected: e.errcode, actual: got ?? (o.isJson ? '(no errcode)' : '(body is not JSON)'), message: `expected errcode ${want.join(' or ')}, got ${got === undefined ? (o.isJson ? 'no errcode' : 'a body that is not JSON') : JSON.stringify(got)}` });
    }
  }
  const needJson = e.body !== undefined || e.body_includes !== undefined || e.schema !== undefined || e.list !== undefined;
  if (needJson && !o.isJson) {
    out.push({ check: 'body', expected: 'a JSON body', actual: '(not JSON)', message: 'expected a JSON body, got one that does not parse' });
    return out;
  }
  if (e.body !== undefined) {
    const ms = match(e.body, body, 'exact');
    if (ms.length) out.push({ check: 'body', expected: e.body, actual: body, message: `body differs: ${mismatchText(ms)}` });
  }
  if (e.body_includes !== undefined) {
    const ms = match(e.body_includes, body, 'includes');
    if (ms.length) out.push({ check: 'body_includes', expected: e.body_includes, actual: body, message: `body lacks what is expected: ${mismatchText(ms)}` });
  }
  if (e.schema !== undefined) {
    const validate = getValidator(e.schema);
    if (!validate(body)) out.push({ check: 'schema', expected: `a body valid against ${e.schema}`, actual: body, message: `body does not satisfy schema ${e.schema}: ${describeErrors(validate.errors).slice(0, 5).join('; ')}` });
  }
  if (e.list !== undefined) out.push(...checkList(e.list, body));
  return out;
}

function checkList(l: NonNullable<Expectation['list']>, body: unknown): CheckOutcome[] {
  const arr = pointer(body, l.at);
  if (!Array.isArray(arr)) return [{ check: 'list', expected: `an array at ${l.at}`, actual: arr, message: `expected an array at ${l.at}, got ${arr === undefined ? 'nothing' : JSON.stringify(arr).slice(0, 80)}` }];
  const out: CheckOutcome[] = [];
  const wanted = l.exactly ?? l.includes ?? [];
  // Each pattern claims a distinct item, so two expected pushers are not both satisfied by one.
  const free = arr.map((_, i) => i);
  const missing: unknown[] = [];
  for (const pattern of wanted) {
    const idx = free.findIndex((i) => match(pattern, arr[i], 'includes').length === 0);
    if (idx === -1) missing.push(pattern);
    else free.splice(idx, 1);
  }
  if (missing.length) {
    const closest = missing.map((p) => {
      const best = arr.map((item) => match(p, item, 'includes')).sort((a, b) => a.length - b.length)[0];
      return best ? ` (closest item differs ${mismatchText(best)})` : ' (the list is empty)';
    });
    out.push({ check: 'list', expected: wanted, actual: arr, message: `${l.at} lacks ${missing.length} expected item(s): ${missing.map((m, i) => JSON.stringify(m).slice(0, 160) + closest[i]).join('; ')}` });
  }
  if (l.exactly !== undefined && arr.length !== l.exactly.length) {
    out.push({ check: 'list', expected: l.exactly, actual: arr, message: `${l.at} should hold exactly ${l.exactly.length} item(s), holds ${arr.length}` });
  }
  for (const pattern of l.excludes ?? []) {
    const hit = arr.find((item) => match(pattern, item, 'includes').length === 0);
    if (hit !== undefined) out.push({ check: 'list', expected: { excludes: pattern }, actual: arr, message: `${l.at} holds an item it must not: ${JSON.stringify(hit).slice(0, 200)}` });
  }
  return out;
}
