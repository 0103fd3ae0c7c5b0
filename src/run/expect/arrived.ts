import type { ExpectKind } from '../kinds.js';

/**
 * `arrived: true`: the step observed what it waited for (a notification).
 * For rules that say only that something arrives, not what it holds: a step
 * that observed nothing has already failed every expectation.
 */
export const arrivedKind: ExpectKind = {
  name: 'arrived',
  schema: { const: true },
  readsBody: false,
  resolves: false,
  steps: ['await_notification'],
  evaluate: () => [],
};
