/**
 * A green run means it was judged. The verdict names every area judged and
 * every area (or part of one) that could not be, with why; a run that judged
 * nothing exits 3; a gate fails on a case not judged unless its entry says
 * the target cannot take part, and on a listed skip that is judged now;
 * entries outside the version judged are reported and dropped.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NO_ROOMS } from './support/delivery-mutations.js';
import { advertising, combine, versionsUpTo } from './support/mutations.js';
import { json, startProxy, type ProxyServer } from './support/proxy-server.js';
import { readJsonReport, runCli } from './support/reports.js';

/** Delivery is attempted (the proxy relays pokes) but no room can be created: every delivery case is skipped for a reason of the target's. */
const NO_DRAFT = { name: 'no draft: its endpoints answer 404 M_UNRECOGNIZED', onRequest: (req: { path: string }) => (req.path.startsWith('/_matrix/client/api/v1/') ? json(404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }) : undefined) };

describe('verdicts: what was judged, and what was not', function () {
  this.timeout(120_000);
  let noRooms: ProxyServer;
  let noDraft: ProxyServer;
  let v1dot2: ProxyServer;
  const dir = mkdtempSync(join(tmpdir(), 'conformance-verdict-'));
  const path = (name: string): string => join(dir, name);

  before(async function () {
    [noRooms, noDraft, v1dot2] = await Promise.all([startProxy(NO_ROOMS), startProxy(NO_DRAFT), startProxy(combine('no rooms, up to v1.2', NO_ROOMS, { onRequest: advertising(versionsUpTo('v1.2')) }))]);
  });
  after(async function () {
    await Promise.all([noRooms.close(), noDraft.close(), v1dot2.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the areas judged and says push delivery was NOT JUDGED, with why; exit 0 when nothing judged failed', async function () {
    const r = await runCli(['--target', noRooms.url, '--edition', 'v1', '--gateway-tls', '--reporter', 'spec', '--reporter', `json:${path('no-rooms.json')}`]);
    expect(r.code, r.stderr + r.stdout.slice(-2000)).to.equal(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('conformance: '));
    // Push rules are judged on their API, and their delivery cases are not judged, for the same reason.
    expect(line).to.match(/^conformance: conforms at level MUST: .* — judged: the pushers API \(v1, \d+ cases\), push rules \(v1, \d+ cases\); push delivery \(v1\) NOT JUDGED: \d+ of \d+ cases skipped, the target cannot create rooms, so no event can be pushed; push rules \(v1\): \d+ of \d+ cases NOT JUDGED \(skipped\), the target cannot create rooms, so no event can be pushed$/);
    const report = readJsonReport(path('no-rooms.json'));
    const delivery = report.conformance.areas?.find((a) => a.area === 'delivery');
    expect(delivery?.judged).to.equal(0);
    expect(delivery?.notJudged).to.equal(delivery?.cases);
    expect(report.conformance.areas?.find((a) => a.area === 'pushers')?.judged).to.be.greaterThan(50);
    const skip = report.conformance.results.find((c) => c.id === 'v1.push.message-poked') as unknown as { skip: { cause: string } };
    expect(skip.skip.cause).to.equal('target');
  });

  it('exits 3 when every selected case is skipped for a reason of the target\u2019s: delivery alone on a server without rooms, the draft on a server without it', async function () {
    const [delivery, draft] = await Promise.all([runCli(['--target', noRooms.url, '--grep', 'v1.push', '--gateway-tls']), runCli(['--target', noDraft.url, '--edition', 'draft', '--no-delivery'])]);
    expect(delivery.code, delivery.stdout.slice(-1500)).to.equal(3);
    expect(delivery.stdout).to.match(/conformance: NOT JUDGED: no selected case could be judged: push delivery \(v1\) NOT JUDGED: \d+ of \d+ cases skipped, the target cannot create rooms/);
    expect(draft.code, draft.stdout.slice(-1500)).to.equal(3);
    expect(draft.stdout).to.include('conformance: NOT JUDGED: no selected case could be judged: edition draft NOT JUDGED: the target does not serve it');
  });

  it('an edition neither served nor advertised is reported as not judged but does not fail a run that judged another', async function () {
    const r = await runCli(['--target', noDraft.url, '--edition', 'all', '--no-delivery', '--grep', 'missing-app-id']);
    expect(r.code, r.stdout.slice(-1500)).to.equal(0);
    expect(r.stdout).to.match(/conformance: conforms .* — judged: the pushers API \(v1, 1 case\); edition draft NOT JUDGED: the target does not serve it/);
  });

  it('a run whose every case was left out by choice exits 2, never green', async function () {
    const r = await runCli(['--target', noRooms.url, '--grep', 'v1.push', '--no-delivery']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.include('conformance: NOT JUDGED: no selected case could be judged (every one was left out');
  });

  it('the gate: a skip of the target\u2019s fails it unless listed; --update-expectations lists it with its reason; a listed skip judged now fails it', async function () {
    const empty = path('empty.yaml');
    writeFileSync(empty, '{}\n');
    const args = ['--target', noRooms.url, '--edition', 'v1', '--gateway-tls', '--grep', 'poked'];
    const unlisted = await runCli([...args, '--expectations', empty]);
    expect(unlisted.code, unlisted.stdout.slice(-1500)).to.equal(3);
    // Every selected case is a delivery case here; with the pushers cases too the gate decides.
    const mixed = ['--target', noRooms.url, '--edition', 'v1', '--gateway-tls'];
    const failed = await runCli([...mixed, '--expectations', empty]);
    expect(failed.code, failed.stdout.slice(-1500)).to.equal(1);
    expect(failed.stdout).to.match(/gate: failed \(\d+ cases: \d+ not judged\)/);
    expect(failed.stdout).to.match(/ {2}- v1\.push\.message-poked: not judged: the target cannot create rooms/);
    const written = path('no-rooms.yaml');
    const update = await runCli([...mixed, '--update-expectations', written]);
    expect(update.code).to.equal(0);
    const entries = parse(readFileSync(written, 'utf8')) as Record<string, { reason: string; skipped?: string }>;
    expect(entries['v1.push.message-poked']?.skipped).to.equal('target');
    expect(entries['v1.push.message-poked']?.reason).to.include('the target cannot create rooms');
    const passes = await runCli([...mixed, '--expectations', written]);
    expect(passes.code, passes.stdout.slice(-1500)).to.equal(0);
    expect(passes.stdout).to.match(/gate: passed/);
    // The same file against a server with rooms: the listed skips are judged now, which the gate reports like stale entries.
    const withRooms = await startProxy({ name: 'the reference server, trusting any certificate', delivery: true });
    try {
      const stale = await runCli(['--target', withRooms.url, '--edition', 'v1', '--gateway-tls', '--grep', 'message-poked', '--expectations', written]);
      expect(stale.code, stale.stdout.slice(-1500)).to.equal(1);
      expect(stale.stdout).to.include('listed as not judged (target), but judged now');
    } finally {
      await withRooms.close();
    }
  });

  it('an entry for a case outside the version judged is reported, never failing, and --update-expectations drops it', async function () {
    const file = path('versioned.yaml');
    writeFileSync(file, 'v1.set.http-url-wrong-path:\n  reason: checks the path only from v1.13\n  requirements: [v1.set.http-url-path]\n');
    const r = await runCli(['--target', v1dot2.url, '--edition', 'v1', '--no-delivery', '--grep', 'http-url', '--expectations', file, '--update-expectations', path('versioned-new.yaml')]);
    expect(r.code, r.stdout.slice(-1500)).to.equal(0);
    expect(r.stdout).to.match(/gate: passed, 1 entry not run at the version judged/);
    expect(r.stdout).to.include('· v1.set.http-url-wrong-path: not run at v1.2: the entry says nothing here (--update-expectations drops it)');
    expect(parse(readFileSync(path('versioned-new.yaml'), 'utf8')) ?? {}).to.not.have.property('v1.set.http-url-wrong-path');
  });
});
