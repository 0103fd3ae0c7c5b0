/**
 * Servers without open registration: accounts given with --user or
 * --access-token, cases that need more accounts skipped (not failed), the
 * accounts' own pushers left alone, and the run's pushers cleaned up.
 */
import { expect } from 'chai';
import { cli } from './support/cli.js';
import { createServer, type RunningServer } from '../reference-server/index.js';
import { body, json, startProxy, withJson } from './support/proxy-server.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

interface Report {
  stats: { passes: number; pending: number; failures: number };
  conformance: { results: Array<{ id: string; outcome: string; skip?: { code: string; reason: string } }> };
}

/** The cases skipped for want of accounts (others may be left out for the version judged). */
const usersSkipped = (r: Report): Report['conformance']['results'] => r.conformance.results.filter((x) => x.skip?.code === 'users');

/** The v1 cases, as the tests below need them: which ask for fresh users (given accounts cannot be fresh), and how many users each needs. */
function v1Cases(): Array<{ id: string; fresh: boolean; users: number }> {
  const dir = join(process.cwd(), 'cases', 'v1');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml') && !f.split('/').pop()?.startsWith('_'))
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as { id: string; fresh_users?: boolean; users?: string[] })
    .map((c) => ({ id: c.id, fresh: c.fresh_users === true, users: c.users?.length ?? 0 }));
}

const FRESH = 'needs fresh users, and given accounts (--user / --access-token) are not';

/**
 * With `given` accounts, the cases skipped for want of accounts are exactly
 * those needing fresh users or more accounts (of those the version judged
 * runs), each with its reason.
 */
function onlyUsersSkipped(r: Report, given: number): Report['conformance']['results'] {
  const forVersion = new Set(r.conformance.results.filter((x) => x.skip?.code === 'version').map((x) => x.id));
  const wanting = v1Cases().filter((c) => !forVersion.has(c.id) && (c.fresh || c.users > given));
  const skipped = usersSkipped(r);
  expect(skipped.map((s) => s.id).sort()).to.deep.equal(wanting.map((c) => c.id).sort());
  for (const s of skipped) {
    const c = wanting.find((x) => x.id === s.id);
    // Too few accounts is said first.
    expect(s.skip?.reason, s.id).to.equal((c?.users ?? 0) > given ? `needs ${c?.users ?? 0} accounts; ${given} given (--user / --access-token)` : FRESH);
  }
  return skipped;
}

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function register(base: string, username: string, password: string): Promise<string> {
  const url = `${base}/_matrix/client/v3/register`;
  const first = await post(url, { username, password });
  const second = await post(url, { username, password, auth: { type: 'm.login.dummy', session: first.json['session'] } });
  return second.json['access_token'] as string;
}

async function pushers(base: string, token: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${base}/_matrix/client/v3/pushers`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { pushers: Array<Record<string, unknown>> }).pushers;
}

describe('given accounts', function () {
  this.timeout(60_000);
  let server: RunningServer;
  let tokenA = '';
  let tokenB = '';
  const own = { kind: 'http', app_id: 'com.example.own', pushkey: 'own-device', app_display_name: 'Own', device_display_name: 'Own', lang: 'en', data: { url: 'https://push.example.org/_matrix/push/v1/notify' } };

  before(async function () {
    server = await createServer({ port: 0 });
    tokenA = await register(server.url, 'staging_a', 'correct horse battery');
    tokenB = await register(server.url, 'staging_b', 'battery staple horse');
    // Account A already has a pusher of its own: the run must leave it and not count it.
    expect((await post(`${server.url}/_matrix/client/v3/pushers/set`, own, tokenA)).status).to.equal(200);
  });
  after(async function () {
    await server.close();
  });

  it('with one account, cases needing two are skipped with the reason, and the rest pass', async function () {
    const r = await cli(['--target', server.url, '--user', 'staging_a:correct horse battery', '--strict', '--reporter', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(r.stdout) as Report;
    expect(json.stats.failures).to.equal(0);
    expect(json.stats.passes).to.be.greaterThan(30);
    const skipped = onlyUsersSkipped(json, 1);
    expect(skipped.map((s) => s.id)).to.include.members(['v1.append.true-keeps', 'v1.get.isolation']);
    expect(r.stdout).not.to.include('correct horse battery');
  });

  it('leaves the account as it was: its own pusher kept, the run\'s pushers deleted', async function () {
    const list = await pushers(server.url, tokenA);
    expect(list.map((p) => p['pushkey'])).to.deep.equal(['own-device']);
  });

  it('with two accounts (a password and a token) every case runs but those needing fresh users, and no secret is shown', async function () {
    const r = await cli(['--target', server.url, '--user', 'staging_a:correct horse battery', '--access-token', tokenB, '--strict', '--reporter', 'json', '--reporter', 'tap:/dev/null']);
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(r.stdout) as Report;
    onlyUsersSkipped(json, 2);
    expect(json.stats.failures).to.equal(0);
    expect(r.stdout + r.stderr).not.to.include(tokenB);
    expect(r.stdout + r.stderr).not.to.include('correct horse battery');
    expect((await pushers(server.url, tokenB)).length).to.equal(0);
  });

  it('accounts can come from the environment, out of the process list', async function () {
    const r = await cli(['--target', server.url, '--strict', '--reporter', 'json'], 60_000, { CONFORMANCE_USERS: 'staging_a:correct horse battery\n', CONFORMANCE_ACCESS_TOKENS: tokenB });
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(r.stdout) as Report;
    onlyUsersSkipped(json, 2);
    expect(r.stdout + r.stderr).not.to.include(tokenB);
    expect(r.stdout + r.stderr).not.to.include('correct horse battery');
    const embedded = await cli(['--grep', 'valid-pusher'], 60_000, { CONFORMANCE_USERS: 'staging_a:correct horse battery' });
    expect(embedded.code, 'without --target the variables are ignored').to.equal(0);
  });

  it('a wrong password ends the run with exit 3 and one line', async function () {
    const r = await cli(['--target', server.url, '--user', 'staging_a:wrong password']);
    expect(r.code).to.equal(3);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/logging in as staging_a answered 403 M_FORBIDDEN/);
    expect(r.stderr).not.to.include('wrong password');
  });

  it('--registration-token with a server that offers only m.login.dummy still registers', async function () {
    const r = await cli(['--target', server.url, '--registration-token', 'tok-123456', '--grep', 'valid-pusher']);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('--registration-token completes the m.login.registration_token stage; without it, exit 3 says what to do', async function () {
    // A server whose registration asks for a token: the proxy checks it, then registers through the reference server's dummy flow.
    const gated = await startProxy({
      name: 'registration needs a token',
      onRequest: async (req, _state, forward) => {
        if (!req.path.endsWith('/register')) return undefined;
        const auth = body(req)['auth'] as { type?: string; token?: string } | undefined;
        if (auth?.type !== 'm.login.registration_token' || auth.token !== 'tok-secret-42') {
          return json(401, { flows: [{ stages: ['m.login.registration_token'] }], params: {}, session: 'gate' });
        }
        const { auth: _a, ...rest } = body(req);
        const first = JSON.parse((await forward(withJson(req, rest))).body) as { session: string };
        return forward(withJson(req, { ...rest, auth: { type: 'm.login.dummy', session: first.session } }));
      },
    });
    try {
      const ok = await cli(['--target', gated.url, '--registration-token', 'tok-secret-42', '--grep', 'append']);
      expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
      expect(ok.stdout + ok.stderr).not.to.include('tok-secret-42');
      const no = await cli(['--target', gated.url]);
      expect(no.code).to.equal(3);
      expect(no.stderr).to.include('m.login.registration_token');
      expect(no.stderr).to.include('--registration-token');
    } finally {
      await gated.close();
    }
  });

  it('a given account whose GET /pushers holds null, numbers and objects for ids: a verdict, never an internal error', async function () {
    const proxy = await startProxy({
      name: 'malformed pusher lists',
      onResponse: (req, res) => {
        if (req.method !== 'GET' || !req.path.endsWith('/pushers') || res.status !== 200) return undefined;
        const real = (JSON.parse(res.body) as { pushers?: unknown[] }).pushers ?? [];
        return { ...res, body: JSON.stringify({ pushers: [null, 7, { app_id: { o: 1 }, pushkey: null }, ...real] }) };
      },
    });
    try {
      const a = await register(proxy.url, 'malformed_a', 'correct horse battery');
      const b = await register(proxy.url, 'malformed_b', 'battery staple horse');
      const r = await cli(['--target', proxy.url, '--access-token', a, '--access-token', b, '--grep', 'v1.get', '--reporter', 'json']);
      // The junk is there before the run too, so the account's baseline holds it and list checks leave it out.
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).not.to.include('internal error');
      const json = JSON.parse(r.stdout) as Report;
      expect(json.conformance.results.filter((x) => x.outcome === 'passed').length).to.be.greaterThan(5);
    } finally {
      await proxy.close();
    }
  });
});
