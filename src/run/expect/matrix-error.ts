import { problemsOf } from '../../schemas.js';
import type { ExpectKind } from '../kinds.js';

/**
 * `matrix_error: true`: an error answer (status 400 or above) is a standard
 * error response, valid against the `matrix-error` schema. A success says
 * nothing about the shape of errors, so it holds there: whether the status
 * itself was right is the business of the status check beside it.
 */
export const matrixErrorKind: ExpectKind = {
  name: 'matrix_error',
  schema: { const: true },
  readsBody: true,
  resolves: false,
  steps: ['request'],
  evaluate(_value, o) {
    if (o.status === undefined || o.status < 400) return [];
    if (!o.isJson) return [{ check: 'matrix_error', expected: 'a JSON error object with errcode and error', actual: '(not JSON)', message: `the ${o.status} answer is not JSON, so not a standard error response` }];
    const problems = problemsOf('matrix-error', o.json, 3);
    return problems.length === 0 ? [] : [{ check: 'matrix_error', expected: 'a JSON object with string errcode and string error', actual: o.json, message: `the ${o.status} answer is not a standard error response: ${problems.join('; ')}` }];
  },
};
