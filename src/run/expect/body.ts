import { checkOperators, match, references } from '../../cases/values.js';
import type { ExpectKind } from '../kinds.js';
import { BODY_STEPS, mismatchText, notJson } from './common.js';

/** `body: {...}`: the body equals this value exactly (generators and matchers allowed). */
export const bodyKind: ExpectKind = {
  name: 'body',
  schema: {},
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
    const ms = match(value, o.json, 'exact');
    return ms.length ? [{ check: 'body', expected: value, actual: o.json, message: `body differs: ${mismatchText(ms)}` }] : [];
  },
};

/** `body_includes: {...}`: the body holds this value; objects may have more members. */
export const bodyIncludesKind: ExpectKind = {
  ...bodyKind,
  name: 'body_includes',
  evaluate(value, o) {
    const bad = notJson(o);
    if (bad) return bad;
    const ms = match(value, o.json, 'includes');
    return ms.length ? [{ check: 'body_includes', expected: value, actual: o.json, message: `body lacks what is expected: ${mismatchText(ms)}` }] : [];
  },
};
