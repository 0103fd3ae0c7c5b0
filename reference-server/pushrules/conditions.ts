/**
 * The conditions of override and underride rules, as the push module of the
 * newest spec defines them, and the implicit conditions of content, room and
 * sender rules. A condition of a kind this server does not know, or one whose
 * parameters are missing or of the wrong type, matches nothing ("Unrecognised
 * conditions MUST NOT match any events").
 */
import { isJsonObject, type Json, type JsonObject } from '../json.js';
import { compileGlob, containsWords, type Glob } from './glob.js';
import type { PushRuleSemantics } from './semantics.js';

/** The event and the room as the conditions read them. */
export interface ConditionInput {
  /** The event as its push rules see it: event_id, room_id, sender, type, content, state_key. */
  readonly event: JsonObject;
  /** Joined members of the room. */
  readonly memberCount: number;
  readonly senderLevel: number;
  notificationLevel(key: string): number;
  /** The display name of the user the rules are evaluated for, if they have one. */
  readonly displayName: string | undefined;
}

type Scalar = string | number | boolean | null;

export function conditionMatches(condition: Json, input: ConditionInput, semantics: PushRuleSemantics): boolean {
  if (!isJsonObject(condition)) return false;
  switch (condition.kind) {
    case 'event_match':
      return eventMatch(condition, input.event);
    case 'event_property_is':
      return semantics.mentions && propertyIs(condition, input.event);
    case 'event_property_contains':
      return semantics.mentions && propertyContains(condition, input.event);
    case 'contains_display_name': {
      const body = lookup(input.event, ['content', 'body']);
      return typeof body === 'string' && input.displayName !== undefined && containsWords(body, input.displayName);
    }
    case 'room_member_count':
      return typeof condition.is === 'string' && memberCountIs(condition.is, input.memberCount);
    case 'sender_notification_permission':
      return typeof condition.key === 'string' && input.senderLevel >= input.notificationLevel(condition.key);
    default:
      return false;
  }
}

/** Compiled patterns, by their text: the same rules are evaluated for every event. */
const globs = new Map<string, Glob>();
let globChars = 0;
/** The most pattern text kept compiled; past it the cache starts again. */
const GLOB_CHARS_KEPT = 256 * 1024;

function globOf(pattern: string): Glob {
  let glob = globs.get(pattern);
  if (glob === undefined) {
    if (globChars + pattern.length > GLOB_CHARS_KEPT) {
      globs.clear();
      globChars = 0;
    }
    glob = compileGlob(pattern);
    globs.set(pattern, glob);
    globChars += pattern.length;
  }
  return glob;
}

/** A glob over a string property; `content.body` is matched by words. */
export function eventMatch(condition: JsonObject, event: JsonObject): boolean {
  const { key, pattern } = condition;
  if (typeof key !== 'string' || typeof pattern !== 'string') return false;
  const value = lookup(event, splitPath(key));
  if (typeof value !== 'string') return false;
  const glob = globOf(pattern);
  return key === 'content.body' ? glob.matchesWords(value) : glob.matchesWhole(value);
}

function propertyIs(condition: JsonObject, event: JsonObject): boolean {
  const wanted = scalarParameter(condition);
  if (wanted === undefined || typeof condition.key !== 'string') return false;
  const value = lookup(event, splitPath(condition.key));
  return isScalar(value) && value === wanted;
}

function propertyContains(condition: JsonObject, event: JsonObject): boolean {
  const wanted = scalarParameter(condition);
  if (wanted === undefined || typeof condition.key !== 'string') return false;
  const value = lookup(event, splitPath(condition.key));
  // Array members that are not scalars are ignored, as the spec says.
  return Array.isArray(value) && value.some((item) => isScalar(item) && item === wanted);
}

/** The condition's `value`, when it is one the spec allows: a string, an integer in the canonical range, a boolean or null. */
function scalarParameter(condition: JsonObject): Scalar | undefined {
  if (!Object.hasOwn(condition, 'value')) return undefined;
  const value = condition.value;
  return isScalar(value) ? value : undefined;
}

/** Strings, booleans, null, and integers within ±(2^53 - 1): floats and compound values never match. */
function isScalar(value: Json | undefined): value is Scalar {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  return typeof value === 'number' && Number.isSafeInteger(value);
}

const MEMBER_COUNT = /^(==|<=|>=|<|>)?([0-9]+)$/;

/** `is` of room_member_count: a decimal integer, optionally after ==, <, >, <= or >= (== when none). */
export function memberCountIs(is: string, count: number): boolean {
  const match = MEMBER_COUNT.exec(is);
  if (match === null) return false;
  const n = Number(match[2]);
  switch (match[1]) {
    case '<':
      return count < n;
    case '>':
      return count > n;
    case '<=':
      return count <= n;
    case '>=':
      return count >= n;
    default:
      return count === n;
  }
}

/**
 * The property names of a dot-separated path: `\.` is a dot and `\\` a backslash
 * inside a name; any other backslash is itself (the spec's appendix, v1.7).
 */
export function splitPath(key: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < key.length; i += 1) {
    const ch = key[i] as string;
    const next = key[i + 1];
    if (ch === '\\' && (next === '.' || next === '\\')) {
      current += next;
      i += 1;
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** The value at a path of own properties of nested objects, or undefined. */
export function lookup(root: JsonObject, path: readonly string[]): Json | undefined {
  let current: Json = root;
  for (const name of path) {
    if (!isJsonObject(current) || !Object.hasOwn(current, name)) return undefined;
    current = current[name] as Json;
  }
  return current;
}
