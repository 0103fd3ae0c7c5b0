import { hasSchema, problemsOf } from '../../schemas.js';
import type { ExpectKind } from '../kinds.js';
import { BODY_STEPS, notJson } from './common.js';

/** `schema: ID`: the body satisfies the JSON Schema with this $id in spec/schemas. */
export const schemaKind: ExpectKind = {
  name: 'schema',
  schema: { type: 'string', minLength: 1 },
  readsBody: true,
  resolves: false,
  steps: BODY_STEPS,
  check(value, path, out) {
    if (typeof value === 'string' && !hasSchema(value)) out.push([path, `no schema with $id "${value}" in spec/schemas`]);
  },
  evaluate(value, o) {
    const bad = notJson(o);
    if (bad) return bad;
    const problems = problemsOf(value as string, o.json, 5);
    return problems.length === 0 ? [] : [{ check: 'schema', expected: `a body valid against ${String(value)}`, actual: o.json, message: `body does not satisfy schema ${String(value)}: ${problems.join('; ')}` }];
  },
};
