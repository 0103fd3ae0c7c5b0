import type { Json, JsonObject } from '../json.js';

/** The kinds of push rule, in the order they are checked. */
export const KINDS = ['override', 'content', 'room', 'sender', 'underride'] as const;
export type Kind = (typeof KINDS)[number];

export function isKind(value: string): value is Kind {
  return (KINDS as readonly string[]).includes(value);
}

/** A rule as evaluation reads it: a server-default rule, or a user's own, parsed. */
export interface EffectiveRule {
  readonly kind: Kind;
  readonly ruleId: string;
  readonly isDefault: boolean;
  readonly enabled: boolean;
  /** override and underride rules; absent is no conditions (always matches). */
  readonly conditions?: Json;
  /** content rules. */
  readonly pattern?: Json;
  readonly actions: Json;
  /**
   * The three rules that looked for mentions in the body (deprecated in v1.7 for
   * events with `m.mentions`, removed from the spec in v1.17).
   */
  readonly legacyMention: boolean;
}

/** A server-default rule as GET /pushrules lists it. */
export type RuleJson = JsonObject & { rule_id: string; default: boolean; enabled: boolean; actions: Json[] };
