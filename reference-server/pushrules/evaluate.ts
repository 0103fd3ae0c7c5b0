/**
 * Evaluation of a user's push rules for one event: the rules are checked in
 * order (override, content, room, sender, underride; within a kind, in the
 * user's order), disabled rules never match, and the first rule that matches
 * decides. Its actions say whether the event notifies and with which tweaks; an
 * event no rule matches does not notify.
 */
import { isJsonObject, type Json, type JsonObject } from '../json.js';
import type { NotificationPolicy, PushDecision } from '../push/delivery.js';
import type { EventFacts, MessageEvent } from '../rooms/routes.js';
import { conditionMatches, eventMatch, type ConditionInput } from './conditions.js';
import type { PushRuleSemantics } from './semantics.js';
import type { EffectiveRule } from './types.js';

/** What the first matching rule decided. */
export interface Outcome {
  /** The rule that matched, as `kind/rule_id`; undefined when none did. */
  readonly rule: string | undefined;
  readonly notify: boolean;
  /** The tweaks its actions set, in order (a later one of the same name wins). */
  readonly tweaks: ReadonlyMap<string, Json>;
}

export function evaluate(rules: Iterable<EffectiveRule>, input: ConditionInput, semantics: PushRuleSemantics): Outcome {
  for (const rule of rules) {
    if (!rule.enabled || !ruleMatches(rule, input, semantics)) continue;
    return { rule: `${rule.kind}/${rule.ruleId}`, ...readActions(rule.actions, semantics) };
  }
  return { rule: undefined, notify: false, tweaks: new Map() };
}

function ruleMatches(rule: EffectiveRule, input: ConditionInput, semantics: PushRuleSemantics): boolean {
  // v1.7: the legacy mention rules "should only be enabled if the event does not have an m.mentions property".
  if (rule.legacyMention && semantics.mentions && hasMentions(input.event)) return false;
  switch (rule.kind) {
    case 'override':
    case 'underride': {
      const conditions = rule.conditions ?? [];
      return Array.isArray(conditions) && conditions.every((condition) => conditionMatches(condition, input, semantics));
    }
    case 'content':
      return typeof rule.pattern === 'string' && eventMatch({ key: 'content.body', pattern: rule.pattern }, input.event);
    case 'room':
      return input.event.room_id === rule.ruleId;
    case 'sender':
      return input.event.sender === rule.ruleId;
  }
}

function hasMentions(event: JsonObject): boolean {
  return isJsonObject(event.content) && Object.hasOwn(event.content, 'm.mentions');
}

/**
 * `notify` notifies. `set_tweak` sets a tweak: its `value`, or true when it has
 * none (the spec defines that for `highlight`; other tweaks pass through as
 * set). Any other action is ignored. Before v1.7 `coalesce` notifies (this server
 * does not coalesce) and `dont_notify` forbids; from v1.7 both are ignored.
 */
export function readActions(actions: Json, semantics: PushRuleSemantics): { notify: boolean; tweaks: Map<string, Json> } {
  const tweaks = new Map<string, Json>();
  if (!Array.isArray(actions)) return { notify: false, tweaks };
  let notify = false;
  let forbidden = false;
  for (const action of actions) {
    if (action === 'notify') notify = true;
    else if (action === 'coalesce' && !semantics.deprecatedActionsIgnored) notify = true;
    else if (action === 'dont_notify' && !semantics.deprecatedActionsIgnored) forbidden = true;
    else if (isJsonObject(action) && typeof action.set_tweak === 'string') tweaks.set(action.set_tweak, Object.hasOwn(action, 'value') ? (action.value as Json) : true);
  }
  return { notify: notify && !forbidden, tweaks };
}

/** The tweaks as the JSON text of an object (built by hand: a tweak may be named `__proto__`). */
export function tweaksJson(tweaks: ReadonlyMap<string, Json>): string {
  return `{${[...tweaks].map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`).join(',')}}`;
}

/** Where the policy reads each user's rules, in the order they are checked. */
export interface RuleSource {
  rules(userId: string): Iterable<EffectiveRule>;
}

/** Delivery's policy: a user is notified of an event when their push rules say so. */
export class PushRulePolicy implements NotificationPolicy {
  readonly #store: RuleSource;
  readonly #semantics: PushRuleSemantics;
  readonly #displayName: (userId: string) => string | undefined;

  constructor(store: RuleSource, semantics: PushRuleSemantics, displayName: (userId: string) => string | undefined) {
    this.#store = store;
    this.#semantics = semantics;
    this.#displayName = displayName;
  }

  decide(userId: string, event: MessageEvent, facts: EventFacts): PushDecision | undefined {
    const outcome = this.outcome(userId, event, facts);
    return outcome.notify ? { tweaks: tweaksJson(outcome.tweaks) } : undefined;
  }

  /** The whole outcome, for tests and logs. */
  outcome(userId: string, event: MessageEvent, facts: EventFacts): Outcome {
    const shape: JsonObject = { event_id: event.eventId, room_id: event.roomId, sender: event.sender, type: event.type, content: facts.content };
    if (event.stateKey !== undefined) shape.state_key = event.stateKey;
    const input: ConditionInput = {
      event: shape,
      memberCount: facts.memberCount,
      senderLevel: facts.senderLevel,
      notificationLevel: (key) => facts.notificationLevel(key),
      displayName: this.#displayName(userId),
    };
    return evaluate(this.#store.rules(userId), input, this.#semantics);
  }
}
