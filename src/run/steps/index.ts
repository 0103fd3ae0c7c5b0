/**
 * The core's own step kinds. Those the areas bring (push delivery's waits for
 * pokes, …) are composed in above the runner (src/kinds.ts), which gives a
 * run the whole set (RunOptions.kinds): the core never imports an area.
 */
import type { StepKind } from '../kinds.js';
import { requestKind } from './request.js';

export const CORE_STEP_KINDS: readonly StepKind[] = [requestKind];
