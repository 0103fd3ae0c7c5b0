/**
 * Every user's push rules, in memory: the rules they defined, in priority order
 * per kind, and what they changed of the server-default rules (enabled, actions).
 * The server-default rules themselves are not stored per user; they are made
 * for the user when read (defaults.ts).
 *
 * A user rule is kept as the JSON text GET returns, as pushers are: parsed, a
 * rule of many small arrays could take many times its size, and the storage cap
 * counts bytes of text. Every method is synchronous, so that a route's
 * check-then-change is atomic, and a refused change changes nothing.
 */
import { defaultRules, MASTER_RULE_ID, type UserDefault } from './defaults.js';
import { PUSH_RULE_OVERHEAD_BYTES, type PushRuleLimits } from './limits.js';
import type { PushRuleSemantics } from './semantics.js';
import { KINDS, type EffectiveRule, type Kind } from './types.js';

interface UserRule {
  readonly ruleId: string;
  enabled: boolean;
  /** The JSON members that say what the rule matches, e.g. `,"conditions":[…]`, or "". */
  readonly matchJson: string;
  /** The actions array, as JSON text. */
  actionsJson: string;
  /** The size of the rule as JSON, in UTF-8 bytes. */
  bytes: number;
}

interface DefaultChange {
  enabled?: boolean;
  actionsJson?: string;
  /** The size of the actions set, as JSON (0 when only `enabled` changed). */
  bytes: number;
}

interface UserRules {
  readonly lists: Record<Kind, UserRule[]>;
  /** `kind/ruleId` of a server-default rule → what the user changed of it. */
  readonly changes: Map<string, DefaultChange>;
  count: number;
  /** The JSON bytes of every rule and change of the user's (maxPushRuleBytesPerUser). */
  bytes: number;
}

/** Where a new or replaced rule goes: next to another of the user's rules, or by default. */
export interface Placement {
  readonly before?: string;
  readonly after?: string;
}

export type StoreRefusal =
  | { code: 'not-found' }
  | { code: 'default-rule' }
  | { code: 'anchor-not-found'; anchor: string }
  | { code: 'anchor-default'; anchor: string }
  | { code: 'too-large'; bytes: number }
  | { code: 'user-full' }
  | { code: 'user-bytes-full' }
  | { code: 'storage-full' };

/** One entry of a kind's list, in priority order: a user rule, or a server-default rule with the user's changes. */
type Entry = { user: UserRule } | { default: UserDefault; change: DefaultChange | undefined };

export class PushRuleStore {
  readonly #limits: PushRuleLimits;
  readonly #semantics: PushRuleSemantics;
  readonly #users = new Map<string, UserRules>();
  /** Each user's server-default rules, built once (frozen: evaluation shares them) for the most recent users. */
  readonly #defaults = new Map<string, readonly UserDefault[]>();
  #bytes = 0;

  constructor(limits: PushRuleLimits, semantics: PushRuleSemantics) {
    this.#limits = limits;
    this.#semantics = semantics;
  }

  /** Bytes charged against maxPushRuleStorageBytes, for tests and the README's figures. */
  get storedBytes(): number {
    return this.#bytes;
  }

  /** The user's ruleset as JSON text: an object with one array per kind, each in priority order. */
  rulesetJson(userId: string): string {
    const defaults = this.#defaultsOf(userId);
    const parts = KINDS.map((kind) => `${JSON.stringify(kind)}:[${this.#entries(userId, kind, defaults).map(entryJson).join(',')}]`);
    return `{${parts.join(',')}}`;
  }

  /** One rule as JSON text, or undefined when the user has no such rule. */
  ruleJson(userId: string, kind: Kind, ruleId: string): string | undefined {
    const entry = this.#find(userId, kind, ruleId);
    return entry === undefined ? undefined : entryJson(entry);
  }

  enabled(userId: string, kind: Kind, ruleId: string): boolean | undefined {
    const entry = this.#find(userId, kind, ruleId);
    if (entry === undefined) return undefined;
    return 'user' in entry ? entry.user.enabled : (entry.change?.enabled ?? entry.default.json.enabled);
  }

  actionsJson(userId: string, kind: Kind, ruleId: string): string | undefined {
    const entry = this.#find(userId, kind, ruleId);
    if (entry === undefined) return undefined;
    return 'user' in entry ? entry.user.actionsJson : (entry.change?.actionsJson ?? JSON.stringify(entry.default.json.actions));
  }

  /**
   * Creates or replaces a user rule. A new rule is enabled and, without a
   * placement, the most important of its kind; a replaced one keeps its
   * enabled state and, without a placement, its place. `before` wins over `after`.
   */
  put(userId: string, kind: Kind, ruleId: string, matchJson: string, actionsJson: string, placement: Placement): StoreRefusal | undefined {
    const state = this.#state(userId);
    const list = state.lists[kind];
    const index = list.findIndex((rule) => rule.ruleId === ruleId);
    const existing = list[index];
    if (existing === undefined && state.count >= this.#limits.maxPushRulesPerUser) return { code: 'user-full' };
    const rule: UserRule = { ruleId, enabled: existing?.enabled ?? true, matchJson, actionsJson, bytes: 0 };
    rule.bytes = Buffer.byteLength(userRuleJson(rule), 'utf8');
    const refusal = this.#admit(state, rule.bytes, existing?.bytes);
    if (refusal !== undefined) return refusal;
    const target = this.#position(list, ruleId, index, placement);
    if (typeof target !== 'number') return target;

    if (existing === undefined) state.count += 1;
    else list.splice(index, 1);
    list.splice(target, 0, rule);
    this.#charge(state, rule.bytes, existing?.bytes);
    return undefined;
  }

  /** Deletes one of the user's own rules; server-default rules cannot be deleted. */
  delete(userId: string, kind: Kind, ruleId: string): StoreRefusal | undefined {
    const entry = this.#find(userId, kind, ruleId);
    if (entry === undefined) return { code: 'not-found' };
    if (!('user' in entry)) return { code: 'default-rule' };
    const state = this.#state(userId);
    const list = state.lists[kind];
    list.splice(list.indexOf(entry.user), 1);
    state.count -= 1;
    this.#charge(state, undefined, entry.user.bytes);
    this.#forgetIfEmpty(userId, state);
    return undefined;
  }

  setEnabled(userId: string, kind: Kind, ruleId: string, enabled: boolean): StoreRefusal | undefined {
    const entry = this.#find(userId, kind, ruleId);
    if (entry === undefined) return { code: 'not-found' };
    if ('user' in entry) {
      entry.user.enabled = enabled;
      return undefined;
    }
    return this.#changeDefault(userId, entry, { enabled });
  }

  setActions(userId: string, kind: Kind, ruleId: string, actionsJson: string): StoreRefusal | undefined {
    const entry = this.#find(userId, kind, ruleId);
    if (entry === undefined) return { code: 'not-found' };
    if (!('user' in entry)) return this.#changeDefault(userId, entry, { actionsJson });
    const state = this.#state(userId);
    const bytes = Buffer.byteLength(userRuleJson({ ...entry.user, actionsJson }), 'utf8');
    const refusal = this.#admit(state, bytes, entry.user.bytes);
    if (refusal !== undefined) return refusal;
    this.#charge(state, bytes, entry.user.bytes);
    entry.user.actionsJson = actionsJson;
    entry.user.bytes = bytes;
    return undefined;
  }

  /** The user's rules in the order they are checked, parsed one at a time as evaluation asks for them. */
  *rules(userId: string): Generator<EffectiveRule> {
    const defaults = this.#defaultsOf(userId);
    for (const kind of KINDS) {
      for (const entry of this.#entries(userId, kind, defaults)) yield effective(kind, entry);
    }
  }

  #entries(userId: string, kind: Kind, defaults: readonly UserDefault[]): Entry[] {
    const state = this.#users.get(userId);
    const own: Entry[] = (state?.lists[kind] ?? []).map((user) => ({ user }));
    const server: Entry[] = defaults.filter((d) => d.kind === kind).map((d) => ({ default: d, change: state?.changes.get(changeKey(kind, d.ruleId)) }));
    // Server-default rules rank below the user's own, except master from v1.5.
    const master = this.#semantics.masterFirst ? server.filter((e) => 'default' in e && e.default.ruleId === MASTER_RULE_ID) : [];
    return [...master, ...own, ...server.filter((e) => !master.includes(e))];
  }

  #defaultsOf(userId: string): readonly UserDefault[] {
    let defaults = this.#defaults.get(userId);
    if (defaults === undefined) {
      if (this.#defaults.size >= DEFAULTS_KEPT) this.#defaults.clear();
      defaults = deepFreeze(defaultRules(userId, this.#semantics));
      this.#defaults.set(userId, defaults);
    }
    return defaults;
  }

  #find(userId: string, kind: Kind, ruleId: string): Entry | undefined {
    const state = this.#users.get(userId);
    const own = state?.lists[kind].find((rule) => rule.ruleId === ruleId);
    if (own !== undefined) return { user: own };
    const server = this.#defaultsOf(userId).find((d) => d.kind === kind && d.ruleId === ruleId);
    return server === undefined ? undefined : { default: server, change: state?.changes.get(changeKey(kind, ruleId)) };
  }

  /**
   * Why a rule (or change) of `bytes` cannot take the place of one of `replaced`
   * bytes (undefined: a new one), or undefined when it can. Each counts its JSON
   * against the rule and user caps, and with PUSH_RULE_OVERHEAD_BYTES against storage.
   */
  #admit(state: UserRules, bytes: number, replaced: number | undefined): StoreRefusal | undefined {
    if (bytes > this.#limits.maxPushRuleBytes) return { code: 'too-large', bytes };
    if (state.bytes - (replaced ?? 0) + bytes > this.#limits.maxPushRuleBytesPerUser) return { code: 'user-bytes-full' };
    if (this.#bytes - weight(replaced) + weight(bytes) > this.#limits.maxPushRuleStorageBytes) return { code: 'storage-full' };
    return undefined;
  }

  /** Books a change #admit let through: `bytes` replace `replaced` (undefined: nothing was there, or nothing stays). */
  #charge(state: UserRules, bytes: number | undefined, replaced: number | undefined): void {
    state.bytes += (bytes ?? 0) - (replaced ?? 0);
    this.#bytes += weight(bytes) - weight(replaced);
  }

  /** The index the rule goes to in `list` once taken out of `index` (-1: not in it), or why it cannot go there. */
  #position(list: readonly UserRule[], ruleId: string, index: number, placement: Placement): number | StoreRefusal {
    const [anchor, offset] = placement.before ? [placement.before, 0] : placement.after ? [placement.after, 1] : [undefined, 0];
    if (anchor === undefined) return index === -1 ? 0 : index;
    if (anchor.startsWith('.')) return { code: 'anchor-default', anchor };
    if (anchor === ruleId) return index === -1 ? { code: 'anchor-not-found', anchor } : index;
    const others = list.filter((rule) => rule.ruleId !== ruleId);
    const at = others.findIndex((rule) => rule.ruleId === anchor);
    return at === -1 ? { code: 'anchor-not-found', anchor } : at + offset;
  }

  #changeDefault(userId: string, entry: { default: UserDefault; change: DefaultChange | undefined }, update: Omit<DefaultChange, 'bytes'>): StoreRefusal | undefined {
    const next: DefaultChange = { ...entry.change, ...update, bytes: 0 };
    const ruleBytes = Buffer.byteLength(entryJson({ default: entry.default, change: next }), 'utf8');
    if (ruleBytes > this.#limits.maxPushRuleBytes) return { code: 'too-large', bytes: ruleBytes };
    next.bytes = next.actionsJson === undefined ? 0 : Buffer.byteLength(next.actionsJson, 'utf8');
    const state = this.#state(userId);
    const refusal = this.#admit(state, next.bytes, entry.change?.bytes);
    if (refusal !== undefined) return refusal;
    state.changes.set(changeKey(entry.default.kind, entry.default.ruleId), next);
    this.#charge(state, next.bytes, entry.change?.bytes);
    return undefined;
  }

  #state(userId: string): UserRules {
    let state = this.#users.get(userId);
    if (state === undefined) {
      state = { lists: { override: [], content: [], room: [], sender: [], underride: [] }, changes: new Map(), count: 0, bytes: 0 };
      this.#users.set(userId, state);
    }
    return state;
  }

  #forgetIfEmpty(userId: string, state: UserRules): void {
    if (state.count === 0 && state.changes.size === 0) this.#users.delete(userId);
  }
}

/** What a kept rule or change weighs against maxPushRuleStorageBytes: its JSON and its record. */
function weight(bytes: number | undefined): number {
  return bytes === undefined ? 0 : bytes + PUSH_RULE_OVERHEAD_BYTES;
}

function changeKey(kind: Kind, ruleId: string): string {
  return `${kind}/${ruleId}`;
}

function userRuleJson(rule: UserRule): string {
  return `{"rule_id":${JSON.stringify(rule.ruleId)},"default":false,"enabled":${String(rule.enabled)}${rule.matchJson},"actions":${rule.actionsJson}}`;
}

/** Users whose server-default rules are kept built; past it the cache starts again. */
const DEFAULTS_KEPT = 256;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function entryJson(entry: Entry): string {
  if ('user' in entry) return userRuleJson(entry.user);
  const { change } = entry;
  if (change === undefined) return JSON.stringify(entry.default.json);
  const actions: unknown = change.actionsJson === undefined ? entry.default.json.actions : JSON.parse(change.actionsJson);
  return JSON.stringify({ ...entry.default.json, enabled: change.enabled ?? entry.default.json.enabled, actions });
}

function effective(kind: Kind, entry: Entry): EffectiveRule {
  if ('user' in entry) {
    const parsed = JSON.parse(userRuleJson(entry.user)) as { conditions?: EffectiveRule['conditions']; pattern?: EffectiveRule['pattern']; actions: EffectiveRule['actions'] };
    return { kind, ruleId: entry.user.ruleId, isDefault: false, enabled: entry.user.enabled, conditions: parsed.conditions, pattern: parsed.pattern, actions: parsed.actions, legacyMention: false };
  }
  const json = entry.default.json;
  const actions = entry.change?.actionsJson === undefined ? json.actions : (JSON.parse(entry.change.actionsJson) as EffectiveRule['actions']);
  return {
    kind,
    ruleId: entry.default.ruleId,
    isDefault: true,
    enabled: entry.change?.enabled ?? json.enabled,
    conditions: json.conditions,
    pattern: json.pattern,
    actions,
    legacyMention: entry.default.legacyMention,
  };
}
