/**
 * The registry of step kinds: the core's own (request), then those the areas
 * bring (src/areas/index.ts: push delivery's waits for pokes, …).
 */
import { AREA_STEP_KINDS } from '../../areas/index.js';
import type { StepKind } from '../kinds.js';
import { requestKind } from './request.js';

const KINDS: StepKind[] = [requestKind, ...AREA_STEP_KINDS];

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
