/**
 * The options of the push rules, and the caps that keep the rules users store
 * within a bounded amount of memory (same convention as ../limits.ts: a positive
 * integer, or Infinity to lift the cap).
 */
import { checkCap } from '../limits.js';

export interface PushRuleOptions {
  /**
   * Rules one user may define, all kinds together (server-default rules are not
   * counted); replacing one of them in place is always allowed. Default 100.
   */
  maxPushRulesPerUser?: number;
  /**
   * One rule as GET lists it, serialised as JSON, in UTF-8 bytes; also bounds the
   * actions a user sets on a server-default rule. Default 8 KiB.
   */
  maxPushRuleBytes?: number;
  /**
   * One user's rules together, as JSON, in UTF-8 bytes (with the actions they
   * set on server-default rules). Besides memory, it bounds the time evaluating
   * one user's rules takes: a glob costs (pattern length × value length / 32)
   * steps. Default 32 KiB.
   */
  maxPushRuleBytesPerUser?: number;
  /**
   * Every user's rules together, each counted as its JSON size plus 512 bytes
   * (changes to server-default rules too). Default 16 MiB.
   */
  maxPushRuleStorageBytes?: number;
  /**
   * The spec version whose push-rule semantics the server follows where versions
   * contradict each other (pushrules/semantics.ts), such as "v1.6". Default: the
   * newest v1 version the server advertises.
   */
  pushRulesVersion?: string;
}

export interface PushRuleLimits {
  readonly maxPushRulesPerUser: number;
  readonly maxPushRuleBytes: number;
  readonly maxPushRuleBytesPerUser: number;
  readonly maxPushRuleStorageBytes: number;
}

export const DEFAULT_PUSH_RULE_LIMITS: PushRuleLimits = Object.freeze({
  // A conformance case defines one to three rules; a real user has a few dozen
  // (one per muted room or keyword). 100 also bounds GET /pushrules: 100 × 8 KiB.
  maxPushRulesPerUser: 100,
  // A rule with a handful of conditions is a few hundred bytes; 8 KiB leaves room for
  // long keyword patterns and custom tweaks.
  maxPushRuleBytes: 8 * 1024,
  // A hundred rules of 300 bytes. At the cap, the worst patterns against a body of
  // 64 KiB take about a second per event for that user (README, "Push rules").
  maxPushRuleBytesPerUser: 32 * 1024,
  // About 20 000 rules of a case's size (about 300 bytes and the 512 counted besides).
  maxPushRuleStorageBytes: 16 * 1024 * 1024,
});

/** What a stored rule costs besides its JSON text: its record, and its place in the user's lists. */
export const PUSH_RULE_OVERHEAD_BYTES = 512;

export function resolvePushRuleLimits(options: PushRuleOptions): PushRuleLimits {
  const entries = Object.entries(DEFAULT_PUSH_RULE_LIMITS).map(([key, fallback]) => {
    const value = options[key as keyof PushRuleLimits] ?? fallback;
    checkCap(key, value);
    return [key, value];
  });
  return Object.freeze(Object.fromEntries(entries) as unknown as PushRuleLimits);
}
