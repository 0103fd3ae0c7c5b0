/**
 * Answers a hostile target found in a red-team pass: each once made the
 * runner loop without end, crash, or show a secret. Each is now a test.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient } from '../src/http/client.js';
import { Redactor } from '../src/http/redact.js';
import { Transport } from '../src/http/transport.js';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockGateway } from '../src/areas/delivery/gateway/gateway.js';
import { tokensIn } from '../src/run/users.js';
import { cli } from './support/cli.js';
import { startProxy, type ProxyResponse } from './support/proxy-server.js';

type Handler = (method: string, path: string, body: string) => { status: number; body: string; headers?: Record<string, string> };

async function serve(handler: Handler): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits++;
      const a = handler(req.method ?? 'GET', (req.url ?? '/').split('?')[0] as string, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const VERSIONS = { status: 200, body: JSON.stringify({ versions: ['v1.1', 'v1.15'] }) };

describe('hostile answers', function () {
  this.timeout(60_000);

  it('a 429 naming a wait of 1e-300 ms is not hammered: the waits grow, and the budget (wall clock, tries included) ends it', async function () {
    const server = await serve(() => ({ status: 429, body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1e-300}' }));
    const t = new Transport(new HttpClient({ timeoutMs: 2000, maxBodyBytes: 1 << 16 }), { rateLimitBudgetMs: 1500 });
    try {
      const started = performance.now();
      const sent = await t.send({ method: 'GET', url: server.url, headers: {} });
      expect(sent.res.status).to.equal(429);
      expect(performance.now() - started).to.be.below(3000);
      expect(server.hits(), 'tries in a 1.5 s budget').to.be.below(12);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('a stop signal ends a rate-limit wait at once', async function () {
    const server = await serve(() => ({ status: 429, body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":20000}' }));
    const stop = new AbortController();
    const t = new Transport(new HttpClient({ timeoutMs: 2000, maxBodyBytes: 1 << 16 }), { rateLimitBudgetMs: 60_000, signal: stop.signal });
    try {
      const started = performance.now();
      setTimeout(() => stop.abort(), 200);
      const outcome = await t.send({ method: 'GET', url: server.url, headers: {} }).then(
        (s) => `answer ${s.res.status}`,
        (err: Error) => err.message,
      );
      expect(outcome).to.match(/ended while this request waited out a rate limit/);
      expect(performance.now() - started).to.be.below(2000);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('SIGTERM during the first request\'s rate-limit waits ends the run with 130', async function () {
    // Signalled once the first request arrived, so the run is in its wait (not after a second, which a loaded machine may spend starting up).
    let asked: () => void = () => undefined;
    const firstRequest = new Promise<void>((resolve) => (asked = resolve));
    const server = await serve(() => {
      asked();
      return { status: 429, body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":5000}' };
    });
    try {
      const { spawn } = await import('node:child_process');
      const { CLI } = await import('./support/cli.js');
      const child = spawn(process.execPath, [CLI, '--target', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      void firstRequest.then(() => child.kill('SIGTERM'));
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      expect(code, stderr).to.equal(130);
    } finally {
      await server.close();
    }
  });

  it('GET /pushers holding an item nested 20 000 deep: the cases that read it error, the run does not crash', async function () {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const proxy = await startProxy({
      name: 'deep pushers',
      onResponse: (req, res) => (req.method === 'GET' && /\/v3\/pushers$/.test(req.path) && res.status === 200 ? { status: 200, headers: { 'content-type': 'application/json' }, body: `{"pushers":[{"app_id":${deep},"pushkey":"k"}]}` } : undefined),
    });
    try {
      const r = await cli(['--target', proxy.url, '--edition', 'v1', '--no-delivery', '--jobs', '4'], 60_000);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).not.to.match(/internal error|RangeError/);
      expect(r.stdout).to.match(/ERR_JSON_TOO_DEEP|nested deeper/);
    } finally {
      await proxy.close();
    }
  });

  it('a token in a registration answer the run cannot use (201, no user_id) is not shown', async function () {
    const token = 'syt_SECRET_abcdef0123';
    const server = await serve((_m, path) => (path === '/_matrix/client/versions' ? VERSIONS : { status: 201, body: JSON.stringify({ access_token: token, device_id: 'D' }) }));
    try {
      const r = await cli(['--target', server.url, '--edition', 'v1', '--no-delivery'], 30_000);
      expect(r.code).to.equal(3);
      expect(r.stderr).to.include('201');
      expect(r.stdout + r.stderr).not.to.include('SECRET_abc');
    } finally {
      await server.close();
    }
  });

  it('a secret that straddles the 300 bytes shown of a setup answer is redacted before the cut', async function () {
    const token = 'syt_SECRET_abcdef0123';
    const server = await serve((_m, path) => (path === '/_matrix/client/versions' ? VERSIONS : { status: 400, body: JSON.stringify({ errcode: 'M_UNKNOWN', error: `${'x'.repeat(262)}${token}` }) }));
    try {
      const r = await cli(['--target', server.url, '--edition', 'v1', '--no-delivery'], 30_000, { CONFORMANCE_ACCESS_TOKENS: token });
      expect(r.code).to.equal(3);
      expect(r.stdout + r.stderr).not.to.include('SECRET_');
    } finally {
      await server.close();
    }
  });
});

describe('hostile answers, second red-team pass', function () {
  this.timeout(60_000);
  const answer = (status: number, body: string): ProxyResponse => ({ status, headers: { 'content-type': 'application/json' }, body });

  // An object with a member named toString: String() throws on it, a template literal too.
  const cases: Array<{ name: string; when: RegExp; method: string; body: ProxyResponse; shown: RegExp }> = [
    { name: 'a room id', when: /\/createRoom$/, method: 'POST', body: answer(200, '{"room_id":{"toString":1}}'), shown: /the value of room \(path segment 2\) would be \{"toString":1\}, which is not a string/ },
    { name: 'an event id', when: /\/send\//, method: 'PUT', body: answer(200, '{"event_id":{"toString":1}}'), shown: /ERR_CASE_VALUE: the event id awaited would be \{"toString":1\}/ },
    { name: 'an errcode of a refused room', when: /\/createRoom$/, method: 'POST', body: answer(404, '{"errcode":{"toString":1},"error":"no rooms here"}'), shown: /ERR_SETUP/ },
  ];
  for (const c of cases) {
    it(`an object with a toString member where ${c.name} is expected: the case errors, the run does not crash`, async function () {
      const proxy = await startProxy({ name: c.name, delivery: true, onRequest: (req) => (req.method === c.method && c.when.test(req.path) ? c.body : undefined) });
      try {
        const r = await cli(['--target', proxy.url, '--grep', 'v1.push.message-poked', '--gateway-tls'], 60_000);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr).not.to.match(/internal error|TypeError/);
        expect(r.stdout).to.match(c.shown);
      } finally {
        await proxy.close();
      }
    });
  }

  it('a refresh token the registration issues and a failing answer echoes (with a tab in it, JSON-escaped) is not shown', async function () {
    const refresh = 'syr_REFRESH\tLEAK_0123456789';
    const proxy = await startProxy({
      name: 'echoes the refresh token',
      onResponse: (req, res) => {
        if (req.path.endsWith('/register') && res.status === 200) return { ...res, body: JSON.stringify({ ...(JSON.parse(res.body) as object), refresh_token: refresh }) };
        if (req.path.endsWith('/pushers/set')) return answer(400, JSON.stringify({ errcode: 'M_UNKNOWN', error: `refresh with ${refresh}`, split: `${refresh.slice(0, 10)}\n    ${refresh.slice(10)}` }));
        return undefined;
      },
    });
    try {
      const r = await cli(['--target', proxy.url, '--grep', 'v1.set.valid-pusher', '--no-delivery'], 60_000);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.include('$ISSUED_TOKEN');
      for (const piece of ['REFRESH', 'LEAK_0123', '0123456789']) expect(r.stdout + r.stderr).not.to.include(piece);
    } finally {
      await proxy.close();
    }
  });

  it('tokens in a refused registration are found in the text: a duplicated key, a nested member, a body too deep to parse, a form-encoded body', function () {
    expect(tokensIn('{"access_token":"syt_DUP_1","access_token":null}')).to.deep.equal(['syt_DUP_1']);
    expect(tokensIn('{"session_info":{"access_token":"syt_NESTED_2"}}')).to.deep.equal(['syt_NESTED_2']);
    expect(tokensIn(`{"refresh_token":"syr_DEEP_3","x":${'['.repeat(5000)}${']'.repeat(5000)}}`)).to.deep.equal(['syr_DEEP_3']);
    expect(tokensIn('access_token=syt_FORM%2F4&error=no')).to.have.members(['syt_FORM%2F4', 'syt_FORM/4']);
    expect(tokensIn('{"acc\\u0065ss_token":"syt_\\u0045SC_5"}')).to.deep.equal(['syt_ESC_5']);
    expect(tokensIn('{"user_id":"@a:b","device_id":"D","home_server":"b"}')).to.deep.equal([]);
  });

  it('a registration refused with a duplicated access_token key shows neither value', async function () {
    const server = await serve((_m, path) => (path === '/_matrix/client/versions' ? VERSIONS : { status: 403, body: '{"access_token":"syt_DUPLEAK_abcdef","access_token":null,"errcode":"M_FORBIDDEN","error":"no"}' }));
    try {
      const r = await cli(['--target', server.url, '--edition', 'v1', '--no-delivery'], 30_000);
      expect(r.code).to.equal(3);
      expect(r.stderr).to.include('$ISSUED_TOKEN');
      expect(r.stdout + r.stderr).not.to.include('DUPLEAK');
    } finally {
      await server.close();
    }
  });

  it('a gateway that never finishes its TLS handshake does not keep the run from ending', async function () {
    const gateway = await MockGateway.start({ tls: true });
    const port = Number(new URL(gateway.url).port);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const started = performance.now();
    await gateway.close();
    // Node's own handshake timeout is 120 s: closing must not wait for it.
    expect(performance.now() - started).to.be.below(10_000);
    expect(socket.destroyed || (await new Promise<boolean>((r) => socket.once('close', () => r(true))))).to.equal(true);
  });
});

describe('the command line keeps secrets and says what went wrong', function () {
  this.timeout(60_000);

  it('a target URL given without --target is refused without its password, however the password is written', async function () {
    for (const args of [['http://admin:hunter2secret@127.0.0.1:8008'], ['--target', 'http://admin:hu/nter2secret@127.0.0.1:1'], ['--target', 'ftp://admin:p@hunter2secret@127.0.0.1:1'], ['--target', `http://admin:${'x'.repeat(90)}hunter2secret@127.0.0.1:1`]]) {
      const r = await cli(args, 10_000);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).not.to.match(/hunter2|xxxxxxxx/);
    }
  });

  it('an access token starting with "-" is taken as the value, not echoed as an unknown option', async function () {
    const r = await cli(['--access-token', '-Zsecrettoken123', '--target', 'http://127.0.0.1:1'], 10_000);
    expect(r.code).to.equal(3);
    expect(r.stdout + r.stderr).not.to.include('secrettoken');
    const missing = await cli(['--access-token', '--strict'], 10_000);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--access-token needs a value');
  });

  it('a gateway address that cannot be listened on ends the run with exit 2 and one line, no report left', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-listen-'));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      for (const listen of [`127.0.0.1:${port}`, 'nosuchhost.invalid:1234']) {
        const r = await cli(['--grep', 'v1.push.message-poked', '--gateway-listen', listen, '--reporter', `json:${join(dir, 'r.json')}`], 30_000);
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stderr.trim().split('\n')).to.have.length(1);
        expect(r.stderr).to.match(/the run's gateway could not start: cannot listen on .* \((EADDRINUSE|ENOTFOUND|EAI_AGAIN)\)/);
      }
      const r = await cli(['--gateway-listen', '127.0.0.1:99999'], 10_000);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--gateway-listen takes HOST:PORT');
    } finally {
      taken.close();
    }
  });

  it('a report that cannot be written (a full disk) does not stop the others: exit 2 and a line naming it', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-full-'));
    const r = await cli(['--grep', 'v1.set.valid-pusher', '--reporter', 'json:/dev/full', '--reporter', `tap:${join(dir, 'r.tap')}`], 30_000);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/cannot write the report \/dev\/full \(ENOSPC\)/);
    expect(r.stderr).not.to.match(/internal error/);
    expect(readFileSync(join(dir, 'r.tap'), 'utf8')).to.match(/^TAP version 13\n/);
  });
});

describe('the redactor', function () {
  const token = 'syt_SECRET2_q7Wz3kPx';
  const r = new Redactor();
  r.add(token, '$T');
  r.add('pa"ss\\wörd😀xyz', '$P');
  r.add('Q7z', '$S');
  r.add('correct horse battery', '$H');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const forms: Record<string, string> = {
    'as it is': token,
    'upper case': token.toUpperCase(),
    'lower case': token.toLowerCase(),
    'split by a line break': `${token.slice(0, 8)}\r\n${token.slice(8)}`,
    'split by a space': `${token.slice(0, 5)} ${token.slice(5)}`,
    'JSON \\u escapes': [...token].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    'percent-encoded': [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''),
    'percent-encoded twice': [...token].map((c) => `%25${c.charCodeAt(0).toString(16)}`).join(''),
    'HTML decimal references': [...token].map((c) => `&#${c.charCodeAt(0)};`).join(''),
    'HTML hex references': [...token].map((c) => `&#x${c.charCodeAt(0).toString(16)};`).join(''),
    hex: Buffer.from(token).toString('hex'),
    'base64 at offset 0': b64(token),
    'base64 at offset 1': b64(`x${token}`),
    'base64 at offset 2': b64(`xy${token}`),
    'base64url at offset 1': b64(`x${token}`).replace(/\+/g, '-').replace(/\//g, '_'),
    'split by a JSON \\n escape and indentation': `${token.slice(0, 8)}\\n    ${token.slice(8)}`,
    'split by a lone CR': `${token.slice(0, 8)}\r${token.slice(8)}`,
    'split by two spaces': `${token.slice(0, 8)}  ${token.slice(8)}`,
    'split by a no-break space': `${token.slice(0, 8)}\u00a0${token.slice(8)}`,
    'in base64 wrapped into lines': b64(token).replace(/(.{10})/g, '$1\n'),
    'as HTML named references': token.replace(/_/g, '&lowbar;'),
    'as HTML references without semicolons': [...token].map((c) => `&#${c.charCodeAt(0)}`).join(''),
    'percent-encoded three times': [...token].map((c) => `%2525${c.charCodeAt(0).toString(16)}`).join(''),
    'in upper-case hex with colons': Buffer.from(token).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:'),
    'in fullwidth letters': [...token].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
    'but for its last character': token.slice(0, -1),
    'from its second half only': token.slice(token.length / 2),
  };
  for (const [name, form] of Object.entries(forms)) {
    it(`hides a token echoed ${name}`, function () {
      const out = r.apply(`before ${form} after`);
      expect(out).not.to.include(form);
      expect(out.toLowerCase()).not.to.include('secret2');
    });
  }

  it('keeps format characters in text that holds no secret (the outputs show them escaped)', function () {
    expect(r.apply('a\u202eb\u200bc')).to.equal('a\u202eb\u200bc');
  });

  it('hides a password with quotes, backslashes and characters outside the BMP, JSON-escaped as JavaScript and as Python write it', function () {
    expect(r.apply(JSON.stringify('pa"ss\\wörd😀xyz'))).to.equal('"$P"');
    expect(r.apply('"pa\\"ss\\\\w\\u00f6rd\\ud83d\\ude00xyz"')).to.equal('"$P"');
  });

  it('hides a token holding a tab or a line break, JSON-escaped', function () {
    const t = new Redactor();
    t.add('syt_TAB\tpart_secret3', '$T');
    t.add('syt_NL\npart_secret4', '$N');
    expect(t.apply(JSON.stringify({ e: 'syt_TAB\tpart_secret3', f: 'syt_NL\npart_secret4' }))).to.equal('{"e":"$T","f":"$N"}');
  });

  it('leaves ordinary text alone, and pieces of a secret shorter than half of it', function () {
    const text = 'v1.19 https://push.example.org/_matrix/push/v1/notify org.matrix.conformance.ios syt_SEC';
    expect(r.apply(text)).to.equal(text);
  });

  it('hides a password with spaces written with + or %20', function () {
    expect(r.apply('correct+horse+battery')).to.equal('$H');
    expect(r.apply('correct%20horse%20battery')).to.equal('$H');
  });

  it('hides a short secret where it stands as a whole word, and leaves it inside longer words', function () {
    expect(r.apply('access_token=Q7z&x=1 "Q7z"')).to.equal('access_token=$S&x=1 "$S"');
    expect(r.apply('XQ7zX')).to.equal('XQ7zX');
  });

  it('cuts after redacting: no part of a secret survives at the cut', function () {
    const text = `${'a'.repeat(290)}${token}${'b'.repeat(100)}`;
    const c = r.applyCut(text, 300);
    expect(c.cut).to.equal(true);
    expect(c.text).not.to.include('syt_SEC');
    expect(Buffer.byteLength(c.text)).to.be.at.most(300);
  });
});
