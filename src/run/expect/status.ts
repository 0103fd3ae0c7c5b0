import type { ExpectKind } from '../kinds.js';
import { asList } from './common.js';

const status = { type: 'integer', minimum: 100, maximum: 599 };

/** `status: 200` or `status: [200, 404]`: the HTTP status is one of these. */
export const statusKind: ExpectKind = {
  name: 'status',
  schema: { oneOf: [status, { type: 'array', minItems: 1, items: status }] },
  readsBody: false,
  resolves: false,
  steps: ['request'],
  evaluate(value, o) {
    const want = asList(value as number | number[]);
    return o.status !== undefined && want.includes(o.status) ? [] : [{ check: 'status', expected: value, actual: o.status, message: `expected status ${want.join(' or ')}, got ${o.status ?? 'none'}` }];
  },
};
