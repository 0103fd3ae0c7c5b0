import { checkOperators, match, pointer, references } from '../../cases/values.js';
import { shortJson } from '../../text.js';
import type { CheckOutcome, ExpectKind } from '../kinds.js';
import { BODY_STEPS, mismatchText, notJson } from './common.js';

interface ListCheck {
  at: string;
  exactly?: unknown[];
  includes?: unknown[];
  excludes?: unknown[];
}

const short = (v: unknown, n: number): string => shortJson(v, n);

/**
 * `list: {at, exactly | includes | excludes}`: the array at a JSON pointer
 * holds exactly these items (in any order), includes each of them, or none.
 * Items are matched as body_includes; each pattern claims a distinct item.
 */
export const listKind: ExpectKind = {
  name: 'list',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['at'],
    minProperties: 2,
    properties: {
      at: { type: 'string', pattern: '^(/.*)?$', description: 'JSON pointer to an array in the body.' },
      exactly: { type: 'array', description: 'The array holds exactly these items, in any order.' },
      includes: { type: 'array', description: 'Each pattern is matched by a distinct item.' },
      excludes: { type: 'array', description: 'No item matches any of these patterns.' },
    },
  },
  readsBody: true,
  resolves: true,
  steps: BODY_STEPS,
  check(value, path, out, refs) {
    checkOperators(value, path, true, out);
    references(value, refs);
  },
  evaluate(value, o) {
    const bad = notJson(o);
    if (bad) return bad;
    const l = value as ListCheck;
    const arr = pointer(o.json, l.at);
    if (!Array.isArray(arr)) return [{ check: 'list', expected: `an array at ${l.at}`, actual: arr, message: `expected an array at ${l.at}, got ${arr === undefined ? 'nothing' : short(arr, 80)}` }];
    const out: CheckOutcome[] = [];
    const wanted = l.exactly ?? l.includes ?? [];
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
      out.push({ check: 'list', expected: wanted, actual: arr, message: `${l.at} lacks ${missing.length} expected item(s): ${missing.map((m, i) => short(m, 160) + closest[i]).join('; ')}` });
    }
    if (l.exactly !== undefined && arr.length !== l.exactly.length) out.push({ check: 'list', expected: l.exactly, actual: arr, message: `${l.at} should hold exactly ${l.exactly.length} item(s), holds ${arr.length}` });
    for (const pattern of l.excludes ?? []) {
      const hit = arr.find((item) => match(pattern, item, 'includes').length === 0);
      if (hit !== undefined) out.push({ check: 'list', expected: { excludes: pattern }, actual: arr, message: `${l.at} holds an item it must not: ${short(hit, 200)}` });
    }
    return out;
  },
};
