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
import { cli } from './support/cli.js';
import { startProxy } from './support/proxy-server.js';

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
    const server = await serve(() => ({ status: 429, body: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":5000}' }));
    try {
      const { spawn } = await import('node:child_process');
      const { CLI } = await import('./support/cli.js');
      const child = spawn(process.execPath, [CLI, '--target', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      setTimeout(() => child.kill('SIGTERM'), 1000);
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
  };
  for (const [name, form] of Object.entries(forms)) {
    it(`hides a token echoed ${name}`, function () {
      const out = r.apply(`before ${form} after`);
      expect(out).not.to.include(form);
      expect(out.toLowerCase()).not.to.include('secret2');
    });
  }

  it('hides a password with quotes, backslashes and characters outside the BMP, JSON-escaped as JavaScript and as Python write it', function () {
    expect(r.apply(JSON.stringify('pa"ss\\wörd😀xyz'))).to.equal('"$P"');
    expect(r.apply('"pa\\"ss\\\\w\\u00f6rd\\ud83d\\ude00xyz"')).to.equal('"$P"');
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
