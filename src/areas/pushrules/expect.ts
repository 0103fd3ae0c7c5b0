/**
 * The expectation kinds of the push rules area:
 * - `push_rule: {...}`: the body is a push rule (or the part of one an
 *   endpoint answers, such as `{"actions": [...]}`) that does what this one
 *   does (see compare.ts);
 * - `ruleset: {at, includes, excludes, order, defaults_dotted}`: the ruleset
 *   at `at` lists these rules in their kinds, lacks those, lists some in an
 *   order, and gives server-default rules ids that start with a dot.
 */
import { isPlainObject, pointer } from '../../cases/values.js';
import { bodyKind } from '../../run/expect/body.js';
import { mismatchText, notJson } from '../../run/expect/common.js';
import type { CheckOutcome, ExpectKind } from '../../run/kinds.js';
import { ruleMismatches } from './compare.js';

const RULE_KINDS = ['override', 'content', 'room', 'sender', 'underride'] as const;
const ruleKind = { enum: RULE_KINDS };
const rulePattern = { type: 'object', required: ['kind'], properties: { kind: ruleKind } };

interface RulesetCheck {
  at?: string;
  includes?: Array<Record<string, unknown> & { kind: string }>;
  excludes?: Array<Record<string, unknown> & { kind: string }>;
  order?: { kind: string; rule_ids: unknown[] };
  defaults_dotted?: boolean;
}

const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
};

/** The rules of one kind; a kind the ruleset leaves out has none (the schema requires none of them). */
function rulesOf(ruleset: Record<string, unknown>, kind: string): unknown[] | undefined {
  const list = ruleset[kind];
  return list === undefined ? [] : Array.isArray(list) ? list : undefined;
}

const withoutKind = ({ kind: _k, ...rule }: Record<string, unknown>): Record<string, unknown> => rule;
const idOf = (r: unknown): unknown => (isPlainObject(r) ? r['rule_id'] : undefined);

function includesOutcomes(ruleset: Record<string, unknown>, wanted: NonNullable<RulesetCheck['includes']>): CheckOutcome[] {
  const out: CheckOutcome[] = [];
  for (const want of wanted) {
    const rules = rulesOf(ruleset, want.kind);
    if (!rules) {
      out.push({ check: 'ruleset', expected: want, actual: ruleset[want.kind], message: `the ruleset's ${want.kind} member is not a list` });
      continue;
    }
    const rule = withoutKind(want);
    if (rules.some((r) => ruleMismatches(rule, r).length === 0)) continue;
    const same = rules.find((r) => idOf(r) === rule['rule_id']);
    const why = same !== undefined ? `it lists ${short(rule['rule_id'])} differently: ${mismatchText(ruleMismatches(rule, same))}` : `no ${want.kind} rule has the id ${short(rule['rule_id'])}`;
    out.push({ check: 'ruleset', expected: want, actual: same ?? rules.map(idOf), message: `the ruleset lacks the ${want.kind} rule ${short(rule['rule_id'])}: ${why}` });
  }
  return out;
}

function excludesOutcomes(ruleset: Record<string, unknown>, unwanted: NonNullable<RulesetCheck['excludes']>): CheckOutcome[] {
  const out: CheckOutcome[] = [];
  for (const pattern of unwanted) {
    const hit = (rulesOf(ruleset, pattern.kind) ?? []).find((r) => ruleMismatches(withoutKind(pattern), r).length === 0);
    if (hit !== undefined) out.push({ check: 'ruleset', expected: { excludes: pattern }, actual: hit, message: `the ruleset lists a ${pattern.kind} rule it must not: ${short(hit)}` });
  }
  return out;
}

function orderOutcomes(ruleset: Record<string, unknown>, order: NonNullable<RulesetCheck['order']>): CheckOutcome[] {
  const ids = (rulesOf(ruleset, order.kind) ?? []).map(idOf);
  const at = order.rule_ids.map((id) => ids.indexOf(id));
  const inOrder = at.every((i, n) => i >= 0 && (n === 0 || i > (at[n - 1] as number)));
  return inOrder ? [] : [{ check: 'ruleset', expected: order.rule_ids, actual: ids, message: `the ${order.kind} rules are not listed in the order ${short(order.rule_ids)}: the list is ${short(ids)}` }];
}

function dottedOutcomes(ruleset: Record<string, unknown>): CheckOutcome[] {
  const bad = RULE_KINDS.flatMap((k) => (rulesOf(ruleset, k) ?? []).filter((r) => isPlainObject(r) && r['default'] === true && !(typeof r['rule_id'] === 'string' && r['rule_id'].startsWith('.'))));
  return bad.length ? [{ check: 'ruleset', expected: 'server-default rules with ids starting with "."', actual: bad, message: `${bad.length} server-default rule(s) have an id that does not start with ".": ${short(bad.map(idOf))}` }] : [];
}

// Both read a body and take matchers and generators in their values, as body_includes does.
export const rulesetKind: ExpectKind = {
  ...bodyKind,
  name: 'ruleset',
  schema: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      at: { type: 'string', pattern: '^(/.*)?$', description: 'JSON pointer to the ruleset (default: the whole body).' },
      includes: { type: 'array', items: rulePattern, description: 'Rules the ruleset lists in their kind, compared by what they do.' },
      excludes: { type: 'array', items: rulePattern, description: 'Rules (patterns) the ruleset must not list in their kind.' },
      order: { type: 'object', additionalProperties: false, required: ['kind', 'rule_ids'], properties: { kind: ruleKind, rule_ids: { type: 'array', minItems: 2 } }, description: 'These rules are listed in this relative order.' },
      defaults_dotted: { const: true, description: 'Every rule with default true has an id starting with ".".' },
    },
  },
  steps: ['request'],
  evaluate(value, o) {
    const bad = notJson(o);
    if (bad) return bad;
    const c = value as RulesetCheck;
    const ruleset = pointer(o.json, c.at ?? '');
    if (!isPlainObject(ruleset)) return [{ check: 'ruleset', expected: `a ruleset object at ${c.at || '/'}`, actual: ruleset, message: `expected a ruleset object at ${c.at || '/'}, got ${short(ruleset)}` }];
    return [
      ...includesOutcomes(ruleset, c.includes ?? []),
      ...excludesOutcomes(ruleset, c.excludes ?? []),
      ...(c.order ? orderOutcomes(ruleset, c.order) : []),
      ...(c.defaults_dotted ? dottedOutcomes(ruleset) : []),
    ];
  },
};

export const pushRuleKind: ExpectKind = {
  ...bodyKind,
  name: 'push_rule',
  schema: { type: 'object', minProperties: 1, description: 'The body is a push rule (or part of one) doing what this one does.' },
  evaluate(value, o) {
    const bad = notJson(o);
    if (bad) return bad;
    const ms = ruleMismatches(value as Record<string, unknown>, o.json);
    return ms.length ? [{ check: 'push_rule', expected: value, actual: o.json, message: `the push rule differs: ${mismatchText(ms)}` }] : [];
  },
};
