import type { ExpectKind } from '../../run/kinds.js';

/**
 * `arrived: true`: the step observed what it waited for (a notification).
 * When nothing arrives, the step's expectations that hold it fail, and the
 * step's other expectations (what the notification holds) are not judged:
 * a server that sends nothing fails the rule that it must send, not the
 * rules about what it sends.
 */
export const arrivedKind: ExpectKind = {
  name: 'arrived',
  schema: { const: true },
  readsBody: false,
  resolves: false,
  steps: ['await_notification'],
  judgesArrival: true,
  evaluate: () => [],
};
