/**
 * The registry of step kinds: one file each. A new kind (waiting for a push
 * notification, …) is a new file and one line here.
 */
import type { StepKind } from '../kinds.js';
import { awaitNotificationKind } from './await-notification.js';
import { expectNoNotificationKind } from './expect-no-notification.js';
import { gatewayAnswerKind } from './gateway-answer.js';
import { requestKind } from './request.js';
import { waitKind } from './wait.js';

const KINDS: StepKind[] = [requestKind, awaitNotificationKind, expectNoNotificationKind, gatewayAnswerKind, waitKind];

export const stepKinds = {
  get all(): readonly StepKind[] {
    return KINDS;
  },
  get: (name: string): StepKind | undefined => KINDS.find((k) => k.name === name),
  /** Adds a kind (for areas that live outside the runner's own folder). */
  register(kind: StepKind): void {
    if (KINDS.some((k) => k.name === kind.name)) throw new Error(`step kind ${kind.name} is registered twice`);
    KINDS.push(kind);
  },
};
