/**
 * The mock push gateway on its own: which pokes it takes for a pushkey, how it
 * answers, and the request forms it must accept.
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { integer, makeCertificate } from '../src/gateway/cert.js';
import { isBadgeBody, MockGateway } from '../src/gateway/gateway.js';

/** POSTs a body to the gateway with the request target written as given (origin or absolute form). */
function post(port: number, target: string, body: unknown): Promise<{ status: number; body: string }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: target, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
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
