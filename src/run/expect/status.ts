import type { StatusWant } from '../../cases/types.js';
import type { ExpectKind } from '../kinds.js';
import { asList } from './common.js';

const status = { oneOf: [{ type: 'integer', minimum: 100, maximum: 599 }, { type: 'string', pattern: '^[1-5]xx$', description: 'A class of statuses: "4xx" is any from 400 to 499.' }] };
/** The JSON Schema of a status, a class ("4xx"), or a list of them. */
export const statusSchema = { oneOf: [status, { type: 'array', minItems: 1, items: status }] };

/** Whether `got` is one of the statuses or classes wanted. */
export function statusMatches(want: StatusWant | StatusWant[], got: number | undefined): boolean {
  if (got === undefined) return false;
  return asList(want).some((w) => (typeof w === 'number' ? w === got : Math.floor(got / 100) === Number(w[0])));
}

/** `status: 200`, `status: [200, 404]` or `status: [200, 4xx]`: the HTTP status is one of these. */
export const statusKind: ExpectKind = {
  name: 'status',
  schema: statusSchema,
  readsBody: false,
  resolves: false,
  steps: ['request'],
  evaluate(value, o) {
    const want = asList(value as StatusWant | StatusWant[]);
    return statusMatches(want, o.status) ? [] : [{ check: 'status', expected: value, actual: o.status, message: `expected status ${want.join(' or ')}, got ${o.status ?? 'none'}` }];
  },
};
