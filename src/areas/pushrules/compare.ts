/**
 * Push rules compared by what they do, as spec/pushrules.md says they are
 * judged: actions in any order, with `dont_notify` as no action and the
 * highlight tweak read by its defined value; conditions as a set, since all of
 * them must hold in any order, and no `conditions` member as none. Other members are matched as body_includes
 * matches them (the server may add members of its own).
 */
import { isPlainObject, match, type Mismatch } from '../../cases/values.js';

/** `{"set_tweak": "highlight"}` without a value is true; highlight false is no highlight at all. */
function normalAction(a: unknown): unknown {
  if (!isPlainObject(a) || a['set_tweak'] !== 'highlight') return a;
  if (!('value' in a)) return { ...a, value: true };
  return a['value'] === false ? undefined : a;
}

/** The actions that act: `dont_notify` (the absence of `notify`, ignored from v1.12) and highlight false dropped. */
export function normalActions(actions: readonly unknown[]): unknown[] {
  return actions.filter((a) => a !== 'dont_notify').map(normalAction).filter((a) => a !== undefined);
}

/**
 * Pairs every expected item with a distinct actual item it matches (a small
 * backtracking search: the lists of a rule are short); false when no pairing
 * exists.
 */
function pairUp(expected: readonly unknown[], actual: readonly unknown[], used: boolean[] = actual.map(() => false), i = 0): boolean {
  if (i === expected.length) return true;
  for (let j = 0; j < actual.length; j++) {
    if (used[j] || match(expected[i], actual[j], 'includes').length > 0) continue;
    used[j] = true;
    if (pairUp(expected, actual, used, i + 1)) return true;
    used[j] = false;
  }
  return false;
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** The same items in any order, each expected item matching (as body_includes) a distinct actual one. */
function sameSet(expected: readonly unknown[], actual: unknown, path: string, what: string): Mismatch[] {
  if (!Array.isArray(actual)) return [{ path, expected, actual, reason: `expected a list of ${what}, got ${show(actual)}` }];
  if (expected.length === actual.length && pairUp(expected, actual)) return [];
  return [{ path, expected, actual, reason: `expected the ${what} ${show(expected)} in any order, got ${show(actual)}` }];
}

/** How a push rule (or part of one) the server gave differs from the one expected; [] when it does what the expected one does. */
export function ruleMismatches(expected: Record<string, unknown>, actual: unknown): Mismatch[] {
  if (!isPlainObject(actual)) return [{ path: '/', expected, actual, reason: `expected a push rule, got ${show(actual)}` }];
  const out: Mismatch[] = [];
  for (const [key, want] of Object.entries(expected)) {
    const got = Object.prototype.hasOwnProperty.call(actual, key) ? actual[key] : undefined;
    if (key === 'actions' && Array.isArray(want)) {
      out.push(...(Array.isArray(got) ? sameSet(normalActions(want), normalActions(got), '/actions', 'actions (as they act)') : [{ path: '/actions', expected: want, actual: got, reason: `expected a list of actions, got ${show(got)}` }]));
    } else if (key === 'conditions' && Array.isArray(want)) {
      // `conditions` is optional in a push rule and a rule without any always matches: absent is the empty list
      // (Dendrite lists .m.rule.master so). null is no list.
      const absent = !Object.prototype.hasOwnProperty.call(actual, key);
      out.push(...sameSet(want, absent ? [] : got, '/conditions', 'conditions'));
    } else {
      // Matched as a one-member object, so that a missing member and {$absent: true} are read as body_includes reads them.
      out.push(...match({ [key]: want }, actual, 'includes'));
    }
  }
  return out;
}
