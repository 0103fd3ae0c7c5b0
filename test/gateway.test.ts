/**
 * The mock push gateway on its own: which pokes it takes for a pushkey, how it
 * answers, and the request forms it must accept.
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { integer, makeCertificate } from '../src/areas/delivery/gateway/cert.js';
import { isBadgeBody, MockGateway } from '../src/areas/delivery/gateway/gateway.js';
import { gatewayService } from '../src/areas/delivery/gateway/index.js';
import { loadSuite, run } from '../src/kinds.js';
import { startProxy } from './support/proxy-server.js';

/** POSTs a body to the gateway with the request target written as given (origin or absolute form). */
function post(port: number, target: string, body: unknown, agent?: Agent): Promise<{ status: number; body: string }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: target, ...(agent ? { agent } : {}), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

const device = (pushkey: string): object => ({ app_id: 'org.example.app', pushkey, data: {} });

describe('the mock push gateway', function () {
  let gateway: MockGateway;
  let port: number;
  beforeEach(async function () {
    gateway = await MockGateway.start();
    port = Number(new URL(gateway.url).port);
  });
  afterEach(async function () {
    await gateway.close();
  });

  it('takes a poke whose request target is in absolute form (RFC 9112 3.2.2), and refuses other paths with 404', async function () {
    const ok = await post(port, `http://127.0.0.1:${port}/_matrix/push/v1/notify`, { notification: { event_id: '$e', devices: [device('k1')] } });
    expect(ok.status).to.equal(200);
    expect(gateway.pokesFor('k1')).to.have.length(1);
    expect((await post(port, `http://127.0.0.1:${port}/_matrix/push/v1/other`, {})).status).to.equal(404);
    expect((await post(port, '/_matrix/push/v1/notify/', {})).status).to.equal(404);
  });

  it('tells badge updates (counts alone, a room_id allowed, empty or null event fields as Synapse writes them) from pokes about an event', function () {
    expect(isBadgeBody({ notification: { counts: { unread: 1 }, devices: [] } })).to.equal(true);
    expect(isBadgeBody({ notification: { id: '', type: null, sender: '', counts: { unread: 0 }, devices: [] } })).to.equal(true);
    expect(isBadgeBody({ notification: { room_id: '!r:x', counts: { unread: 0 }, devices: [] } })).to.equal(true);
    expect(isBadgeBody({ notification: { event_id: '$e', room_id: '!r:x', devices: [] } })).to.equal(false);
    // No event id, but a sender and a type: about an event, badly.
    expect(isBadgeBody({ notification: { room_id: '!r:x', type: 'm.room.message', sender: '@b:x', devices: [] } })).to.equal(false);
    expect(isBadgeBody({ notification: { content: { body: 'hi' }, devices: [] } })).to.equal(false);
    expect(isBadgeBody('not an object')).to.equal(false);
  });

  it('uses a told 500 and a told rejection on pokes about an event only; badge updates are answered as usual', async function () {
    gateway.answer('k2', { status: 500, times: 1 });
    gateway.answer('k3', { reject: true });
    const badge = (k: string): object => ({ notification: { id: '', type: null, sender: '', counts: { unread: 0 }, devices: [device(k)] } });
    const event = (k: string): object => ({ notification: { event_id: '$e', room_id: '!r:x', devices: [device(k)] } });
    expect((await post(port, '/_matrix/push/v1/notify', badge('k2'))).status).to.equal(200);
    expect((await post(port, '/_matrix/push/v1/notify', event('k2'))).status).to.equal(500);
    expect((await post(port, '/_matrix/push/v1/notify', event('k2'))).status).to.equal(200);
    expect(JSON.parse((await post(port, '/_matrix/push/v1/notify', badge('k3'))).body)).to.deep.equal({ rejected: [] });
    expect(JSON.parse((await post(port, '/_matrix/push/v1/notify', event('k3'))).body)).to.deep.equal({ rejected: ['k3'] });
  });

  it('attributes a poke that names no device by the pushkey in its text, as a whole word only', async function () {
    await post(port, '/_matrix/push/v1/notify', { event_id: '$e', pushkey: 'pushkey-ab-6' });
    expect(gateway.pokesFor('pushkey-ab-6')).to.have.length(1);
    expect(gateway.pokesFor('pushkey-ab-65')).to.have.length(0);
    expect(gateway.pokesFor('pushkey-ab')).to.have.length(0);
    // A poke that names devices is for those devices alone, whatever else its text holds.
    await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$e', room_name: 'pushkey-zz', devices: [device('pushkey-yy')] } });
    expect(gateway.pokesFor('pushkey-zz')).to.have.length(0);
    expect(gateway.pokesFor('pushkey-yy')).to.have.length(1);
  });

  it('records when each poke was answered, after it arrived', async function () {
    await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$e', devices: [device('k4')] } });
    const [p] = gateway.pokesFor('k4');
    expect(p?.answeredAt).to.be.at.least(p?.at ?? Infinity);
  });
});

describe('the mock push gateway against a flood', function () {
  let gateway: MockGateway;
  let port: number;
  const RUN = 'c0ffee42';
  beforeEach(async function () {
    gateway = await MockGateway.start({ runId: RUN, maxKeptBytes: 64 * 1024 });
    port = Number(new URL(gateway.url).port);
  });
  afterEach(async function () {
    await gateway.close();
  });

  it('keeps whole only pokes that name a pushkey of the run; of the others a summary that names their pushkeys, escaped', async function () {
    const mine = `pushkey-${RUN}-3`;
    await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$e', devices: [device(mine)] } });
    await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$e', devices: [device('someone-elses\u001b[2J')] } });
    const flood = `[${Array(20_000).fill('{}').join(',')}]`;
    for (let i = 0; i < 20; i++) expect((await post(port, '/_matrix/push/v1/notify', flood)).status).to.equal(200);
    expect(gateway.pokes.map((p) => p.pushkeys)).to.deep.equal([[mine]]);
    expect(gateway.pokesFor(mine)).to.have.length(1);
    expect(gateway.strayCount).to.equal(21);
    const [wrong, ...floods] = gateway.strays;
    expect(wrong?.pushkeys).to.deep.equal(['someone-elses\\u001b[2J']);
    expect(wrong?.head).to.match(/^\{"notification"/);
    for (const f of floods) expect(f).to.include({ bytes: flood.length, answered: 200 }).and.to.have.property('head').that.matches(/^\[\{\},\{\}/);
  });

  it('takes a poke for the run whose pushkey is written with \\u escapes', async function () {
    await post(port, '/_matrix/push/v1/notify', `{"notification":{"event_id":"$e","devices":[{"app_id":"a","pushkey":"\\u0070ushkey-${RUN}-1"}]}}`);
    expect(gateway.pokesFor(`pushkey-${RUN}-1`)).to.have.length(1);
  });

  it('keeps pokes of the run within its byte budget: the oldest become summaries', async function () {
    const big = (i: number): object => ({ notification: { event_id: `$e${i}`, room_name: 'x'.repeat(30_000), devices: [device(`pushkey-${RUN}-${i}`)] } });
    for (let i = 0; i < 4; i++) await post(port, '/_matrix/push/v1/notify', big(i));
    expect(gateway.pokes.map((p) => p.pushkeys[0])).to.deep.equal([`pushkey-${RUN}-2`, `pushkey-${RUN}-3`]);
    expect(gateway.strays.map((p) => p.pushkeys)).to.deep.equal([[`pushkey-${RUN}-0`], [`pushkey-${RUN}-1`]]);
  });

  it('reads a poke nested deeper than any check reads as no JSON', async function () {
    await post(port, '/_matrix/push/v1/notify', `${'['.repeat(300)}"pushkey-${RUN}-9"${']'.repeat(300)}`);
    const [p] = gateway.pokesFor(`pushkey-${RUN}-9`);
    expect(p?.body).to.equal(undefined);
  });

  it('counts a poke sent on a kept connection after an answer as sent after it; one on a fresh connection as sent when it connected', async function () {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const key = `pushkey-${RUN}-7`;
      await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$a', devices: [device(key)] } }, agent);
      await post(port, '/_matrix/push/v1/notify', { notification: { event_id: '$b', devices: [device(key)] } }, agent);
      const [first, second] = gateway.pokesFor(key);
      expect(first?.sentAt).to.be.at.most(first?.at ?? -1);
      expect(second?.sentAt).to.be.at.least(first?.answeredAt ?? Infinity);
    } finally {
      agent.destroy();
    }
  });

  it('settles once a poke that had begun to arrive is answered, and a connection that sends nothing only bounds the wait', async function () {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const body = JSON.stringify({ notification: { event_id: '$late', devices: [device(`pushkey-${RUN}-8`)] } });
    socket.write(`POST /_matrix/push/v1/notify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    const settled = gateway.settled(10_000).then(() => gateway.pokesFor(`pushkey-${RUN}-8`).length);
    socket.write(body);
    expect(await settled, 'the poke under way was waited for').to.equal(1);
    const idle = connect(port, '127.0.0.1');
    idle.on('error', () => undefined);
    await new Promise<void>((r) => idle.once('connect', () => r()));
    let done = false;
    const bounded = gateway.settled(50).then(() => (done = true));
    await bounded;
    expect(done).to.equal(true);
    socket.destroy();
    idle.destroy();
  });
});

describe('the certificate made for a --gateway-tls run', function () {
  it('encodes integers minimally: no leading zero but the one a set high bit needs', function () {
    const hex = (b: number[]): string => integer(Buffer.from(b)).toString('hex');
    expect(hex([0x01])).to.equal('020101');
    expect(hex([0x00, 0x01])).to.equal('020101');
    expect(hex([0x00, 0x00, 0x7f])).to.equal('02017f');
    expect(hex([0x80])).to.equal('02020080');
    expect(hex([0x00, 0x80])).to.equal('02020080');
    expect(hex([0x00])).to.equal('020100');
  });

  it('is always a certificate Node can read (300 in a row, each with a random serial)', function () {
    for (let i = 0; i < 300; i++) {
      const c = makeCertificate();
      expect(new X509Certificate(c.cert).subjectAltName).to.include('IP Address:127.0.0.1');
    }
  });
});

describe('the mock gateway over HTTPS', function () {
  this.timeout(20_000);
  const dir = mkdtempSync(join(tmpdir(), 'conformance-gateway-cert-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A TLS client that trusts only `ca`: the handshake's outcome, or the certificate it was served. */
  const handshake = (url: string, ca?: string): Promise<{ served?: string; error?: string }> =>
    new Promise((resolve) => {
      const u = new URL(url);
      const socket = tlsConnect({ host: u.hostname, port: Number(u.port), ...(ca ? { ca } : {}), servername: 'localhost' }, () => {
        resolve({ served: socket.getPeerX509Certificate()?.fingerprint256 });
        socket.end();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });

  it('starts an HTTPS listener when the target refuses the http:// URL, and offers it from then on', async function () {
    const gateway = await MockGateway.start({ runId: 'r1' });
    try {
      expect(gateway.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/_matrix\/push\/v1\/notify$/);
      const [a, b] = await Promise.all([gateway.alternative(), gateway.alternative()]);
      expect(a).to.be.a('string');
      expect(b, 'a step refused before the switch is sent again too').to.equal(a);
      expect(gateway.url).to.match(/^https:\/\/127\.0\.0\.1:\d+\/_matrix\/push\/v1\/notify$/);
      expect(gateway.value('url')).to.equal(gateway.url);
    } finally {
      await gateway.close();
    }
    const given = await MockGateway.start({ url: 'http://gateway.example:9999/_matrix/push/v1/notify' });
    const tls = await MockGateway.start({ tls: true });
    try {
      expect(await given.alternative(), 'a URL the user gave is kept').to.equal(undefined);
      expect(await tls.alternative(), 'HTTPS from the start has nothing else to offer').to.equal(undefined);
    } finally {
      await Promise.all([given.close(), tls.close()]);
    }
  });

  it('serves the certificate given with --gateway-cert and --gateway-key, and notes a handshake the target does not finish', async function () {
    const made = makeCertificate();
    writeFileSync(join(dir, 'cert.pem'), made.cert);
    writeFileSync(join(dir, 'key.pem'), made.key);
    const gateway = await MockGateway.start({ tls: true, certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') });
    try {
      const trusted = await handshake(gateway.url, made.cert);
      expect(trusted.served).to.equal(made.fingerprint);
      const since = performance.now();
      const failures: string[] = [];
      gateway.onHandshakeFailure((r) => failures.push(r));
      const untrusted = await handshake(gateway.url);
      expect(untrusted.error).to.match(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
      await new Promise<void>((resolve) => (failures.length ? resolve() : gateway.onHandshakeFailure(() => resolve())));
      expect(gateway.handshakeFailureSince(since)).to.match(/^the target (ended the TLS handshake with the alert|closed the connection during the TLS handshake)/);
    } finally {
      await gateway.close();
    }
  });

  it('refuses a certificate or key it cannot use, in one line', async function () {
    writeFileSync(join(dir, 'not.pem'), 'not a certificate');
    const other = makeCertificate();
    writeFileSync(join(dir, 'other-key.pem'), other.key);
    writeFileSync(join(dir, 'cert2.pem'), makeCertificate().cert);
    const problems: string[] = [];
    for (const options of [{ certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'key.pem') }, { certFile: join(dir, 'not.pem'), keyFile: join(dir, 'key.pem') }, { certFile: join(dir, 'cert2.pem') }, { certFile: join(dir, 'cert2.pem'), keyFile: join(dir, 'other-key.pem') }]) {
      try {
        await (await MockGateway.start({ tls: true, ...options })).close();
        problems.push('started');
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems[0]).to.match(/^cannot read the certificate .*missing\.pem \(ENOENT\)$/);
    expect(problems[1]).to.match(/not\.pem holds no PEM certificate$/);
    expect(problems[2]).to.equal('--gateway-cert needs --gateway-key');
    expect(problems[3]).to.match(/cannot serve HTTPS/);
    for (const p of problems) expect(p).to.not.include('\n');
  });
});

describe('the gateway offered over HTTPS only when its http:// URL is refused', function () {
  this.timeout(60_000);

  it('keeps the http:// URL a target took when a later step carrying it is refused for something else (NaN in a pusher\'s data)', async function () {
    // Behind the proxy the reference server takes http:// gateway URLs, as Synapse does, and refuses NaN with 400.
    const server = await startProxy({ name: 'the reference server, taking http:// gateway URLs', delivery: true });
    try {
      const sets: string[] = [];
      const report = await run({
        target: server.url,
        editions: ['v1'],
        suite: loadSuite(),
        grep: 'v1.push.data-nan',
        services: new Map([['gateway', gatewayService(server.url, { tls: false })]]),
        onExchange: (x) => {
          if (x.from === undefined && x.req.url.endsWith('/pushers/set') && typeof x.req.body === 'string') sets.push(x.req.body);
        },
      });
      expect(report.results.map((r) => `${r.id} ${r.outcome}`)).to.deep.equal(['v1.push.data-nan passed']);
      expect(sets.filter((b) => b.includes('NaN')), 'the refused step is sent once, not again over HTTPS').to.have.length(1);
      expect(sets.filter((b) => b.includes('https://')), 'no pusher is set at the gateway over HTTPS').to.deep.equal([]);
    } finally {
      await server.close();
    }
  });
});
