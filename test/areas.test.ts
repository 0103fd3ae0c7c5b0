/**
 * Areas as folders: cases live in cases/<edition>/<area>/, an area folder may
 * add clean-up rules (which may read the path segments a `*` matched), a
 * baseline and templates in _area.yaml, and a case may put back what it found
 * and changed with `finally` requests and skip on an answer's body.
 */
import { expect } from 'chai';
import { CaseFileError, loadSuite, run, type CaseResult } from '../src/index.js';
import { startProxy, type ProxyRequest, type ProxyServer } from './support/proxy-server.js';
import { tmpCases } from './support/tmp-cases.js';

const problemsOf = (files: Record<string, string>): string[] => {
  try {
    loadSuite({ dir: tmpCases(files), editions: ['v1'] });
    return [];
  } catch (err) {
    if (err instanceof CaseFileError) return err.problems.map((p) => `${p.file}:${p.line ?? 0}: ${p.message}`);
    throw err;
  }
};

/** A room is created, a message sent with a PUT whose path holds the room id; the area's clean-up leaves the room through {$matched: 1}. */
const ROOM_CASE = `id: v1.test.room
title: a room, a message; clean-up reads the room id from the PUT's path
edition: v1
requirements: [v1.set.success]
users: [alice]
steps:
  - title: create a room
    request: {method: POST, path: /createRoom, json: {}}
    setup: {status: 200}
    capture: {room: /room_id}
  - title: read the pushers (their list is known to be empty); skip when the body says a given marker
    request: {method: GET, path: /pushers}
    skip_if: {body: {marker: true}, reason: the account is marked}
    setup: {status: 200}
    capture: {none: /no_such_member}
  - title: send a message
    request: {method: PUT, path: [/rooms/, {$var: room}, /send/m.room.message/, {$unique: txn}], json: {msgtype: m.text, body: hi}}
    expect:
      - {requirement: v1.set.success, status: 200}
finally:
  - title: put back what was found (never sent, for its variable was never captured)
    request: {method: POST, path: /pushers/set, json: {kind: null, app_id: {$var: none}, pushkey: x}}
  - title: put back what was found (sent)
    request: {method: GET, path: [/rooms/, {$var: room}, /joined_members]}
`;

const AREA = `cleanup:
  - after: {method: PUT, path: /rooms/*/send/*/*, status: 200}
    send: {method: POST, path: [/rooms/, {$matched: 1}, /leave], json: {}}
templates:
  empty: {}
`;

describe('areas as folders', function () {
  it('loads cases from area folders, naming each case\u2019s area, and refuses cases outside one or in an unknown area', function () {
    const suite = loadSuite({ dir: tmpCases({ 'v1/pushers/a.yaml': ROOM_CASE, 'v1/pushers/_area.yaml': AREA }), editions: ['v1'] });
    expect(suite.cases.map((c) => [c.id, c.area])).to.deep.equal([['v1.test.room', 'pushers']]);
    expect(suite.templates['v1/pushers']).to.have.property('empty');
    expect(suite.setups['v1/pushers']?.cleanup.at(-1)?.after.path).to.equal('/_matrix/client/v3/rooms/*/send/*/*');
    const problems = problemsOf({ 'v1/loose.yaml': ROOM_CASE, 'v1/nowhere/b.yaml': ROOM_CASE.replace('v1.test.room', 'v1.test.other') }).join('\n');
    expect(problems).to.include('a case lives in the folder of its area');
    expect(problems).to.include('nowhere is not an area of spec/areas.yaml');
  });

  it('checks {$matched: N} against the stars of the path, and finally steps for shape and variables', function () {
    const badArea = AREA.replace('{$matched: 1}', '{$matched: 4}');
    const badFinally = ROOM_CASE.replace("request: {method: GET, path: [/rooms/, {$var: room}, /joined_members]}", "request: {method: GET, path: [/rooms/, {$var: nobody}, /joined_members]}\n    expect:\n      - {requirement: v1.set.success, status: 200}");
    const problems = problemsOf({ 'v1/pushers/a.yaml': badFinally, 'v1/pushers/_area.yaml': badArea }).join('\n');
    expect(problems).to.include('{$matched: 4}: after.path has 3 * segment(s)');
    expect(problems).to.include('a finally step holds a title and its request only');
    const unread = ROOM_CASE.replace('{$var: room}, /joined_members', '{$var: nobody}, /joined_members');
    expect(problemsOf({ 'v1/pushers/a.yaml': unread }).join('\n')).to.include('{$var: nobody}: no step captures it');
  });

  describe('against the reference server', function () {
    let proxy: ProxyServer;
    let seen: ProxyRequest[] = [];
    let marked = false;
    before(async function () {
      proxy = await startProxy({
        name: 'records every request',
        onRequest: (req) => {
          seen.push(req);
          return undefined;
        },
        onResponse: (req, res) => (marked && req.method === 'GET' && req.path.endsWith('/pushers') ? { ...res, body: JSON.stringify({ pushers: [], marker: true }) } : undefined),
      });
    });
    after(() => proxy.close());
    beforeEach(() => {
      seen = [];
    });

    const runOne = async (): Promise<CaseResult> => {
      const suite = loadSuite({ dir: tmpCases({ 'v1/pushers/a.yaml': ROOM_CASE, 'v1/pushers/_area.yaml': AREA }), editions: ['v1'] });
      const report = await run({ target: proxy.url, editions: ['v1'], suite, jobs: 1 });
      return report.results[0] as CaseResult;
    };

    it('cleans up with the segment the * matched, and sends only the finally steps whose variables were captured', async function () {
      const r = await runOne();
      expect(r.outcome, JSON.stringify(r.error ?? r.failures)).to.equal('passed');
      const put = seen.find((q) => q.method === 'PUT' && q.path.includes('/send/'));
      const room = decodeURIComponent((put?.path ?? '').split('/')[5] ?? '');
      expect(room).to.match(/^!/);
      const leave = seen.filter((q) => q.method === 'POST' && q.path.endsWith('/leave'));
      expect(leave.map((q) => decodeURIComponent(q.path.split('/')[5] ?? ''))).to.deep.equal([room]);
      expect(seen.filter((q) => q.path.endsWith('/joined_members')).length).to.equal(1);
      expect(seen.filter((q) => q.path.endsWith('/pushers/set')).length).to.equal(0);
      // The put-back comes before the clean-up rules.
      expect(seen.findIndex((q) => q.path.endsWith('/joined_members'))).to.be.lessThan(seen.findIndex((q) => q.path.endsWith('/leave')));
    });

    it('skips a case when an answer includes the body skip_if names, and still puts back and cleans up', async function () {
      marked = true;
      try {
        const r = await runOne();
        expect(r.outcome).to.equal('skipped');
        expect(r.skipReason).to.include('the account is marked');
        expect(seen.filter((q) => q.path.endsWith('/joined_members')).length).to.equal(1);
        expect(seen.some((q) => q.path.includes('/send/'))).to.equal(false);
      } finally {
        marked = false;
      }
    });
  });
});
