import type { Mismatch } from '../../cases/values.js';
import type { CheckOutcome, Observed } from '../kinds.js';

export const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

export function mismatchText(ms: Mismatch[]): string {
  return ms.slice(0, 8).map((m) => `at ${m.path || '/'}: ${m.reason}`).join('; ') + (ms.length > 8 ? `; and ${ms.length - 8} more` : '');
}

/** The outcome of a check that reads a body that is not JSON. */
export function notJson(o: Observed): CheckOutcome[] | undefined {
  return o.isJson ? undefined : [{ check: 'body', expected: 'a JSON body', actual: '(not JSON)', message: 'expected a JSON body, got one that does not parse' }];
}

/** Every step kind that observes a JSON body. */
export const BODY_STEPS = ['request', 'await_notification', 'expect_no_notification'] as const;
