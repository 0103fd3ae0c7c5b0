/**
 * What a person debugging a server reads: the trace (every exchange as HAR,
 * tagged with its case and step, the target's pokes to the mock gateway and
 * the gateway's answers among them, connect and TLS time apart), and every
 * exchange of a failing case in each report, in order, with curl lines that
 * name users by shell variables. Then the texts: values in failure messages
 * are never cut inside a key or an operator, a missing retry counts what
 * arrived, and an answer holding the previous request's body gets a hint.
 */
import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Poke } from '../src/areas/delivery/gateway/gateway.js';
import { HttpClient, type HttpResponse } from '../src/http/client.js';
import { unreadBodyHint } from '../src/run/steps/request.js';
import { missingText } from '../src/areas/delivery/steps/poke-text.js';
import { cutMessage, shortJson } from '../src/text.js';
import { BROKEN_DELIVERY } from './support/delivery-mutations.js';
import { BROKEN } from './support/mutations.js';
import { startProxy, type ProxyServer } from './support/proxy-server.js';
import { cliPool, parseTap, readJsonReport, readJunit, type JsonReport } from './support/reports.js';
import { tmpCases } from './support/tmp-cases.js';

interface HarEntry {
  _case: string | null;
  _step: number | string;
  _from?: string;
  time: number;
  request: { method: string; url: string; postData?: { text: string }; headers: Array<{ name: string; value: string }> };
  response: { status: number; content: { text?: string } };
  timings: { blocked: number; dns: number; connect: number; ssl: number; send: number; wait: number; receive: number };
}

const CASES = fileURLToPath(new URL('../../cases/', import.meta.url));
const server = (list: ReadonlyArray<{ name: string }>, name: string): { name: string } => {
  const m = list.find((b) => b.name === name);
  if (!m) throw new Error(`no server "${name}"`);
  return m;
};

/** The steps of the retry case up to the gateway's 500: a poke about bob's message, answered 500. */
const POKED_WITH_500 = `  - title: the gateway will answer the first poke with 500
    gateway_answer: {pushkey: {$unique: pushkey}, status: 500, times: 1}
    setup: {status: 200}
  - title: alice sets a pusher at the gateway
    request: {method: POST, path: /pushers/set, auth: alice, json: {$template: gateway_pusher}}
    setup: {status: 200}
  - title: alice creates a room and invites bob
    request: {method: POST, path: /createRoom, auth: alice, json: {preset: private_chat, invite: [{$user_id: bob}]}}
    setup: {status: 200}
    capture: {room: /room_id}
  - title: bob joins
    request: {method: POST, path: [/rooms/, {$var: room}, /join], auth: bob, json: {}}
    setup: {status: 200}
  - title: bob sends a message
    request: {method: PUT, path: [/rooms/, {$var: room}, /send/m.room.message/, {$unique: txn}], auth: bob, json: {msgtype: m.text, body: hi}}
    setup: {status: 200}
    capture: {event: /event_id}
  - title: the gateway is poked (and answers 500)
    await_notification: {pushkey: {$unique: pushkey}, event_id: {$var: event}}
    expect:
      - {requirement: v1.push.poked, arrived: true}
`;

/** Those steps, then a check that fails on purpose: the 500 must show among the exchanges. */
const AFTER_500 = `id: v1.test.after-500
title: A failure after the gateway answered 500
edition: v1
requirements: [v1.push.poked, v1.get.round-trip]
needs: [gateway]
users: [alice, bob]
steps:
${POKED_WITH_500}  - title: a check that fails on purpose
    request: {method: GET, path: /pushers, auth: alice}
    expect:
      - {requirement: v1.get.round-trip, status: 299}
`;

/** Those steps, then a retry awaited for half a second from a server that never retries: a SHOULD failure with no exchange of its own. */
const NO_SECOND = `id: v1.test.no-second
title: No second poke within half a second
edition: v1
requirements: [v1.push.poked, v1.push.retry]
needs: [gateway]
users: [alice, bob]
steps:
${POKED_WITH_500}  - title: the poke comes again within half a second
    await_notification: {pushkey: {$unique: pushkey}, event_id: {$var: event}, count: 2, timeout_ms: 500}
    expect:
      - {requirement: v1.push.retry, arrived: true}
`;

describe('diagnosis: the trace and the exchanges of a failing case', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'conformance-diagnosis-'));
  const proxies: ProxyServer[] = [];
  const out: Record<'rejected' | 'deleted' | 'after500' | 'noSecond', { code: number | null; stdout: string; json: JsonReport; har?: HarEntry[] }> = {} as never;
  const file = (run: string, ext: string): string => join(dir, `${run}.${ext}`);

  before(async function () {
    const [rejected, deleted, never] = await Promise.all([
      startProxy(server(BROKEN_DELIVERY, 'v1: a pushkey the gateway rejects is kept and notified again') as never),
      startProxy(server(BROKEN, "v1: kind null also removes other users' pushers with the same app_id and pushkey, append true or not") as never),
      startProxy(server(BROKEN_DELIVERY, 'v1: a notification the gateway answers with an error is never sent again') as never),
    ]);
    proxies.push(rejected, deleted, never);
    const cases = tmpCases({ 'v1/delivery/after-500.yaml': AFTER_500, 'v1/delivery/no-second.yaml': NO_SECOND });
    copyFileSync(join(CASES, 'v1/_edition.yaml'), join(cases, 'v1/_edition.yaml'));
    copyFileSync(join(CASES, 'v1/_templates.yaml'), join(cases, 'v1/_templates.yaml'));
    const reports = (run: string): string[] => ['--reporter', 'spec', '--reporter', `json:${file(run, 'json')}`, '--reporter', `junit:${file(run, 'xml')}`, '--reporter', `tap:${file(run, 'tap')}`, '--reporter', `html:${file(run, 'html')}`];
    const runs: Array<[keyof typeof out, string[]]> = [
      ['rejected', ['--target', rejected.url, '--edition', 'v1', '--gateway-tls', '--grep', 'v1.push.rejected-pushkey', '--trace', file('rejected', 'har'), ...reports('rejected')]],
      ['deleted', ['--target', deleted.url, '--edition', 'v1', '--grep', 'v1.delete.other-users-pusher', ...reports('deleted')]],
      ['after500', ['--cases', cases, '--edition', 'v1', '--grep', 'v1.test.after-500', ...reports('after500')]],
      ['noSecond', ['--target', never.url, '--cases', cases, '--edition', 'v1', '--gateway-tls', '--grep', 'v1.test.no-second', ...reports('noSecond')]],
    ];
    const pool = cliPool(2);
    await Promise.all(
      runs.map(async ([name, args]) => {
        const r = await pool(args, 120_000);
        out[name] = { code: r.code, stdout: r.stdout, json: readJsonReport(file(name, 'json')), ...(name === 'rejected' ? { har: (JSON.parse(readFileSync(file(name, 'har'), 'utf8')) as { log: { entries: HarEntry[] } }).log.entries } : {}) };
      }),
    );
  });

  after(async function () {
    await Promise.all(proxies.map((p) => p.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('every trace entry names its case and step; the setup has none; the pokes and the gateway\'s answers are entries too', function () {
    const har = out.rejected.har as HarEntry[];
    for (const e of har) {
      expect(e, e.request.url).to.have.property('_case');
      expect(e, e.request.url).to.have.property('_step');
    }
    const setup = har.filter((e) => e._case === null);
    expect(setup.some((e) => e.request.url.endsWith('/_matrix/client/versions')), 'the preflight is setup').to.equal(true);
    expect(setup.every((e) => e._step === '(setup)')).to.equal(true);
    const mine = har.filter((e) => e._case === 'v1.push.rejected-pushkey');
    expect(mine.some((e) => e._step === 'cleanup'), 'the clean-up is tagged').to.equal(true);
    const pokes = mine.filter((e) => e._from === 'target');
    expect(pokes.length, 'pokes in the trace').to.be.at.least(3);
    for (const p of pokes) {
      expect(p.request.url).to.match(/\/_matrix\/push\/v1\/notify$/);
      expect(p.request.postData?.text).to.include('"notification"');
      expect(p._step).to.be.a('number');
    }
    expect(pokes.some((p) => /"rejected":\["pushkey-/.test(p.response.content.text ?? '')), "the gateway's rejection is in the trace").to.equal(true);
  });

  it('trace timings hold connect and TLS time (-1 on a reused connection) and add up to the entry time', function () {
    const http = (out.rejected.har as HarEntry[]).filter((e) => !e._from);
    expect(http.some((e) => e.timings.connect >= 0), 'a request that opened a connection').to.equal(true);
    expect(http.some((e) => e.timings.connect === -1 && e.timings.ssl === -1), 'a request that reused one').to.equal(true);
    for (const e of http) {
      expect(e.timings).to.have.all.keys('blocked', 'dns', 'connect', 'ssl', 'send', 'wait', 'receive');
      const sum = [e.timings.blocked, e.timings.connect, e.timings.send, e.timings.wait, e.timings.receive].filter((n) => n >= 0).reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - e.time), `${e.request.url}: the phases make the time`).to.be.below(0.01);
    }
  });

  it('a failing case keeps every exchange of its steps in order, up to the failing one, the pokes and the gateway\'s answers among them', function () {
    const r = out.rejected.json.conformance.results.find((x) => x.id === 'v1.push.rejected-pushkey');
    expect(r?.outcome).to.equal('failed');
    const xs = (r?.exchanges ?? []) as unknown as Array<{ step: number; direction: string; atMs: number; response?: { status: number; body: string } }>;
    const failingStep = Math.max(...(r?.failures ?? []).map((f) => f.step));
    expect(xs.map((x) => x.atMs), 'in the order they began').to.deep.equal([...xs.map((x) => x.atMs)].sort((a, b) => a - b));
    expect(Math.max(...xs.map((x) => x.step)), 'up to the failing step').to.equal(failingStep);
    expect(new Set(xs.filter((x) => x.direction === 'to-target').map((x) => x.step)).size, 'the requests of several steps').to.be.at.least(4);
    expect(xs.some((x) => x.direction === 'from-target' && /"rejected":\["pushkey-/.test(x.response?.body ?? '')), "the gateway's rejection").to.equal(true);
    const after = (out.after500.json.conformance.results[0]?.exchanges ?? []) as unknown as Array<{ direction: string; response?: { status: number; body: string } }>;
    expect(after.some((x) => x.direction === 'from-target' && x.response?.status === 500), "the gateway's 500, before the failing step").to.equal(true);
  });

  it('v1.delete.other-users-pusher shows the delete answer that caused the failure, in every report', function () {
    const r = out.deleted.json.conformance.results[0];
    expect(r?.outcome).to.equal('failed');
    const xs = (r?.exchanges ?? []) as unknown as Array<{ step: number; request: { body?: string }; response?: { status: number; body: string }; curl?: string }>;
    expect(xs.map((x) => x.step)).to.deep.equal([1, 2, 3]);
    const del = xs[1];
    expect(del?.request.body).to.include('"kind":null');
    expect(del?.response?.status).to.equal(200);
    expect(out.deleted.stdout).to.include('bob, who has no such pusher, deletes').and.include('"kind":null');
    const junit = readJunit(readFileSync(file('deleted', 'xml'), 'utf8')).suites.flatMap((s) => s.cases)[0];
    expect(junit?.systemOut).to.include('"kind":null').and.include('step 2');
    const tap = readFileSync(file('deleted', 'tap'), 'utf8');
    parseTap(tap, 'deleted');
    expect(tap).to.include('kind\\":null');
    expect(readFileSync(file('deleted', 'html'), 'utf8')).to.include('&quot;kind&quot;: null');
    expect(del?.curl, 'the delete is reproduced as bob').to.include('$USER2_TOKEN');
  });

  it('a missing retry is listed under Details with its step and what arrived, and the gateway\'s 500 among the exchanges', function () {
    const r = out.noSecond.json.conformance.results[0];
    expect(r?.outcome, out.noSecond.stdout.slice(-3000)).to.equal('warned');
    const details = out.noSecond.stdout.slice(out.noSecond.stdout.indexOf('\nDetails\n'));
    expect(details).to.include('step 7 "the poke comes again within half a second"');
    expect(details).to.match(/SHOULD v1\.push\.retry: waited for 2 pokes for pushkey pushkey-\S+ about event \S+: 1 arrived \(at \+\d+ ms, answered 500\); no second came within 500 ms/);
    expect(details).not.to.include('other poke');
    expect(details).to.match(/the target → the mock gateway: POST \S+\/_matrix\/push\/v1\/notify\n\s+\{.*\n\s+← the gateway answered 500/);
  });

  it('curl lines name user ids by shell variables, as tokens, not by the ids made for the run', function () {
    const xs = (out.after500.json.conformance.results[0]?.exchanges ?? []) as unknown as Array<{ request: { url: string; body?: string }; curl?: string }>;
    const invite = xs.find((x) => x.request.url.endsWith('/createRoom'));
    const userId = /"invite":\["([^"]+)"\]/.exec(invite?.request.body ?? '')?.[1] as string;
    expect(userId, 'the report shows the id itself').to.match(/^@/);
    expect(invite?.curl).to.include(`'{"preset":"private_chat","invite":["'"$USER2_ID"'"]}'`).and.not.include(userId);
    for (const x of xs) expect(x.curl ?? '', 'no curl line holds a user id of the run').not.to.include(userId);
    expect(out.after500.stdout).to.include('$USER1_ID');
  });
});

describe('diagnosis: texts', function () {
  it('a value in a message is shortened whole: no key, string, escape or operator is cut', function () {
    const value = { app_id: 'org.matrix.conformance.ios', pushkey: 'pushkey-abcdef-1', data: { url: { $absent: true }, format: 'event_id_only' }, lang: 'x'.repeat(300), quote: 'a"b\\c'.repeat(40), list: [1, 2, { deep: ['y'.repeat(50)] }] };
    for (let max = 8; max <= 400; max += 7) {
      const s = shortJson(value, max);
      expect(s.length, `at ${max}`).to.be.at.most(max + 2);
      // Put back what "…" stands for and it parses: brackets balanced, strings closed, escapes whole.
      const parsed = JSON.parse(s.replace(/,…([}\]])/g, '$1').replace(/([{[])…([}\]])/g, '$1$2').replace(/…"/g, '"')) as Record<string, unknown>;
      for (const k of Object.keys(parsed)) expect(value, `key ${k} at ${max}`).to.have.property(k);
      expect(s.includes('$ab') && !s.includes('"$absent"'), `an operator cut at ${max}: ${s}`).to.equal(false);
    }
    const message = '/pushers lacks 1 expected item(s): {"app_id":"org","data":{"url":{"$absent":true}}} (closest item differs at /data/url: expected no member here)';
    for (let max = 20; max < message.length; max += 5) {
      const cut = cutMessage(message, max);
      const open = (cut.match(/[{[]/g) ?? []).length;
      const close = (cut.match(/[}\]]/g) ?? []).length;
      expect(open, `${max}: ${cut}`).to.equal(close);
      expect((cut.match(/"/g) ?? []).length % 2, `${max}: ${cut}`).to.equal(0);
    }
  });

  it('a missing retry says what arrived and when, and never counts the same poke as another', function () {
    const poke = (at: number, answered: number, body: unknown): Poke => Object.assign(new Poke(at, JSON.stringify(body)), { answered, answeredAt: at + 1 });
    const first = poke(1012, 500, { notification: { event_id: '$e', devices: [{ pushkey: 'pk' }] } });
    const text = missingText({ what: '2 pokes for pushkey pk about event $e', timeoutMs: 65_000, counted: [first], forPushkey: [first], caseStarted: 1000 });
    expect(text).to.include('1 arrived (at +12 ms, answered 500); no second came within 65 s');
    expect(text).not.to.include('other');
    const badge = poke(1030, 200, { notification: { counts: { unread: 1 }, devices: [{ pushkey: 'pk' }] } });
    expect(missingText({ what: '2 pokes', timeoutMs: 65_000, counted: [first], forPushkey: [first, badge], caseStarted: 1000 })).to.include('other pokes for the pushkey: a badge update (counts only) at +30 ms, answered 200');
    expect(missingText({ what: 'a poke for pushkey pk', timeoutMs: 15_000, counted: [], forPushkey: [], caseStarted: 0 })).to.equal('the gateway did not receive a poke for pushkey pk within 15 s');
  });

  it("an answer that is not JSON and holds the body sent before it on the connection gets the keep-alive hint; others do not", function () {
    const res = (text: string, previousBody?: string): HttpResponse => ({ status: 400, headers: {}, text, truncated: false, durationMs: 1, timings: { blocked: 0, connect: -1, ssl: -1, send: 0, wait: 1, receive: 0 }, ...(previousBody !== undefined ? { previousBody } : {}) });
    const body = '{"kind":"http","app_id":"a","pushkey":"k"}';
    expect(unreadBodyHint(res(`<html><body>400 Bad Request: ${body}POST /_matrix/client/v3/pushers HTTP/1.1</body></html>`, body))).to.include("the server may have left the previous request's body unread on a keep-alive connection");
    expect(unreadBodyHint(res('<html>400 Bad Request</html>', body))).to.equal('');
    expect(unreadBodyHint(res(`<html>${body}</html>`))).to.equal('');
  });

  it('each response knows the body sent before it on its connection', async function () {
    const seen: Array<{ conn: number; body: string }> = [];
    let conns = 0;
    const srv = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ conn: (req.socket as unknown as { n: number }).n, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    srv.on('connection', (s) => ((s as unknown as { n: number }).n = ++conns));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const client = new HttpClient({ timeoutMs: 2000, maxBodyBytes: 1 << 16 });
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
      const got: HttpResponse[] = [];
      for (let i = 0; i < 6; i++) got.push(await client.send({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: `{"n":${i}}` }));
      let reused = 0;
      got.forEach((r, i) => {
        const before = seen.slice(0, i).filter((s) => s.conn === seen[i]?.conn).pop();
        expect(r.previousBody, `request ${i}`).to.equal(before?.body);
        if (before) reused++;
      });
      expect(reused, 'some requests went out on a connection used before').to.be.greaterThan(0);
    } finally {
      await client.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
