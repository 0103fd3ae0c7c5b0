/**
 * What the areas of spec/areas.yaml bring to the runner beyond data: their
 * own step and expectation kinds, registered here once (src/kinds.ts, above
 * both, composes them with the core's; the core never imports this folder,
 * which sits above it). An area that brings none needs no line;
 * one that does adds its folder under src/areas/ and one line to each list.
 * Services an area offers (push delivery's mock gateway) are started by the
 * composition root, src/cli/run.ts, from the area's own entry.
 */
import type { ExpectKind, StepKind } from '../run/kinds.js';
import { arrivedKind } from './delivery/arrived.js';
import { awaitNotificationKind } from './delivery/steps/await-notification.js';
import { expectNoNotificationKind } from './delivery/steps/expect-no-notification.js';
import { gatewayAnswerKind } from './delivery/steps/gateway-answer.js';
import { waitKind } from './delivery/steps/wait.js';
import { pushRuleKind, rulesetKind } from './pushrules/expect.js';

/** Push delivery: waiting for pokes at the mock gateway, and telling it how to answer. */
const DELIVERY = { steps: [awaitNotificationKind, expectNoNotificationKind, gatewayAnswerKind, waitKind], expects: [arrivedKind] };
/** Push rules: comparing rules by what they do. */
const PUSHRULES = { steps: [], expects: [rulesetKind, pushRuleKind] };

const AREAS: ReadonlyArray<{ steps: readonly StepKind[]; expects: readonly ExpectKind[] }> = [DELIVERY, PUSHRULES];

export const AREA_STEP_KINDS: readonly StepKind[] = AREAS.flatMap((a) => a.steps);
export const AREA_EXPECT_KINDS: readonly ExpectKind[] = AREAS.flatMap((a) => a.expects);
