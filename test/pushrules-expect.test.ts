/**
 * The push rules area's expectation kinds judge rules by what they do: a
 * server may order actions and conditions as it likes, list highlight false
 * or leave it out, write dont_notify or nothing, and add rules and members of
 * its own; it may not change what a rule does.
 */
import { expect } from 'chai';
import { pushRuleKind, rulesetKind } from '../src/areas/pushrules/expect.js';
import { normalActions } from '../src/areas/pushrules/compare.js';

const observe = (json: unknown) => ({ status: 200, json, isJson: true });
const ruleFails = (expected: unknown, actual: unknown): string[] => pushRuleKind.evaluate(expected, observe(actual)).map((o) => o.message);
const rulesetFails = (check: unknown, actual: unknown): string[] => rulesetKind.evaluate(check, observe(actual)).map((o) => o.message);

const MESSAGE = { rule_id: '.m.rule.room_one_to_one', default: true, enabled: true, conditions: [{ kind: 'room_member_count', is: '2' }, { kind: 'event_match', key: 'type', pattern: 'm.room.message' }], actions: ['notify', { set_tweak: 'sound', value: 'default' }] };

describe('push rules compared by what they do', function () {
  it('takes actions in any order, highlight false as no highlight, a bare highlight as true, dont_notify as nothing', function () {
    expect(normalActions(['dont_notify'])).to.deep.equal([]);
    expect(normalActions(['notify', { set_tweak: 'highlight' }])).to.deep.equal(['notify', { set_tweak: 'highlight', value: true }]);
    expect(normalActions([{ set_tweak: 'highlight', value: false }, 'notify'])).to.deep.equal(['notify']);
    const synapse = { ...MESSAGE, conditions: [...MESSAGE.conditions].reverse(), actions: ['notify', { set_tweak: 'highlight', value: false }, { set_tweak: 'sound', value: 'default' }], extra: 1 };
    expect(ruleFails(MESSAGE, synapse)).to.deep.equal([]);
    expect(ruleFails({ actions: [] }, { actions: ['dont_notify'] })).to.deep.equal([]);
    expect(ruleFails({ actions: ['notify', { set_tweak: 'highlight' }] }, { actions: [{ set_tweak: 'highlight', value: true }, 'notify'] })).to.deep.equal([]);
    // conditions is optional and a rule without any always matches: Dendrite lists .m.rule.master with no conditions member.
    expect(ruleFails({ rule_id: '.m.rule.master', conditions: [], actions: [] }, { rule_id: '.m.rule.master', actions: [] })).to.deep.equal([]);
  });

  it('fails a rule that acts otherwise: another sound, a missing or extra action, coalesce for nothing, a condition more or less', function () {
    expect(ruleFails(MESSAGE, { ...MESSAGE, actions: ['notify', { set_tweak: 'sound', value: 'ring' }] })).to.have.length(1);
    expect(ruleFails(MESSAGE, { ...MESSAGE, actions: ['notify'] })).to.have.length(1);
    expect(ruleFails(MESSAGE, { ...MESSAGE, actions: [...MESSAGE.actions, { set_tweak: 'highlight' }] })).to.have.length(1);
    expect(ruleFails({ actions: [] }, { actions: ['coalesce'] })).to.have.length(1);
    expect(ruleFails(MESSAGE, { ...MESSAGE, conditions: MESSAGE.conditions.slice(1) })).to.have.length(1);
    expect(ruleFails(MESSAGE, { ...MESSAGE, conditions: [...MESSAGE.conditions, { kind: 'event_match', key: 'content.body', pattern: '*' }] })).to.have.length(1);
    expect(ruleFails(MESSAGE, Object.fromEntries(Object.entries(MESSAGE).filter(([k]) => k !== 'conditions'))), 'no conditions member is no conditions').to.have.length(1);
    expect(ruleFails({ conditions: [] }, { conditions: null }), 'null is not a list').to.have.length(1);
    expect(ruleFails(MESSAGE, { ...MESSAGE, enabled: false })[0]).to.match(/enabled/);
    expect(ruleFails({ pattern: { $absent: true } }, { pattern: 'x' })).to.have.length(1);
    expect(ruleFails({ pattern: { $absent: true } }, {})).to.deep.equal([]);
    expect(ruleFails(MESSAGE, 'not a rule')[0]).to.match(/expected a push rule/);
  });

  it('finds rules in their kind, whatever else the ruleset holds', function () {
    const ruleset = { override: [{ rule_id: '.org.example.own', default: true, enabled: true, conditions: [], actions: [] }], underride: [MESSAGE] };
    expect(rulesetFails({ includes: [{ kind: 'underride', ...MESSAGE }] }, ruleset)).to.deep.equal([]);
    expect(rulesetFails({ includes: [{ kind: 'override', ...MESSAGE }] }, ruleset)[0]).to.match(/no override rule has the id/);
    expect(rulesetFails({ includes: [{ kind: 'underride', ...MESSAGE, enabled: false }] }, ruleset)[0]).to.match(/lists ".m.rule.room_one_to_one" differently/);
    expect(rulesetFails({ excludes: [{ kind: 'content', rule_id: 'x' }] }, ruleset), 'a kind left out has no rules').to.deep.equal([]);
    expect(rulesetFails({ excludes: [{ kind: 'underride', rule_id: '.m.rule.room_one_to_one', enabled: true }] }, ruleset)).to.have.length(1);
    expect(rulesetFails({ includes: [{ kind: 'room', rule_id: 'x' }] }, { room: 'not a list' })[0]).to.match(/not a list/);
    expect(rulesetFails({ at: '/global', defaults_dotted: true }, { global: ruleset })).to.deep.equal([]);
    expect(rulesetFails({ at: '/global', defaults_dotted: true }, { global: { content: [{ rule_id: 'no-dot', default: true }] } })[0]).to.match(/does not start with "."/);
    expect(rulesetFails({ at: '/global', includes: [] }, {})[0]).to.match(/expected a ruleset object/);
  });

  it('reads the relative order of rules of a kind, other rules between them allowed', function () {
    const content = [{ rule_id: 'p' }, { rule_id: 'other' }, { rule_id: 'z' }, { rule_id: 'q' }];
    expect(rulesetFails({ order: { kind: 'content', rule_ids: ['p', 'z', 'q'] } }, { content })).to.deep.equal([]);
    expect(rulesetFails({ order: { kind: 'content', rule_ids: ['z', 'p'] } }, { content })).to.have.length(1);
    expect(rulesetFails({ order: { kind: 'content', rule_ids: ['p', 'missing'] } }, { content })).to.have.length(1);
  });
});
