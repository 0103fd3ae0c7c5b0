import type { ExpectKind } from '../kinds.js';
import { asList } from './common.js';
import { shortJson } from '../../text.js';

const code = { type: 'string', pattern: '^[A-Z][A-Z0-9_.]*$' };

/**
 * `errcode: M_BAD_JSON`, a list of accepted codes, or `any` (an error body
 * with some string errcode, for rules that name none).
 */
export const errcodeKind: ExpectKind = {
  name: 'errcode',
  schema: { oneOf: [code, { const: 'any' }, { type: 'array', minItems: 1, items: code }] },
  readsBody: true,
  resolves: false,
  steps: ['request'],
  evaluate(value, o) {
    const body = o.json;
    const got = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { errcode?: unknown }).errcode : undefined;
    if (value === 'any' ? typeof got === 'string' && got !== '' : typeof got === 'string' && asList(value as string | string[]).includes(got)) return [];
    const want = value === 'any' ? 'a string errcode' : `errcode ${asList(value as string | string[]).join(' or ')}`;
    return [{ check: 'errcode', expected: value, actual: got ?? (o.isJson ? '(no errcode)' : '(body is not JSON)'), message: `expected ${want}, got ${got === undefined ? (o.isJson ? 'no errcode' : 'a body that is not JSON') : shortJson(got)}` }];
  },
};
