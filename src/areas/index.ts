/**
 * What the areas of spec/areas.yaml bring to the runner beyond data: their
 * own expectation kinds, registered here once. An area with none needs no
 * line.
 */
import type { ExpectKind } from '../run/kinds.js';
import { pushRuleKind, rulesetKind } from './pushrules/expect.js';

export const AREA_EXPECT_KINDS: readonly ExpectKind[] = [rulesetKind, pushRuleKind];
