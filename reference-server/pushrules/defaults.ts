/**
 * The server-default push rules: every rule any spec version from v1.1 to the
 * newest defines, with its conditions and actions as the newest version
 * defining it writes them, in the order of v1.6 and later (v1.6 corrected the
 * order of the override rules as a clarification).
 *
 * The three legacy mention rules (`.m.rule.contains_display_name`,
 * `.m.rule.roomnotif`, `.m.rule.contains_user_name`) are kept after v1.17
 * removed them from the list: every version lets a homeserver add
 * server-default rules of its own, and without them a server would not conform
 * to v1.1–v1.16, which require them. As v1.7 asks, they do not match events
 * that have an `m.mentions` property (see evaluate.ts).
 */
import type { Json, JsonObject } from '../json.js';
import type { PushRuleSemantics } from './semantics.js';
import type { Kind, RuleJson } from './types.js';

interface UserNames {
  readonly userId: string;
  /** The local part of the user id: `alice` for `@alice:example.org`. */
  readonly localpart: string;
}

interface DefaultRule {
  readonly kind: Kind;
  readonly ruleId: string;
  /** The minor v1 version that first specifies it. */
  readonly since: number;
  readonly legacyMention?: true;
  readonly enabled: boolean;
  readonly conditions?: (user: UserNames) => JsonObject[];
  readonly pattern?: (user: UserNames) => string;
  readonly actions: readonly Json[];
  /** Its actions before v1.7, where they were written differently. */
  readonly actionsBeforeV17?: readonly Json[];
}

const match = (key: string, pattern: string): JsonObject => ({ kind: 'event_match', key, pattern });
const NOTIFY_SOUND: readonly Json[] = ['notify', { set_tweak: 'sound', value: 'default' }];
const NOTIFY_SOUND_HIGHLIGHT: readonly Json[] = ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }];
const NOTIFY_HIGHLIGHT: readonly Json[] = ['notify', { set_tweak: 'highlight' }];

const RULES: readonly DefaultRule[] = [
  { kind: 'override', ruleId: '.m.rule.master', since: 1, enabled: false, conditions: () => [], actions: [], actionsBeforeV17: ['dont_notify'] },
  {
    kind: 'override',
    ruleId: '.m.rule.suppress_notices',
    since: 1,
    enabled: true,
    conditions: () => [match('content.msgtype', 'm.notice')],
    actions: [],
    actionsBeforeV17: ['dont_notify'],
  },
  {
    kind: 'override',
    ruleId: '.m.rule.invite_for_me',
    since: 1,
    enabled: true,
    conditions: (u) => [match('type', 'm.room.member'), match('content.membership', 'invite'), match('state_key', u.userId)],
    actions: NOTIFY_SOUND,
  },
  { kind: 'override', ruleId: '.m.rule.member_event', since: 1, enabled: true, conditions: () => [match('type', 'm.room.member')], actions: [], actionsBeforeV17: ['dont_notify'] },
  {
    kind: 'override',
    ruleId: '.m.rule.is_user_mention',
    since: 7,
    enabled: true,
    conditions: (u) => [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: u.userId }],
    actions: NOTIFY_SOUND_HIGHLIGHT,
  },
  { kind: 'override', ruleId: '.m.rule.contains_display_name', since: 1, legacyMention: true, enabled: true, conditions: () => [{ kind: 'contains_display_name' }], actions: NOTIFY_SOUND_HIGHLIGHT },
  {
    kind: 'override',
    ruleId: '.m.rule.is_room_mention',
    since: 7,
    enabled: true,
    conditions: (): JsonObject[] => [
      { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
      { kind: 'sender_notification_permission', key: 'room' },
    ],
    actions: NOTIFY_HIGHLIGHT,
  },
  {
    kind: 'override',
    ruleId: '.m.rule.roomnotif',
    since: 1,
    legacyMention: true,
    enabled: true,
    conditions: () => [match('content.body', '@room'), { kind: 'sender_notification_permission', key: 'room' }],
    actions: NOTIFY_HIGHLIGHT,
  },
  { kind: 'override', ruleId: '.m.rule.tombstone', since: 1, enabled: true, conditions: () => [match('type', 'm.room.tombstone'), match('state_key', '')], actions: NOTIFY_HIGHLIGHT },
  { kind: 'override', ruleId: '.m.rule.reaction', since: 7, enabled: true, conditions: () => [match('type', 'm.reaction')], actions: [] },
  { kind: 'override', ruleId: '.m.rule.room.server_acl', since: 4, enabled: true, conditions: () => [match('type', 'm.room.server_acl'), match('state_key', '')], actions: [] },
  {
    kind: 'override',
    ruleId: '.m.rule.suppress_edits',
    since: 9,
    enabled: true,
    conditions: () => [{ kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' }],
    actions: [],
  },
  { kind: 'content', ruleId: '.m.rule.contains_user_name', since: 1, legacyMention: true, enabled: true, pattern: (u) => u.localpart, actions: NOTIFY_SOUND_HIGHLIGHT },
  { kind: 'underride', ruleId: '.m.rule.call', since: 1, enabled: true, conditions: () => [match('type', 'm.call.invite')], actions: ['notify', { set_tweak: 'sound', value: 'ring' }] },
  {
    kind: 'underride',
    ruleId: '.m.rule.encrypted_room_one_to_one',
    since: 1,
    enabled: true,
    conditions: () => [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.encrypted')],
    actions: NOTIFY_SOUND,
  },
  {
    kind: 'underride',
    ruleId: '.m.rule.room_one_to_one',
    since: 1,
    enabled: true,
    conditions: () => [{ kind: 'room_member_count', is: '2' }, match('type', 'm.room.message')],
    actions: NOTIFY_SOUND,
  },
  { kind: 'underride', ruleId: '.m.rule.message', since: 1, enabled: true, conditions: () => [match('type', 'm.room.message')], actions: ['notify'] },
  { kind: 'underride', ruleId: '.m.rule.encrypted', since: 1, enabled: true, conditions: () => [match('type', 'm.room.encrypted')], actions: ['notify'] },
];

export const MASTER_RULE_ID = '.m.rule.master';

/** A server-default rule for one user, as the spec writes it and GET lists it (before any change the user made). */
export interface UserDefault {
  readonly kind: Kind;
  readonly ruleId: string;
  readonly legacyMention: boolean;
  readonly json: RuleJson;
}

/** The server-default rules a user has, in order, under the given semantics. */
export function defaultRules(userId: string, semantics: PushRuleSemantics): UserDefault[] {
  const names: UserNames = { userId, localpart: localpartOf(userId) };
  return RULES.filter((rule) => rule.since <= semantics.minor).map((rule) => {
    const actions = !semantics.deprecatedActionsIgnored && rule.actionsBeforeV17 !== undefined ? rule.actionsBeforeV17 : rule.actions;
    const json: RuleJson = { rule_id: rule.ruleId, default: true, enabled: rule.enabled, actions: structuredClone([...actions]) };
    if (rule.conditions !== undefined) json.conditions = rule.conditions(names);
    if (rule.pattern !== undefined) json.pattern = rule.pattern(names);
    return { kind: rule.kind, ruleId: rule.ruleId, legacyMention: rule.legacyMention === true, json };
  });
}

function localpartOf(userId: string): string {
  const colon = userId.indexOf(':');
  return userId.slice(1, colon === -1 ? undefined : colon);
}
