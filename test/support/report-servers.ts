/**
 * Servers for the tests of the reports (reporters, html-report): they wrap
 * the reference server through proxy-server.ts. Some answer with text meant
 * to break the reports that show it: terminal escape sequences (clear the
 * screen, set the window title), CR and NUL, C1 controls, lone surrogates,
 * and markup that would end a CDATA section or a script, or start an
 * element. Others give long astral values, every outcome in one run, or a
 * case whose outcome varies.
 */
import { ALLOWED_AT_MUST, BROKEN, combine } from './mutations.js';
import { body, isGet, isSet, json, type Json, type Mutation, type ProxyResponse } from './proxy-server.js';

export function brokenServer(name: string): Mutation {
  const m = BROKEN.find((b) => b.name === name) ?? ALLOWED_AT_MUST.find((b) => b.name === name);
  if (!m) throw new Error(`no server "${name}" in test/support/mutations.ts`);
  return m;
}

/** Fails v1.set.app-id-64-chars (counts bytes) and v1.get.astral-characters (stores U+FFFD): run it with `--edition v1 --grep outside`. */
export const BROKEN_ASTRAL = combine('app_id limit in bytes, astral characters stored as U+FFFD', brokenServer('v1: the app_id limit counts bytes, not characters'), brokenServer('v1: characters outside the BMP are stored as U+FFFD (a 3-byte UTF-8 column)'));

/**
 * Every outcome in one run (`--strict --spec-version v1.1 --edition v1 --grep
 * delete`, with an expectations file listing v1.delete.without-app-id as
 * failing v1.delete.requires-ids): a 500 for a delete without pushkey
 * (errored), a 200 for one without app_id (failed: an expected failure), a
 * 400 for a pusher that does not exist (a SHOULD failure, counted under
 * --strict), two cases left out for v1.1 (skipped), one that passes.
 */
export const MIXED = combine(
  'every outcome',
  { onRequest: (req) => (isSet(req, 'v1') && typeof req.json === 'object' && req.json !== null && (req.json as Json)['kind'] === null && !('pushkey' in req.json) ? json(500, { errcode: 'M_UNKNOWN', error: 'the delete crashed' }) : undefined) },
  brokenServer('v1: kind null without app_id or pushkey is accepted'),
  brokenServer('v1: deleting a pusher that does not exist answers 400 M_UNKNOWN'),
);
export const MIXED_EXPECTATIONS = 'v1.delete.without-app-id:\n  reason: a delete without app_id is taken as a no-op\n  requirements: [v1.delete.requires-ids]\n';

/** Answers every other valid create with 400: a case run twice (--repeat 2) is flaky. */
export const FLAKY: Mutation = {
  name: 'every other create refused',
  onRequest(req, state) {
    if (!isSet(req, 'v1') || typeof body(req)['kind'] !== 'string') return undefined;
    const n = ((state.get('n') as number | undefined) ?? 0) + 1;
    state.set('n', n);
    return n % 2 === 0 ? json(400, { errcode: 'M_UNKNOWN', error: 'not this time' }) : undefined;
  },
};

/** Everything that must never reach a terminal raw, nor break XML, HTML or TAP. */
export const HOSTILE = 'A\x1b[2J\x1b]0;pwned-title\x07B\r\nok 99 - forged\nnot ok 98 - forged\r# forged\0C\x08\x0b\x0c\x1f\x7fD\u0085E\u009b31mF\ud800G\udc00H ]]> </script><script>alert(1)</script> <b>bold</b> & "q" \'a\' \u2028\u2029 --> <!-- \ufffe\uffff I\u202eJ\u2066K\u2069L\u200bM\u200dN\ufeffO\u00adP\u{e0041}Q';

/**
 * What an HTTP header value can carry (Node refuses C0 controls in headers,
 * but writes code points 0x80-0xff as single bytes, which a client reads back
 * as latin1): C1 controls, and markup.
 */
export const HOSTILE_HEADER = 'h\u0085i\u009b[2J \u009d0;title\u009c <b>x</b> ]]> </script> & "';

/**
 * A v1 server that answers with hostile text, a vector per kind of case (run
 * it with `--edition v1 --grep create`):
 *  - a create without lang: 400 whose errcode, error, a member name and a header value are hostile (fails v1.errors.shape);
 *  - a create without data: 200 text/plain whose content-type parameter and body are hostile (errors: not JSON);
 *  - a create without app_id: 500 whose error is hostile (errors);
 *  - a valid create: 200 with a hostile member, where `{}` is expected (v1.set.valid-pusher fails on an unexpected member);
 *  - GET /pushers: each pusher with a hostile display name and member (the round-trip cases fail on the value).
 */
export const HOSTILE_SERVER: Mutation = {
  name: 'hostile text in error strings, member names, header values and non-JSON bodies',
  onRequest(req) {
    if (!isSet(req, 'v1') || typeof body(req)['kind'] !== 'string') return undefined;
    const b = body(req);
    const headers = { 'content-type': 'application/json', 'x-hostile': HOSTILE_HEADER };
    if (!('lang' in b)) return { status: 400, headers, body: JSON.stringify({ errcode: `M_${HOSTILE}`, error: HOSTILE, [HOSTILE]: { [HOSTILE]: HOSTILE } }) };
    if (!('data' in b)) return { status: 200, headers: { 'content-type': `text/plain; x=${HOSTILE_HEADER}`, 'x-hostile': HOSTILE_HEADER }, body: HOSTILE };
    if (!('app_id' in b)) return { status: 500, headers, body: JSON.stringify({ errcode: 'M_UNKNOWN', error: HOSTILE }) };
    return undefined;
  },
  onResponse(req, res): ProxyResponse | undefined {
    const headers = { 'content-type': 'application/json', 'x-hostile': HOSTILE_HEADER };
    if (isSet(req, 'v1') && typeof body(req)['kind'] === 'string' && res.status === 200 && 'data' in body(req)) return { status: 200, headers, body: JSON.stringify({ [HOSTILE]: HOSTILE }) };
    if (!isGet(req) || res.status !== 200) return undefined;
    let parsed: Json;
    try {
      parsed = JSON.parse(res.body) as Json;
    } catch {
      return undefined;
    }
    const pushers = Array.isArray(parsed['pushers']) ? (parsed['pushers'] as Json[]) : [];
    return { status: 200, headers, body: JSON.stringify({ ...parsed, pushers: pushers.map((p) => ({ ...p, app_display_name: HOSTILE, [HOSTILE]: HOSTILE })) }) };
  },
};

/** A long run of characters outside the BMP: 4 bytes each in UTF-8, two UTF-16 code units. */
export const ASTRAL = '😀'.repeat(6000);

/**
 * A v1 server whose answers hold long values of astral characters, placed so
 * that a cut counted in UTF-16 code units at any even or odd offset would
 * split a pair: creates answer 400 with such an error (behind a one-character
 * prefix, and without), and GET /pushers lists each pusher with such a
 * display name. The cases fail on their status or round-trip checks.
 */
export const ASTRAL_SERVER: Mutation = {
  name: 'long values of characters outside the BMP',
  onRequest(req) {
    if (!isSet(req, 'v1') || typeof body(req)['kind'] !== 'string') return undefined;
    return json(400, { errcode: 'M_UNKNOWN', error: `x${ASTRAL}`, other: ASTRAL, third: `yz${ASTRAL}` });
  },
};

/** A v1 server whose GET /pushers always answers an empty list: every round-trip check fails, on patterns the cases share. */
export const NEVER_LISTS: Mutation = {
  name: 'GET /pushers lists nothing',
  onResponse: (req, res) => (isGet(req) && res.status === 200 ? json(200, { pushers: [] }) : undefined),
};
