import type { ExpectKind } from '../kinds.js';

/**
 * `is_json: true`: the body is JSON text that a strict parser reads (RFC 8259):
 * no bare NaN or Infinity, nothing after the value, not empty. Its whole claim
 * is about the form of the body, so a body that is not JSON is its verdict,
 * where for other checks it is no verdict at all (see judgesJson).
 */
export const isJsonKind: ExpectKind = {
  name: 'is_json',
  schema: { const: true },
  readsBody: false,
  resolves: false,
  steps: ['request', 'await_notification'],
  judgesJson: true,
  evaluate: (_value, o) => (o.isJson ? [] : [{ check: 'is_json', expected: 'JSON text (RFC 8259)', actual: '(not JSON)', message: `the ${o.status === undefined ? 'body' : `${o.status} answer`} is not JSON text: a strict JSON parser refuses it` }]),
};
