/**
 * Deliberately broken servers (each breaks one rule of spec/pushers.md and
 * nothing else) and deliberately different correct servers (each takes
 * another choice the spec allows). They wrap the reference server through
 * proxy-server.ts; no broken behaviour lives in reference-server/.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemasDir } from '../../src/paths.js';
import { replaceOutsideStrings } from '../../src/json.js';
import { body, isGet, isSet, json, withJson, type Json, type Mutation, type ProxyRequest, type ProxyResponse } from './proxy-server.js';

export interface Broken extends Mutation {
  /**
   * The one requirement this server violates. A MUST requirement: the cases
   * in `fails` fail the default run. A SHOULD requirement: the default run
   * passes (warnings at most) and exactly the cases in `fails` fail --strict.
   */
  violates: string;
  /** Case ids that must fail against it (under --strict for a SHOULD), no more and no fewer. */
  fails: string[];
  /**
   * Other requirements some of those cases may cite. Only where the violation
   * makes them untestable by nature: a GET that is not the right shape cannot
   * show any list correctly, a 201 cannot be the 200 another rule expects.
   */
  alsoCites?: string[];
  /**
   * Cases at once (default 8). A server whose violation shows other users'
   * state can only fail the same cases on every run when one case runs at a
   * time: at 8, whether another case's pusher exists at a given moment is timing.
   */
  jobs?: number;
}

/** A correct server that does not follow a SHOULD (a choice the spec allows at MUST level): it passes the default run. */
export interface AllowedAtMust extends Mutation {
  /** The SHOULD requirements it does not follow. */
  skips: string[];
  /** Case ids that fail under --strict, through warnings of `skips` only. */
  failsStrict: string[];
}

const V1_SET = '/_matrix/client/v3/pushers/set';
const URL_OK = 'https://push.example.org/_matrix/push/v1/notify';

const parseBody = (res: ProxyResponse): Json => {
  try {
    return JSON.parse(res.body) as Json;
  } catch {
    return {};
  }
};
const isCreate = (req: ProxyRequest): boolean => typeof body(req)['kind'] === 'string';
const isDelete = (req: ProxyRequest): boolean => 'kind' in body(req) && body(req)['kind'] === null;
const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Remembers, per token, every pusher the server accepted: what some mutations need to misbehave consistently. */
function remember(state: Map<string, unknown>, req: ProxyRequest, res: ProxyResponse): void {
  if (!isSet(req) || res.status !== 200 || !req.token) return;
  const all = (state.get('pushers') as Map<string, Map<string, Json>> | undefined) ?? new Map<string, Map<string, Json>>();
  state.set('pushers', all);
  const mine = all.get(req.token) ?? new Map<string, Json>();
  all.set(req.token, mine);
  const b = body(req);
  const key = `${req.path}\n${String(b['app_id'])}\n${String(b['pushkey'])}`;
  // The pusher set last comes last.
  mine.delete(key);
  if (!isDelete(req)) mine.set(key, b);
}
function pushersOf(state: Map<string, unknown>, token: string): Map<string, Json> {
  return ((state.get('pushers') as Map<string, Map<string, Json>> | undefined)?.get(token)) ?? new Map<string, Json>();
}

/** Applies `fn` to every string inside a JSON value (keys left alone). */
function mapStrings(v: unknown, fn: (s: string) => string): unknown {
  if (typeof v === 'string') return fn(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, fn));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, fn)]));
  return v;
}
/** The first complete JSON object at the start of `text`, ignoring what follows it, as a streaming decoder reads it. */
function firstJsonValue(text: string): unknown {
  const t = text.trimStart();
  if (!t.startsWith('{')) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        try {
          return JSON.parse(t.slice(0, i + 1)) as unknown;
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Reverses the member order of every object in a JSON value. */
function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversedKeys(x)]));
  return v;
}
const replyOnSet = (edition: 'v1' | 'draft', when: (b: Json, req: ProxyRequest) => boolean, res: ProxyResponse): Mutation['onRequest'] => (req) => (isSet(req, edition) && when(body(req), req) ? res : undefined);
const rewriteSet = (edition: 'v1' | 'draft', fn: (b: Json) => Json | undefined): Mutation['onRequest'] => (req) => {
  if (!isSet(req, edition)) return undefined;
  const next = fn({ ...body(req) });
  return next ? withJson(req, next) : undefined;
};

/** The data.url the reference server accepts: the pattern of its own schema (spec/schemas/v1-set-request.json). */
const REFERENCE_URL = new RegExp((JSON.parse(readFileSync(join(schemasDir, 'v1-set-request.json'), 'utf8')) as { properties: { data: { properties: { url: { pattern: string } } } } }).properties.data.properties.url.pattern);
const parseUrl = (s: string): URL | undefined => {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
};

/**
 * A v1 server whose data.url check lets through the string URLs for which
 * `lets` holds and the reference server refuses: it stores them as a good
 * URL. Deletes carry the URL too (the suite's clean-up sends the whole body).
 */
const urlLetThrough = (lets: (url: string, u: URL | undefined) => boolean): Mutation['onRequest'] =>
  rewriteSet('v1', (b) => {
    const data = b['data'] as Json | undefined;
    if (typeof data !== 'object' || data === null || typeof data['url'] !== 'string' || REFERENCE_URL.test(data['url'])) return undefined;
    return lets(data['url'], parseUrl(data['url'])) ? { ...b, data: { ...data, url: URL_OK } } : undefined;
  });

/** Rewrites the errcode of v1 set answers for which `when` holds (the status and message stay). */
const errcodeOnSet = (when: (errcode: string, req: ProxyRequest) => boolean, errcode: string): Mutation['onResponse'] => (req, res) => {
  if (!isSet(req, 'v1') || res.status < 400) return undefined;
  const b = parseBody(res);
  return typeof b['errcode'] === 'string' && when(b['errcode'], req) ? json(res.status, { ...b, errcode }) : undefined;
};
const isObjectBody = (req: ProxyRequest): boolean => typeof req.json === 'object' && req.json !== null && !Array.isArray(req.json);

/** What GET /_matrix/client/versions advertises: the last r0 and v1.1 up to `newest` (the reference server advertises up to the newest the suite models). */
export const versionsUpTo = (newest: string): string[] => ['r0.6.1', ...Array.from({ length: Number(newest.replace(/^v1\./, '')) }, (_, i) => `v1.${i + 1}`)];
/** A server that advertises `versions` in GET /_matrix/client/versions, and otherwise behaves like the reference server. */
export const advertising = (versions: readonly string[]): Mutation['onRequest'] => (req) => (req.method === 'GET' && req.path === '/_matrix/client/versions' ? json(200, { versions }) : undefined);

/**
 * One server made of several deviations: the first onRequest that answers
 * wins, rewritten requests go on to the next; every onResponse applies in turn.
 */
export function combine(name: string, ...parts: Array<Omit<Mutation, 'name'>>): Mutation {
  return {
    name,
    async onRequest(req, state, forward, push) {
      let current = req;
      let rewritten = false;
      for (const p of parts) {
        const out = await p.onRequest?.(current, state, forward, push);
        if (out && 'status' in out) return out;
        if (out) {
          current = out;
          rewritten = true;
        }
      }
      return rewritten ? current : undefined;
    },
    async onResponse(req, res, state, push) {
      let current = res;
      for (const p of parts) current = (await p.onResponse?.(req, current, state, push)) ?? current;
      return current === res ? undefined : current;
    },
  };
}

/** A v1 delete (kind null) of a pusher the user does not have is answered with `answer`. */
const missingDeleteAnswers = (answer: ProxyResponse): Mutation['onRequest'] => (req, state) => {
  if (!isSet(req, 'v1') || !isDelete(req) || !req.token) return undefined;
  const b = body(req);
  if (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string') return undefined;
  return pushersOf(state, req.token).has(`${req.path}\n${b['app_id']}\n${b['pushkey']}`) ? undefined : answer;
};

/** Every key of the draft's pushers/set, none of them marked optional. */
const DRAFT_KEYS = ['pushkey', 'kind', 'instance_handle', 'app_id', 'app_display_name', 'device_display_name', 'lang', 'data'];

/** The four fields that, before v1.6, every request (a delete too) had to carry. */
const PRE_V1_6_FIELDS = ['app_display_name', 'device_display_name', 'lang', 'data'];

/** Refuses a v1 delete that lacks any of the fields every version before v1.6 required (so a delete of just kind, app_id and pushkey). */
export const refuseMinimalDelete: Omit<Mutation, 'name'> = {
  onRequest: (req) => {
    if (!isSet(req, 'v1') || !isDelete(req)) return undefined;
    const missing = PRE_V1_6_FIELDS.find((k) => !(k in body(req)));
    return missing ? json(400, { errcode: 'M_MISSING_PARAM', error: `missing field '${missing}'` }) : undefined;
  },
};

/**
 * A v1 delete (kind null) also removes the pushers of other users with the
 * same app_id and pushkey: unless it carries append true (the append rule
 * read as covering deletes too, as Dendrite reads it), or `always`.
 */
const deleteAcrossUsers = (always: boolean): Omit<Mutation, 'name'> => ({
  onRequest: async (req, state, forward) => {
    if (!isSet(req, 'v1') || !isDelete(req) || !req.token) return undefined;
    const b = body(req);
    if (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string' || (b['append'] === true && !always)) return undefined;
    const key = `${req.path}\n${b['app_id']}\n${b['pushkey']}`;
    const all = (state.get('pushers') as Map<string, Map<string, Json>> | undefined) ?? new Map<string, Map<string, Json>>();
    for (const [token, mine] of all) {
      if (token === req.token || !mine.has(key)) continue;
      await forward({ ...withJson(req, { kind: null, app_id: b['app_id'], pushkey: b['pushkey'] }), headers: { ...req.headers, authorization: `Bearer ${token}` }, token });
      mine.delete(key);
    }
    return undefined;
  },
  onResponse: (req, res, state) => void remember(state, req, res),
});
/** The append rule on a delete: without append true, other users' pushers with the same app_id and pushkey go too. */
export const deleteFollowsAppend = deleteAcrossUsers(false);

/** append: true is read as false: the other users' pushers with the same app_id and pushkey are removed. */
export const replaceOnAppend: Omit<Mutation, 'name'> = {
  onRequest: rewriteSet('v1', (b) => (b['append'] === true ? { ...b, append: false } : undefined)),
};

/** The data.url scheme is checked (https://, a host), its path is not. */
export const urlAnyPath: Omit<Mutation, 'name'> = {
  onRequest: urlLetThrough((_url, u) => u?.protocol === 'https:' && u.host !== ''),
};

/** The data.format of a v1 create, when it is one other than event_id_only. */
const otherFormat = (req: ProxyRequest): unknown => {
  if (!isSet(req, 'v1') || !isCreate(req)) return undefined;
  const data = body(req)['data'];
  const format = typeof data === 'object' && data !== null ? (data as Json)['format'] : undefined;
  return format === 'event_id_only' ? undefined : format;
};
/** A data.format other than event_id_only is refused (an enumeration of one value). */
export const refuseOtherFormat: Omit<Mutation, 'name'> = {
  onRequest: (req) => (otherFormat(req) !== undefined ? json(400, { errcode: 'M_INVALID_PARAM', error: 'data.format: must be "event_id_only"' }) : undefined),
};

/** What stands in, as a string the reference server keeps, for a value JSON cannot write. */
const NON_FINITE = /"org\.conformance\.non-finite:(NaN|-?Infinity)"/g;
const nonFinite = (token: string): string => `org.conformance.non-finite:${token}`;
/** Numbers JSON cannot write (1e400 reads as Infinity) replaced by their stand-ins. */
function standIns(v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return nonFinite(Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity');
  if (Array.isArray(v)) return v.map(standIns);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, standIns(x)]));
  return v;
}
/** The bare tokens NaN, Infinity and -Infinity outside strings, as their stand-ins (strings): what a lenient parser reads. */
const tokensAsStandIns = (text: string): string =>
  replaceOutsideStrings(text, (rest) => {
    const token = /^(?:NaN|-?Infinity)/.exec(rest)?.[0];
    return token ? { out: JSON.stringify(nonFinite(token)), length: token.length } : undefined;
  });
/**
 * Reads v1 set bodies as Python's json module does: NaN and Infinity are
 * numbers, and 1e400 is Infinity. The reference server is given stand-ins it
 * keeps; `written` says how a server writes them back in GET /pushers (and,
 * with `poked`, in notifications): as bare tokens (not JSON), or as null.
 */
export const readsNonFinite = (written: { listed: 'bare' | 'null'; poked: 'bare' | 'null' }): Omit<Mutation, 'name'> => {
  const write = (how: 'bare' | 'null') => (text: string): string => text.replace(NON_FINITE, (_m, token: string) => (how === 'bare' ? token : 'null'));
  return {
    onRequest: (req) => {
      if (!isSet(req, 'v1')) return undefined;
      if (req.json !== undefined) {
        const replaced = standIns(req.json);
        return JSON.stringify(replaced) === JSON.stringify(req.json) ? undefined : withJson(req, replaced);
      }
      // Only the tokens are read leniently: bytes that are not UTF-8, a trailing comma or trailing text stay refused.
      const text = tokensAsStandIns(req.body);
      if (text === req.body || (req.bytes && !Buffer.from(req.body, 'utf8').equals(req.bytes))) return undefined;
      try {
        return withJson(req, JSON.parse(text) as unknown);
      } catch {
        return undefined;
      }
    },
    onResponse: (req, res) => (isGet(req) && res.body.includes('org.conformance.non-finite:') ? { ...res, body: write(written.listed)(res.body) } : undefined),
    onPush: (call) => call.forward(write(written.poked)(JSON.stringify(call.body))),
  };
};

/** Commas before a closing } or ], outside strings, dropped: what a lenient parser accepts. */
const withoutTrailingCommas = (text: string): string => replaceOutsideStrings(text, (rest) => (/^,\s*[}\]]/.test(rest) ? { out: '', length: 1 } : undefined));

/**
 * A v1 delete (kind null) of one of the user's pushers that is not the one
 * the user set last answers 200 and deletes nothing, when `when` holds. A
 * delete of the newest pusher still works, so the suite's clean-up (which
 * deletes newest first) leaves the users clean: only the cases that delete
 * one pusher and keep another see the bug.
 */
const deleteOnlyNewest = (when: (b: Json) => boolean): Omit<Mutation, 'name'> => ({
  onRequest: (req, state) => {
    if (!isSet(req, 'v1') || !isDelete(req) || !req.token || !when(body(req))) return undefined;
    const b = body(req);
    const key = `${req.path}\n${String(b['app_id'])}\n${String(b['pushkey'])}`;
    const mine = [...pushersOf(state, req.token).keys()].filter((k) => k.startsWith(V1_SET));
    if (!mine.includes(key) || mine[mine.length - 1] === key) return undefined;
    const ignored = (state.get('ignored') as WeakSet<ProxyRequest> | undefined) ?? new WeakSet<ProxyRequest>();
    state.set('ignored', ignored);
    ignored.add(req);
    return json(200, {});
  },
  // A delete answered without being done leaves the pusher where it was.
  onResponse: (req, res, state) => ((state.get('ignored') as WeakSet<ProxyRequest> | undefined)?.has(req) ? undefined : void remember(state, req, res)),
});

export const BROKEN: Broken[] = [
  // ---- v1 ----
  {
    name: 'v1: no token answers M_UNKNOWN_TOKEN',
    violates: 'v1.auth.missing-token',
    fails: ['v1.auth.get-no-token', 'v1.auth.set-no-token'],
    onRequest: (req) => (req.path.startsWith('/_matrix/client/v3/pushers') && !req.token ? json(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown token' }) : undefined),
  },
  {
    name: 'v1: a token in the access_token query parameter is not taken (401 M_MISSING_TOKEN)',
    violates: 'v1.auth.query-token',
    fails: ['v1.auth.query-token'],
    onRequest: (req) => (req.path.startsWith('/_matrix/client/v3/') && req.headers['authorization'] === undefined && new URLSearchParams(req.query).has('access_token') ? json(401, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' }) : undefined),
  },
  {
    name: 'v1: deleting a pusher that does not exist answers 400 M_UNKNOWN',
    violates: 'v1.delete.missing-ok',
    fails: ['v1.delete.missing-pusher'],
    onRequest: missingDeleteAnswers(json(400, { errcode: 'M_UNKNOWN', error: 'no such pusher' })),
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'v1: unknown token answers 403 M_FORBIDDEN',
    violates: 'v1.auth.unknown-token',
    fails: ['v1.auth.get-unknown-token', 'v1.auth.set-unknown-token'],
    onResponse: (req, res) => (req.path.startsWith('/_matrix/client/v3/pushers') && parseBody(res)['errcode'] === 'M_UNKNOWN_TOKEN' ? json(403, { errcode: 'M_FORBIDDEN', error: 'no' }) : undefined),
  },
  {
    name: 'v1: a body that is not JSON is accepted',
    violates: 'v1.set.not-json',
    fails: ['v1.set.body-not-json'],
    onRequest: replyOnSet('v1', (_b, req) => req.json === undefined && req.body !== '', json(200, {})),
  },
  {
    name: 'v1: a JSON body that is not an object is accepted',
    violates: 'v1.set.not-object',
    fails: ['v1.set.body-json-array', 'v1.set.body-json-null', 'v1.set.body-json-number', 'v1.set.body-json-string'],
    onRequest: (req) => (isSet(req, 'v1') && req.json !== undefined && (typeof req.json !== 'object' || req.json === null || Array.isArray(req.json)) ? json(200, {}) : undefined),
  },
  {
    name: 'v1: missing display names, lang or data are filled with defaults',
    violates: 'v1.set.required-fields',
    fails: ['v1.set.missing-app-display-name', 'v1.set.missing-data', 'v1.set.missing-device-display-name', 'v1.set.missing-lang'],
    onRequest: rewriteSet('v1', (b) => (typeof b['kind'] === 'string' ? { app_display_name: 'x', device_display_name: 'x', lang: 'en', data: { url: URL_OK }, ...b } : undefined)),
  },
  {
    name: 'v1: fields of the wrong type are coerced',
    violates: 'v1.set.field-types',
    fails: ['v1.set.wrong-type-app-id', 'v1.set.wrong-type-append', 'v1.set.wrong-type-data'],
    onRequest: rewriteSet('v1', (b) => {
      if (typeof b['app_id'] === 'number') b['app_id'] = String(b['app_id']);
      if (typeof b['data'] === 'string') b['data'] = { url: URL_OK };
      if (typeof b['append'] === 'string') b['append'] = b['append'] === 'true';
      return b;
    }),
  },
  {
    name: 'v1: a create missing pushkey, app_id or kind gets them filled (empty ids, kind http)',
    violates: 'v1.set.required-fields',
    fails: ['v1.set.missing-app-id', 'v1.set.missing-kind', 'v1.set.missing-pushkey'],
    onRequest: rewriteSet('v1', (b) => ('data' in b || 'lang' in b) && !(('kind' in b) && 'app_id' in b && 'pushkey' in b) ? { kind: 'http', app_id: '', pushkey: '', ...b } : undefined),
  },
  {
    name: 'v1: string fields of another JSON type are turned into strings',
    violates: 'v1.set.field-types',
    fails: ['v1.set.wrong-type-app-display-name', 'v1.set.wrong-type-device-display-name', 'v1.set.wrong-type-kind', 'v1.set.wrong-type-lang', 'v1.set.wrong-type-profile-tag', 'v1.set.wrong-type-pushkey'],
    onRequest: rewriteSet('v1', (b) => {
      let changed = false;
      for (const k of ['pushkey', 'app_display_name', 'device_display_name', 'lang', 'profile_tag']) {
        if (k in b && b[k] !== null && typeof b[k] !== 'string') {
          b[k] = JSON.stringify(b[k]);
          changed = true;
        }
      }
      if ('kind' in b && b['kind'] !== null && typeof b['kind'] !== 'string') {
        b['kind'] = 'http';
        changed = true;
      }
      return changed ? b : undefined;
    }),
  },
  {
    name: 'v1: an app_id over 64 characters is cut to 64 and accepted',
    violates: 'v1.set.app-id-length',
    fails: ['v1.set.app-id-65-chars'],
    onRequest: rewriteSet('v1', (b) => (typeof b['app_id'] === 'string' && [...b['app_id']].length > 64 ? { ...b, app_id: [...b['app_id']].slice(0, 64).join('') } : undefined)),
  },
  {
    name: 'v1: the app_id limit counts bytes, not characters',
    violates: 'v1.set.app-id-length',
    fails: ['v1.set.app-id-64-chars'],
    onRequest: replyOnSet('v1', (b) => typeof b['app_id'] === 'string' && Buffer.byteLength(b['app_id']) > 64, json(400, { errcode: 'M_INVALID_PARAM', error: 'app_id too long' })),
  },
  {
    name: 'v1: a pushkey over 512 bytes is accepted',
    violates: 'v1.set.pushkey-length',
    fails: ['v1.set.pushkey-513-bytes'],
    onRequest: rewriteSet('v1', (b) => (typeof b['pushkey'] === 'string' && Buffer.byteLength(b['pushkey']) > 512 ? { ...b, pushkey: shortHash(b['pushkey']) } : undefined)),
  },
  {
    name: 'v1: the pushkey limit counts characters, not bytes',
    violates: 'v1.set.pushkey-length',
    fails: ['v1.set.pushkey-513-bytes'],
    onRequest: rewriteSet('v1', (b) => (typeof b['pushkey'] === 'string' && Buffer.byteLength(b['pushkey']) > 512 && [...b['pushkey']].length <= 512 ? { ...b, pushkey: shortHash(b['pushkey']) } : undefined)),
  },
  {
    name: 'v1: an http pusher without data.url is accepted',
    violates: 'v1.set.http-url-required',
    fails: ['v1.set.http-without-url'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'];
      return b['kind'] === 'http' && typeof data === 'object' && data !== null && !('url' in data) ? { ...b, data: { ...(data as Json), url: URL_OK } } : undefined;
    }),
  },
  {
    name: 'v1: a successful set answers 201',
    violates: 'v1.set.success',
    fails: ['v1.append.absent-replaces', 'v1.append.false-replaces', 'v1.append.true-keeps', 'v1.auth.query-token', 'v1.delete.full-body', 'v1.delete.other-users-pusher', 'v1.delete.removes-pusher', 'v1.delete.without-app-id', 'v1.delete.without-pushkey', 'v1.get.isolation', 'v1.get.isolation-shared-pusher', 'v1.get.round-trip', 'v1.get.astral-characters', 'v1.get.data-empty-values', 'v1.get.long-display-names', 'v1.get.round-trip-profile-tag', 'v1.get.url-verbatim', 'v1.get.verbatim-strings', 'v1.set.app-id-64-chars', 'v1.set.format-other-string', 'v1.set.profile-tag-shared', 'v1.set.pushkey-512-bytes', 'v1.set.pushkey-case-sensitive', 'v1.set.same-pushkey-two-app-ids', 'v1.set.update-in-place', 'v1.set.update-in-place-append-true', 'v1.set.valid-pusher'],
    alsoCites: ['v1.auth.query-token', 'v1.set.app-id-length', 'v1.set.format-other', 'v1.set.profile-tag-shared', 'v1.set.pushkey-length'],
    onResponse: (req, res) => (isSet(req, 'v1') && isCreate(req) && res.status === 200 ? { ...res, status: 201 } : undefined),
  },
  {
    name: 'v1: a successful set answers a JSON array',
    violates: 'v1.set.success',
    fails: ['v1.set.valid-pusher'],
    onResponse: (req, res) => (isSet(req, 'v1') && isCreate(req) && res.status === 200 ? { ...res, body: '[]' } : undefined),
  },
  {
    name: 'v1: GET /pushers answers a bare array',
    violates: 'v1.get.shape',
    fails: ['v1.append.absent-replaces', 'v1.append.false-replaces', 'v1.auth.query-token', 'v1.delete.full-body', 'v1.delete.other-users-pusher', 'v1.delete.removes-pusher', 'v1.get.isolation', 'v1.get.isolation-shared-pusher', 'v1.get.round-trip', 'v1.get.astral-characters', 'v1.get.data-empty-values', 'v1.get.long-display-names', 'v1.get.round-trip-profile-tag', 'v1.get.url-verbatim', 'v1.get.verbatim-strings', 'v1.set.format-other-string', 'v1.set.profile-tag-shared', 'v1.set.pushkey-512-bytes', 'v1.set.pushkey-case-sensitive', 'v1.set.same-pushkey-two-app-ids', 'v1.set.update-in-place', 'v1.set.update-in-place-append-true'],
    alsoCites: ['v1.append.replaces', 'v1.auth.query-token', 'v1.delete.own-only', 'v1.delete.removes', 'v1.get.isolation', 'v1.get.round-trip', 'v1.set.format-other', 'v1.set.identity', 'v1.set.profile-tag-shared', 'v1.set.update-in-place'],
    onResponse: (req, res) => (isGet(req) && res.status === 200 ? { ...res, body: JSON.stringify(parseBody(res)['pushers']) } : undefined),
  },
  {
    name: 'v1: custom keys of data are dropped',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.round-trip', 'v1.get.astral-characters', 'v1.get.data-empty-values', 'v1.get.round-trip-profile-tag', 'v1.set.update-in-place'],
    alsoCites: ['v1.set.update-in-place'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'] as Json | undefined;
      if (typeof data !== 'object' || data === null) return undefined;
      return { ...b, data: Object.fromEntries(Object.entries(data).filter(([k]) => k === 'url' || k === 'format')) };
    }),
  },
  {
    name: 'v1: GET lists an unset profile_tag as null',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.round-trip'],
    alsoCites: ['v1.get.shape'],
    onResponse: (req, res) => {
      if (!isGet(req) || res.status !== 200) return undefined;
      const b = parseBody(res);
      const pushers = (b['pushers'] as Json[]).map((p) => ('profile_tag' in p ? p : { ...p, profile_tag: null }));
      return { ...res, body: JSON.stringify({ pushers }) };
    },
  },
  {
    name: 'v1: GET lists every user\'s pushers',
    violates: 'v1.get.isolation',
    jobs: 1,
    fails: ['v1.append.absent-replaces', 'v1.append.false-replaces', 'v1.get.isolation', 'v1.get.isolation-shared-pusher'],
    alsoCites: ['v1.append.replaces', 'v1.delete.removes', 'v1.get.round-trip', 'v1.set.identity', 'v1.set.profile-tag-shared', 'v1.set.update-in-place'],
    onResponse: (req, res, state) => {
      remember(state, req, res);
      if (!isGet(req) || res.status !== 200 || !req.token) return undefined;
      const all = (state.get('pushers') as Map<string, Map<string, Json>> | undefined) ?? new Map();
      const others = [...all.entries()].filter(([t]) => t !== req.token).flatMap(([, m]) => [...m.entries()].filter(([k]) => k.startsWith(V1_SET)).map(([, p]) => ({ ...p, append: undefined })));
      return { ...res, body: JSON.stringify({ pushers: [...((parseBody(res)['pushers'] as Json[]) ?? []), ...others] }) };
    },
  },
  {
    name: 'v1: a second set with the same app_id and pushkey adds a pusher instead of updating',
    violates: 'v1.set.update-in-place',
    fails: ['v1.set.update-in-place', 'v1.set.update-in-place-append-true'],
    onResponse: (req, res, state) => {
      // Keep the first version of each pusher and list it beside the current one.
      if (isSet(req, 'v1') && isCreate(req) && res.status === 200 && req.token) {
        const firsts = (state.get('firsts') as Map<string, Json> | undefined) ?? new Map<string, Json>();
        state.set('firsts', firsts);
        const b = body(req);
        const key = `${req.token}\n${String(b['app_id'])}\n${String(b['pushkey'])}`;
        const old = firsts.get(key);
        if (!old) firsts.set(key, b);
        else if (JSON.stringify(old) !== JSON.stringify(b)) (state.get('stale') as Json[] | undefined)?.push({ ...old, token: req.token }) ?? state.set('stale', [{ ...old, token: req.token }]);
      }
      if (!isGet(req) || res.status !== 200) return undefined;
      const stale = ((state.get('stale') as Json[] | undefined) ?? []).filter((p) => p['token'] === req.token).map(({ token: _t, ...p }) => p);
      return stale.length ? { ...res, body: JSON.stringify({ pushers: [...(parseBody(res)['pushers'] as Json[]), ...stale] }) } : undefined;
    },
  },
  {
    name: 'v1: a pusher is identified by pushkey alone',
    violates: 'v1.set.identity',
    fails: ['v1.set.same-pushkey-two-app-ids'],
    onRequest: async (req, state) => {
      if (!isSet(req, 'v1') || !isCreate(req) || !req.token) return undefined;
      const b = body(req);
      for (const p of pushersOf(state, req.token).values()) {
        if (p['pushkey'] === b['pushkey'] && p['app_id'] !== b['app_id']) {
          state.set('evict', [...((state.get('evict') as Json[] | undefined) ?? []), { token: req.token, app_id: p['app_id'], pushkey: p['pushkey'] }]);
        }
      }
      return undefined;
    },
    onResponse: (req, res, state) => {
      remember(state, req, res);
      if (!isGet(req) || res.status !== 200) return undefined;
      const evicted = ((state.get('evict') as Json[] | undefined) ?? []).filter((e) => e['token'] === req.token);
      const pushers = (parseBody(res)['pushers'] as Json[]).filter((p) => !evicted.some((e) => e['app_id'] === p['app_id'] && e['pushkey'] === p['pushkey']));
      return { ...res, body: JSON.stringify({ pushers }) };
    },
  },
  {
    name: 'v1: a profile_tag already used by another pusher is refused',
    violates: 'v1.set.profile-tag-shared',
    fails: ['v1.set.profile-tag-shared'],
    onRequest: (req, state) => {
      if (!isSet(req, 'v1') || !isCreate(req) || !req.token) return undefined;
      const b = body(req);
      const clash = typeof b['profile_tag'] === 'string' && [...pushersOf(state, req.token).values()].some((p) => p['profile_tag'] === b['profile_tag'] && (p['pushkey'] !== b['pushkey'] || p['app_id'] !== b['app_id']));
      return clash ? json(400, { errcode: 'M_INVALID_PARAM', error: 'profile_tag in use' }) : undefined;
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'v1: kind null deletes every pusher of the user',
    violates: 'v1.delete.removes',
    fails: ['v1.delete.full-body', 'v1.delete.removes-pusher'],
    onRequest: async (req, state, forward) => {
      if (!isSet(req, 'v1') || !isDelete(req) || !req.token) return undefined;
      for (const [key, p] of pushersOf(state, req.token)) {
        if (key.startsWith(V1_SET)) await forward(withJson(req, { kind: null, app_id: p['app_id'], pushkey: p['pushkey'] }));
      }
      return undefined;
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'v1: kind null without app_id or pushkey is accepted',
    violates: 'v1.delete.requires-ids',
    fails: ['v1.delete.without-app-id', 'v1.delete.without-pushkey'],
    onRequest: replyOnSet('v1', (b) => 'kind' in b && b['kind'] === null && (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string'), json(200, {})),
  },
  {
    name: 'v1: append is always treated as true',
    violates: 'v1.append.replaces',
    fails: ['v1.append.absent-replaces', 'v1.append.false-replaces'],
    onRequest: rewriteSet('v1', (b) => (typeof b['kind'] === 'string' && typeof b['append'] !== 'string' ? { ...b, append: true } : undefined)),
  },
  {
    name: 'v1: surrounding spaces of the display names and profile_tag are trimmed',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.verbatim-strings'],
    onRequest: rewriteSet('v1', (b) => {
      if (typeof b['kind'] !== 'string') return undefined;
      for (const k of ['app_display_name', 'device_display_name', 'profile_tag']) if (typeof b[k] === 'string') b[k] = (b[k] as string).trim();
      return b;
    }),
  },
  {
    name: 'v1: display names are cut to 255 characters (a VARCHAR(255) column)',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.long-display-names'],
    onRequest: rewriteSet('v1', (b) => {
      const long = ['app_display_name', 'device_display_name'].filter((k) => typeof b[k] === 'string' && [...(b[k] as string)].length > 255);
      if (long.length === 0) return undefined;
      for (const k of long) b[k] = [...(b[k] as string)].slice(0, 255).join('');
      return b;
    }),
  },
  {
    name: 'v1: app_id is stored in lower case',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.verbatim-strings'],
    onRequest: rewriteSet('v1', (b) => (typeof b['app_id'] === 'string' && b['app_id'] !== b['app_id'].toLowerCase() ? { ...b, app_id: b['app_id'].toLowerCase() } : undefined)),
  },
  {
    name: 'v1: characters outside the BMP are stored as U+FFFD (a 3-byte UTF-8 column)',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.astral-characters'],
    onRequest: rewriteSet('v1', (b) => (typeof b['kind'] === 'string' ? (mapStrings(b, (s) => s.replace(/[\u{10000}-\u{10FFFF}]/gu, '\uFFFD')) as Json) : undefined)),
  },
  {
    name: 'v1: data.url is stored normalised (lower-case host, default port dropped)',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.url-verbatim'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'] as Json | undefined;
      if (typeof data?.['url'] !== 'string') return undefined;
      let href: string;
      try {
        href = new URL(data['url']).href;
      } catch {
        return undefined;
      }
      return href === data['url'] ? undefined : { ...b, data: { ...data, url: href } };
    }),
  },
  {
    name: 'v1: custom data keys whose value is null, false, 0 or "" are dropped',
    violates: 'v1.get.round-trip',
    fails: ['v1.get.data-empty-values'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'];
      if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
      return { ...b, data: Object.fromEntries(Object.entries(data).filter(([, v]) => Boolean(v))) };
    }),
  },
  {
    name: 'v1: a set with append true adds a pusher even for the same user',
    violates: 'v1.set.update-in-place',
    fails: ['v1.set.update-in-place-append-true'],
    onResponse: (req, res, state) => {
      // List the user's earlier version of the pusher beside the current one.
      const older = (state.get('older') as Json[] | undefined) ?? [];
      state.set('older', older);
      if (isSet(req, 'v1') && isCreate(req) && body(req)['append'] === true && res.status === 200 && req.token) {
        const b = body(req);
        const before = pushersOf(state, req.token).get(`${req.path}\n${String(b['app_id'])}\n${String(b['pushkey'])}`);
        if (before) older.push({ ...before, token: req.token });
      }
      remember(state, req, res);
      if (!isGet(req) || res.status !== 200) return undefined;
      const mine = older.filter((p) => p['token'] === req.token).map(({ token: _t, append: _a, ...p }) => p);
      return mine.length ? { ...res, body: JSON.stringify({ pushers: [...(parseBody(res)['pushers'] as Json[]), ...mine] }) } : undefined;
    },
  },
  {
    name: 'v1: GET lists every pusher whose app_id and pushkey one of the user\'s pushers has, whoever holds it',
    violates: 'v1.get.isolation',
    fails: ['v1.get.isolation-shared-pusher'],
    onResponse: (req, res, state) => {
      remember(state, req, res);
      if (!isGet(req) || res.status !== 200 || !req.token) return undefined;
      const mine = parseBody(res)['pushers'] as Json[];
      const pairs = new Set(mine.map((p) => `${String(p['app_id'])}\n${String(p['pushkey'])}`));
      const all = (state.get('pushers') as Map<string, Map<string, Json>> | undefined) ?? new Map<string, Map<string, Json>>();
      const others = [...all.entries()]
        .filter(([t]) => t !== req.token)
        .flatMap(([, m]) => [...m.entries()].filter(([k, p]) => k.startsWith(V1_SET) && pairs.has(`${String(p['app_id'])}\n${String(p['pushkey'])}`)).map(([, { append: _a, ...p }]) => p));
      return { ...res, body: JSON.stringify({ pushers: [...mine, ...others] }) };
    },
  },
  {
    name: 'v1: pushkeys are compared without regard to letter case',
    violates: 'v1.set.update-in-place',
    fails: ['v1.set.pushkey-case-sensitive'],
    onRequest: (req, state) => {
      if (!isSet(req, 'v1') || !req.token) return undefined;
      const b = body(req);
      if (typeof b['pushkey'] !== 'string' || typeof b['app_id'] !== 'string') return undefined;
      // The first spelling of a pushkey is the one stored; later spellings in another case reach that pusher.
      const spelling = (state.get('spelling') as Map<string, string> | undefined) ?? new Map<string, string>();
      state.set('spelling', spelling);
      const key = `${req.token}\n${b['app_id']}\n${b['pushkey'].toLowerCase()}`;
      const first = spelling.get(key);
      if (first === undefined) {
        if (isCreate(req)) spelling.set(key, b['pushkey']);
        return undefined;
      }
      if (isDelete(req)) spelling.delete(key);
      return first === b['pushkey'] ? undefined : withJson(req, { ...b, pushkey: first });
    },
  },
  {
    name: 'v1: a data.url that is not a string is taken as its string form',
    violates: 'v1.set.field-types',
    fails: ['v1.set.http-url-not-a-string'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'] as Json | undefined;
      if (typeof data !== 'object' || data === null || !('url' in data) || typeof data['url'] === 'string') return undefined;
      // String(["https://…"]) is the URL itself; String(443) is not a URL and stays refused.
      return { ...b, data: { ...data, url: String(data['url']) } };
    }),
  },
  {
    name: 'v1: the url path check is a prefix match',
    violates: 'v1.set.http-url-path',
    fails: ['v1.set.http-url-wrong-path'],
    onRequest: urlLetThrough((_url, u) => u?.protocol === 'https:' && u.pathname.startsWith('/_matrix/push/v1/notify')),
  },
  {
    name: 'v1: the url path check is a suffix match',
    violates: 'v1.set.http-url-path',
    fails: ['v1.set.http-url-wrong-path'],
    onRequest: urlLetThrough((_url, u) => u?.protocol === 'https:' && u.pathname.endsWith('/_matrix/push/v1/notify')),
  },
  {
    name: 'v1: an http pusher with empty data is accepted',
    violates: 'v1.set.http-url-required',
    fails: ['v1.set.http-without-url'],
    onRequest: rewriteSet('v1', (b) => {
      const data = b['data'];
      return b['kind'] === 'http' && typeof data === 'object' && data !== null && Object.keys(data).length === 0 ? { ...b, data: { url: URL_OK } } : undefined;
    }),
  },
  {
    name: 'v1: a string field given as null is taken as "" (Go zero values)',
    violates: 'v1.set.field-types',
    fails: ['v1.set.wrong-type-null'],
    onRequest: rewriteSet('v1', (b) => {
      const nulls = ['app_display_name', 'device_display_name', 'lang', 'profile_tag'].filter((k) => k in b && b[k] === null);
      if (typeof b['kind'] !== 'string' || nulls.length === 0) return undefined;
      for (const k of nulls) b[k] = '';
      return b;
    }),
  },
  {
    name: 'v1: kind null answers 200 and deletes nothing, unless it names the pusher the user set last',
    violates: 'v1.delete.removes',
    fails: ['v1.delete.full-body', 'v1.delete.removes-pusher'],
    ...deleteOnlyNewest(() => true),
  },
  {
    name: 'v1: kind null deletes nothing when the request also carries the pusher\'s other fields (unless it names the pusher set last)',
    violates: 'v1.delete.removes',
    fails: ['v1.delete.full-body'],
    ...deleteOnlyNewest((b) => 'data' in b),
  },
  {
    name: 'v1: kind null also removes other users\' pushers with the same app_id and pushkey, append true or not',
    violates: 'v1.delete.own-only',
    fails: ['v1.delete.other-users-pusher'],
    ...deleteAcrossUsers(true),
  },
  {
    name: 'v1: a delete with only kind, app_id and pushkey is refused with 400 M_MISSING_PARAM (advertising v1.19)',
    violates: 'v1.delete.minimal',
    fails: ['v1.delete.removes-pusher'],
    ...refuseMinimalDelete,
  },
  {
    name: 'v1: a data.format other than event_id_only is accepted, and kept as event_id_only',
    violates: 'v1.set.format-other',
    fails: ['v1.set.format-other-string'],
    onRequest: (req) => (otherFormat(req) !== undefined ? withJson(req, { ...body(req), data: { ...(body(req)['data'] as Json), format: 'event_id_only' } }) : undefined),
  },
  {
    name: 'v1: a data.format other than event_id_only is refused with 403 M_FORBIDDEN',
    violates: 'v1.set.format-other',
    fails: ['v1.set.format-other-string'],
    onRequest: (req) => (otherFormat(req) !== undefined ? json(403, { errcode: 'M_FORBIDDEN', error: 'unknown format' }) : undefined),
  },
  {
    name: 'v1: NaN and Infinity read as Python\'s json reads them (1e400 as Infinity), and GET /pushers writes them back as bare NaN and Infinity',
    violates: 'v1.api.json-answers',
    fails: ['v1.set.body-nan-infinity', 'v1.set.number-out-of-range'],
    ...readsNonFinite({ listed: 'bare', poked: 'null' }),
  },
  {
    name: 'errors carry no human-readable message and the server sends extra headers',
    violates: 'v1.errors.shape',
    fails: ['v1.auth.get-no-token', 'v1.auth.get-unknown-token', 'v1.auth.set-no-token', 'v1.auth.set-unknown-token', 'v1.delete.without-app-id', 'v1.delete.without-pushkey', 'v1.set.app-id-65-chars', 'v1.set.body-invalid-utf8', 'v1.set.body-json-array', 'v1.set.body-json-null', 'v1.set.body-json-number', 'v1.set.body-json-string', 'v1.set.body-lenient-json', 'v1.set.body-nan-infinity', 'v1.set.body-not-json', 'v1.set.http-url-ftp-scheme', 'v1.set.http-url-not-a-string', 'v1.set.http-url-not-a-url', 'v1.set.http-url-plain-http', 'v1.set.http-url-wrong-path', 'v1.set.http-without-url', 'v1.set.missing-app-display-name', 'v1.set.missing-app-id', 'v1.set.missing-data', 'v1.set.missing-device-display-name', 'v1.set.missing-kind', 'v1.set.missing-lang', 'v1.set.missing-pushkey', 'v1.set.number-out-of-range', 'v1.set.pushkey-513-bytes', 'v1.set.wrong-type-app-display-name', 'v1.set.wrong-type-app-id', 'v1.set.wrong-type-append', 'v1.set.wrong-type-data', 'v1.set.wrong-type-device-display-name', 'v1.set.wrong-type-kind', 'v1.set.wrong-type-lang', 'v1.set.wrong-type-null', 'v1.set.wrong-type-profile-tag', 'v1.set.wrong-type-pushkey'],
    onResponse: (_req, res): ProxyResponse => {
      const b = parseBody(res);
      if (res.status < 400 || typeof b['errcode'] !== 'string') return { ...res, headers: { ...res.headers, 'x-extra': '1' } };
      return { status: res.status, headers: { 'content-type': 'application/json; charset=utf-8', 'x-extra': '1' }, body: JSON.stringify({ errcode: b['errcode'] }) };
    },
  },
  // ---- v1, SHOULD: the default run passes, --strict fails ----
  {
    name: 'v1: a body that is not JSON answers M_BAD_JSON',
    violates: 'v1.set.not-json-errcode',
    fails: ['v1.set.body-not-json'],
    onResponse: errcodeOnSet((e) => e === 'M_NOT_JSON', 'M_BAD_JSON'),
  },
  {
    name: 'v1: a JSON body that is not an object answers M_NOT_JSON',
    violates: 'v1.set.not-object-errcode',
    fails: ['v1.set.body-json-array', 'v1.set.body-json-null', 'v1.set.body-json-number', 'v1.set.body-json-string'],
    onResponse: errcodeOnSet((e, req) => e === 'M_BAD_JSON' && req.json !== undefined && !isObjectBody(req), 'M_NOT_JSON'),
  },
  {
    name: 'v1: a missing field answers M_UNKNOWN',
    violates: 'v1.set.required-fields-errcode',
    fails: ['v1.set.missing-app-display-name', 'v1.set.missing-app-id', 'v1.set.missing-data', 'v1.set.missing-device-display-name', 'v1.set.missing-kind', 'v1.set.missing-lang', 'v1.set.missing-pushkey'],
    onResponse: errcodeOnSet((e) => e === 'M_MISSING_PARAM', 'M_UNKNOWN'),
  },
  {
    name: 'v1: a field of the wrong type answers M_NOT_JSON',
    violates: 'v1.set.field-types-errcode',
    fails: ['v1.set.wrong-type-app-display-name', 'v1.set.wrong-type-app-id', 'v1.set.wrong-type-append', 'v1.set.wrong-type-data', 'v1.set.wrong-type-device-display-name', 'v1.set.wrong-type-kind', 'v1.set.wrong-type-lang', 'v1.set.wrong-type-profile-tag', 'v1.set.wrong-type-pushkey'],
    onResponse: errcodeOnSet((e, req) => e === 'M_BAD_JSON' && isObjectBody(req), 'M_NOT_JSON'),
  },
  {
    name: 'v1: an app_id over 64 characters answers M_UNKNOWN',
    violates: 'v1.set.app-id-length-errcode',
    fails: ['v1.set.app-id-65-chars'],
    onResponse: errcodeOnSet((_e, req) => typeof body(req)['app_id'] === 'string' && [...(body(req)['app_id'] as string)].length > 64, 'M_UNKNOWN'),
  },
  {
    name: 'v1: a data.url with no scheme (a bare word, a bare path) is accepted',
    violates: 'v1.set.http-url-form',
    fails: ['v1.set.http-url-not-a-url'],
    onRequest: urlLetThrough((url) => !/^[a-z][a-z0-9+.-]*:/i.test(url)),
  },
  {
    name: 'v1: the url path check ignores letter case',
    violates: 'v1.set.http-url-path',
    fails: ['v1.set.http-url-wrong-path'],
    onRequest: urlLetThrough((_url, u) => u?.protocol === 'https:' && u.pathname.toLowerCase() === '/_matrix/push/v1/notify'),
  },
  {
    name: 'v1: a successful set answers {"status": "ok"}',
    violates: 'v1.set.success-empty',
    fails: ['v1.set.valid-pusher'],
    onResponse: (req, res) => (isSet(req, 'v1') && isCreate(req) && res.status === 200 ? json(200, { status: 'ok' }) : undefined),
  },
  // ---- draft ----
  {
    name: 'draft: no token answers 400',
    violates: 'draft.auth.missing-token',
    fails: ['draft.auth.set-no-token'],
    onRequest: (req) => (isSet(req, 'draft') && !req.token ? json(400, { errcode: 'M_MISSING_PARAM', error: 'access_token missing' }) : undefined),
  },
  {
    name: 'draft: an unknown token answers 404',
    violates: 'draft.auth.unknown-token',
    fails: ['draft.auth.set-unknown-token'],
    onResponse: (req, res) => (isSet(req, 'draft') && req.token && res.status === 401 ? json(404, { errcode: 'M_NOT_FOUND', error: 'no such user' }) : undefined),
  },
  {
    name: 'draft: a successful set answers {"ok": true}',
    violates: 'draft.set.success',
    fails: ['draft.set.valid-pusher'],
    onResponse: (req, res) => (isSet(req, 'draft') && isCreate(req) && res.status === 200 ? json(200, { ok: true }) : undefined),
  },
  {
    name: 'draft: a create missing pushkey or app_id gets them filled with empty strings',
    violates: 'draft.set.required-fields',
    fails: ['draft.set.missing-app-id', 'draft.set.missing-pushkey'],
    onRequest: rewriteSet('draft', (b) => (b['kind'] === 'http' && !('app_id' in b && 'pushkey' in b) ? { app_id: '', pushkey: '', ...b } : undefined)),
  },
  {
    name: 'draft: missing keys are filled with defaults',
    violates: 'draft.set.required-fields',
    fails: ['draft.set.missing-app-display-name', 'draft.set.missing-data', 'draft.set.missing-device-display-name', 'draft.set.missing-instance-handle', 'draft.set.missing-lang'],
    onRequest: rewriteSet('draft', (b) => (typeof b['kind'] === 'string' ? { instance_handle: 'h', app_display_name: 'x', device_display_name: 'x', lang: 'en', data: { url: URL_OK }, ...b } : undefined)),
  },
  {
    name: 'draft: an http pusher without data.url is accepted',
    violates: 'draft.set.http-url-required',
    fails: ['draft.set.http-without-url'],
    onRequest: rewriteSet('draft', (b) => {
      const data = b['data'];
      return b['kind'] === 'http' && typeof data === 'object' && data !== null && !('url' in data) ? { ...b, data: { ...(data as Json), url: URL_OK } } : undefined;
    }),
  },
  {
    name: 'draft: an app_id over 64 characters is cut and accepted',
    violates: 'draft.set.app-id-length',
    fails: ['draft.set.app-id-65-chars'],
    onRequest: rewriteSet('draft', (b) => (typeof b['app_id'] === 'string' && [...b['app_id']].length > 64 ? { ...b, app_id: [...b['app_id']].slice(0, 64).join('') } : undefined)),
  },
  {
    name: 'draft: the app_id limit counts bytes',
    violates: 'draft.set.app-id-length',
    fails: ['draft.set.app-id-64-chars'],
    onRequest: replyOnSet('draft', (b) => typeof b['app_id'] === 'string' && Buffer.byteLength(b['app_id']) > 64, json(400, { errcode: 'M_INVALID_PARAM', error: 'app_id too long' })),
  },
  {
    name: 'draft: an instance_handle over 32 characters is cut and accepted',
    violates: 'draft.set.instance-handle-length',
    fails: ['draft.set.instance-handle-33-chars'],
    onRequest: rewriteSet('draft', (b) => (typeof b['instance_handle'] === 'string' && b['instance_handle'].length > 32 ? { ...b, instance_handle: b['instance_handle'].slice(0, 32) } : undefined)),
  },
  {
    name: 'draft: a duplicate instance_handle is accepted (and ignored)',
    violates: 'draft.set.instance-handle-unique',
    fails: ['draft.set.instance-handle-duplicate', 'draft.set.instance-handle-per-user', 'draft.set.update-same-handle'],
    alsoCites: ['draft.set.instance-handle-per-user'],
    onResponse: (req, res) => {
      const handle = body(req)['instance_handle'];
      const taken = isSet(req, 'draft') && res.status === 400 && typeof handle === 'string' && handle.length <= 32 && /handle/i.test(String(parseBody(res)['error']));
      return taken ? json(200, {}) : undefined;
    },
  },
  {
    name: 'draft: instance_handle is unique across all users',
    violates: 'draft.set.instance-handle-per-user',
    fails: ['draft.set.instance-handle-per-user'],
    onRequest: (req, state) => {
      if (!isSet(req, 'draft') || !isCreate(req) || !req.token) return undefined;
      const handles = (state.get('handles') as Map<string, string> | undefined) ?? new Map<string, string>();
      state.set('handles', handles);
      const h = String(body(req)['instance_handle']);
      const owner = handles.get(h);
      if (owner && owner !== req.token) return json(400, { errcode: 'M_INVALID_PARAM', error: 'instance_handle in use' });
      handles.set(h, req.token);
      return undefined;
    },
  },
  {
    name: 'draft: setting the same pusher again is refused as a duplicate',
    violates: 'draft.set.update-same-handle',
    fails: ['draft.set.update-same-handle'],
    onRequest: (req, state) => {
      if (!isSet(req, 'draft') || !isCreate(req) || !req.token) return undefined;
      const b = body(req);
      return pushersOf(state, req.token).has(`${req.path}\n${String(b['app_id'])}\n${String(b['pushkey'])}`) ? json(400, { errcode: 'M_INVALID_PARAM', error: 'instance_handle in use' }) : undefined;
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'draft: kind null answers {} and deletes nothing',
    violates: 'draft.delete.removes',
    fails: ['draft.delete.frees-handle', 'draft.set.update-same-handle'],
    alsoCites: ['draft.set.update-same-handle'],
    onRequest: replyOnSet('draft', (b) => 'kind' in b && b['kind'] === null && typeof b['app_id'] === 'string' && typeof b['pushkey'] === 'string', json(200, {})),
  },
  {
    name: 'draft: deleting a pusher that does not exist answers 400',
    violates: 'draft.delete.missing',
    fails: ['draft.delete.missing-pusher'],
    onRequest: (req, state) => {
      if (!isSet(req, 'draft') || !isDelete(req) || !req.token) return undefined;
      const b = body(req);
      return pushersOf(state, req.token).has(`${req.path}\n${String(b['app_id'])}\n${String(b['pushkey'])}`) ? undefined : json(400, { errcode: 'M_INVALID_PARAM', error: 'no such pusher' });
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'draft: kind null without ids, or no kind at all, is accepted',
    violates: 'draft.delete.requires-ids',
    fails: ['draft.delete.without-app-id', 'draft.delete.without-kind', 'draft.delete.without-pushkey', 'draft.set.missing-kind'],
    alsoCites: ['draft.set.required-fields'],
    onRequest: replyOnSet('draft', (b) => (!('kind' in b) && typeof b['app_id'] === 'string') || ('kind' in b && b['kind'] === null && (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string')), json(200, {})),
  },
  {
    name: 'draft: the instance_handle limit counts bytes',
    violates: 'draft.set.instance-handle-length',
    fails: ['draft.set.instance-handle-32-chars'],
    onRequest: replyOnSet('draft', (b) => typeof b['instance_handle'] === 'string' && Buffer.byteLength(b['instance_handle']) > 32, json(400, { errcode: 'M_INVALID_PARAM', error: 'instance_handle too long' })),
  },
  {
    name: 'draft: an http pusher whose data has keys but no url is accepted',
    violates: 'draft.set.http-url-required',
    fails: ['draft.set.http-without-url'],
    onRequest: rewriteSet('draft', (b) => {
      const data = b['data'];
      return b['kind'] === 'http' && typeof data === 'object' && data !== null && Object.keys(data).length > 0 && !('url' in data) ? { ...b, data: { ...(data as Json), url: URL_OK } } : undefined;
    }),
  },
  {
    name: 'draft: instance_handle uniqueness ignores letter case',
    violates: 'draft.set.success',
    fails: ['draft.set.instance-handle-case-sensitive'],
    onRequest: rewriteSet('draft', (b) => (typeof b['instance_handle'] === 'string' && b['instance_handle'] !== b['instance_handle'].toLowerCase() ? { ...b, instance_handle: b['instance_handle'].toLowerCase() } : undefined)),
  },
  {
    name: 'draft: kind null deletes the pusher but its instance_handle stays taken',
    violates: 'draft.delete.removes',
    fails: ['draft.delete.frees-handle', 'draft.set.update-same-handle'],
    alsoCites: ['draft.set.update-same-handle'],
    onRequest: (req, state) => {
      const b = body(req);
      if (!isSet(req, 'draft') || !req.token || typeof b['instance_handle'] !== 'string') return undefined;
      const kept = (state.get('kept-handles') as Set<string> | undefined) ?? new Set<string>();
      state.set('kept-handles', kept);
      const key = `${req.token}\n${b['instance_handle']}`;
      if (isDelete(req)) kept.add(key);
      return isCreate(req) && kept.has(key) ? json(400, { errcode: 'M_INVALID_PARAM', error: 'instance_handle in use' }) : undefined;
    },
  },
];

/**
 * A v1.5 server: it advertises r0.6.1 and v1.1–v1.5 only, and follows v1.5,
 * which requires every field also in a delete and does not say whose pushers
 * a delete removes. Cases of rules from v1.6 on are skipped for its version.
 */
export const V1_5_SERVER: Mutation = {
  ...combine(
    'v1: a v1.5 server (advertises up to v1.5): a delete needs every field (400 M_MISSING_PARAM otherwise) and, without append true, removes other users\' pushers with the same app_id and pushkey too',
    refuseMinimalDelete,
    deleteFollowsAppend,
  ),
  versions: versionsUpTo('v1.5'),
};

/** Correct servers that choose differently wherever the spec allows a choice: they must pass, even with --strict. */
export const ALLOWED: Mutation[] = [
  {
    name: 'a missing field answers M_BAD_JSON instead of M_MISSING_PARAM',
    onResponse: (_req, res) => (parseBody(res)['errcode'] === 'M_MISSING_PARAM' ? json(400, { errcode: 'M_BAD_JSON', error: 'missing field' }) : undefined),
  },
  {
    name: 'GET lists an unset profile_tag as ""',
    onResponse: (req, res) => {
      if (!isGet(req) || res.status !== 200) return undefined;
      const pushers = (parseBody(res)['pushers'] as Json[]).map((p) => ({ profile_tag: '', ...p }));
      return { ...res, body: JSON.stringify({ pushers }) };
    },
  },
  {
    name: 'GET adds fields of its own and lists pushers newest first',
    onResponse: (req, res) => {
      if (!isGet(req) || res.status !== 200) return undefined;
      const pushers = (parseBody(res)['pushers'] as Json[]).map((p) => ({ ...p, device_id: 'DEVICEID', enabled: true, data: { ...(p['data'] as Json), 'org.example.server_added': 1 } })).reverse();
      return { ...res, body: JSON.stringify({ pushers, 'org.example.extra': true }) };
    },
  },
  {
    name: 'draft: deleting a pusher that does not exist answers 404',
    onRequest: (req, state) => {
      if (!isSet(req, 'draft') || !isDelete(req) || !req.token) return undefined;
      const b = body(req);
      if (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string') return undefined;
      return pushersOf(state, req.token).has(`${req.path}\n${b['app_id']}\n${b['pushkey']}`) ? undefined : json(404, { errcode: 'M_NOT_FOUND', error: 'no such pusher' });
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'every answer closes the connection (no keep-alive)',
    onResponse: (_req, res) => ({ ...res, headers: { ...res.headers, connection: 'close' } }),
  },
  {
    name: 'every answer is sent with chunked transfer encoding',
    onResponse: (_req, res) => ({ ...res, headers: { ...res.headers, 'transfer-encoding': 'chunked' } }),
  },
  {
    name: 'every answer takes 200 ms',
    onResponse: async () => {
      await sleep(200);
      return undefined;
    },
  },
  {
    name: 'the first request of each user to each endpoint is rate-limited (429 with retry_after_ms)',
    onRequest: (req, state) => {
      if (req.path.endsWith('/versions')) return undefined;
      const seen = (state.get('limited') as Set<string> | undefined) ?? new Set<string>();
      state.set('limited', seen);
      const key = `${req.token ?? '-'} ${req.method} ${req.path}`;
      if (seen.has(key)) return undefined;
      seen.add(key);
      return json(429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: 20 });
    },
  },
  {
    name: 'every fourth request is rate-limited with only a Retry-After header',
    onRequest: (req, state) => {
      if (req.path.endsWith('/versions')) return undefined;
      const n = ((state.get('n') as number | undefined) ?? 0) + 1;
      state.set('n', n);
      return n % 4 === 0 ? { status: 429, headers: { 'Content-Type': 'application/json', 'Retry-After': '0' }, body: JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED', error: 'slow down' }) } : undefined;
    },
  },
  {
    name: 'header names in upper case, content-type in upper case with a charset',
    onResponse: (_req, res) => ({ ...res, headers: { 'CONTENT-TYPE': 'APPLICATION/JSON; CHARSET=UTF-8', 'CACHE-CONTROL': 'no-store' } }),
  },
  {
    name: 'JSON pretty-printed, members in reverse order, numbers written as 1.0',
    onResponse: (_req, res) => {
      let value: unknown;
      try {
        value = JSON.parse(res.body);
      } catch {
        return undefined;
      }
      const text = JSON.stringify(reversedKeys(value), null, '\t').replace(/(?<=[:[,]\s*)(-?\d+)(?=\s*[,\]}])/g, '$1.0');
      return { ...res, body: `\n${text}\n\n` };
    },
  },
  {
    name: 'JSON in ASCII only, every other character as a \\u escape (as Python writes it)',
    onResponse: (_req, res) => ({ ...res, body: res.body.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) }),
  },
  {
    name: 'errors carry localised messages and extra members',
    onResponse: (_req, res) => {
      const b = parseBody(res);
      if (res.status < 400 || typeof b['errcode'] !== 'string') return undefined;
      return json(res.status, { errcode: b['errcode'], error: 'Ungültige Anfrage — 请求无效 😀', soft_logout: false, 'org.example.trace': [1, 2] });
    },
  },
  {
    name: 'GET lists append and fields of its own on every pusher, profile_tag "" when unset, sorted by pushkey descending',
    onResponse: (req, res, state) => {
      remember(state, req, res);
      if (!isGet(req) || res.status !== 200 || !req.token) return undefined;
      const sent = pushersOf(state, req.token);
      const pushers = (parseBody(res)['pushers'] as Json[])
        .map((p): Json => ({ profile_tag: '', ...p, append: sent.get(`${req.path}/set\n${String(p['app_id'])}\n${String(p['pushkey'])}`)?.['append'] ?? false, pushkey_ts: 1700000000000, enabled: true, device_id: 'ABCDEFGH' }))
        .sort((a, b) => (String(a['pushkey']) < String(b['pushkey']) ? 1 : -1));
      return { ...res, body: JSON.stringify({ pushers }) };
    },
  },
  {
    name: 'draft: every error but the duplicate instance_handle carries M_UNKNOWN (the draft names no errcode)',
    onResponse: (req, res) => (isSet(req, 'draft') && res.status === 400 && !/instance_handle/.test(String(parseBody(res)['error'])) ? json(400, { errcode: 'M_UNKNOWN', error: 'bad request' }) : undefined),
  },
  {
    name: 'a successful set answers {} with whitespace and no content-type; extra headers (CORS, cookie, ETag)',
    onResponse: (req, res) => {
      const extra = { 'access-control-allow-origin': '*', 'set-cookie': 'session=x; HttpOnly', etag: 'W/"1"', 'x-request-id': 'abc' };
      return isSet(req) && res.status === 200 ? { status: 200, headers: extra, body: ' {\n }\n' } : { ...res, headers: { ...res.headers, ...extra } };
    },
  },
  {
    name: 'draft: deleting a pusher that does not exist answers 404 with an empty body (either status conforms)',
    onRequest: (req, state) => {
      if (!isSet(req, 'draft') || !isDelete(req) || !req.token) return undefined;
      const b = body(req);
      if (typeof b['app_id'] !== 'string' || typeof b['pushkey'] !== 'string') return undefined;
      return pushersOf(state, req.token).has(`${req.path}\n${b['app_id']}\n${b['pushkey']}`) ? undefined : { status: 404, headers: {}, body: '' };
    },
    onResponse: (req, res, state) => void remember(state, req, res),
  },
  {
    name: 'a field of the wrong type answers M_INVALID_PARAM',
    onResponse: errcodeOnSet((e, req) => e === 'M_BAD_JSON' && isObjectBody(req), 'M_INVALID_PARAM'),
  },
  {
    name: 'v1: the app_id limit counts UTF-16 code units (64 characters outside the BMP are refused)',
    onRequest: replyOnSet('v1', (b) => typeof b['app_id'] === 'string' && b['app_id'].length > 64, json(400, { errcode: 'M_INVALID_PARAM', error: 'app_id too long' })),
  },
  {
    name: 'draft: the app_id limit counts UTF-16 code units',
    onRequest: replyOnSet('draft', (b) => typeof b['app_id'] === 'string' && b['app_id'].length > 64, json(400, { errcode: 'M_INVALID_PARAM', error: 'app_id too long' })),
  },
  {
    name: 'draft: the instance_handle limit counts UTF-16 code units',
    onRequest: replyOnSet('draft', (b) => typeof b['instance_handle'] === 'string' && b['instance_handle'].length > 32, json(400, { errcode: 'M_INVALID_PARAM', error: 'instance_handle too long' })),
  },
  V1_5_SERVER,
  combine('v1: a delete (kind null) without append true also removes other users\' pushers with the same app_id and pushkey (the append rule read as covering deletes, as Dendrite reads it)', deleteFollowsAppend),
  combine('v1: a data.format other than event_id_only is refused with 400, advertising v1.19 (format is an enumeration from v1.17)', refuseOtherFormat),
  combine('v1: a data.format other than event_id_only is refused with 400, advertising up to v1.16 (where "the only format available" is event_id_only)', { onRequest: advertising(versionsUpTo('v1.16')) }, refuseOtherFormat),
  {
    name: 'draft: a delete (kind null) must carry every key of the endpoint, or it is refused with 400',
    onRequest: (req) => (isSet(req, 'draft') && isDelete(req) && DRAFT_KEYS.some((k) => !(k in body(req))) ? json(400, { errcode: 'M_MISSING_PARAM', error: 'every key is required' }) : undefined),
  },
  {
    name: 'draft: a delete answers 200 with a body of its own ({"deleted": true}); only a creation promises {}',
    onResponse: (req, res) => (isSet(req, 'draft') && isDelete(req) && res.status === 200 ? json(200, { deleted: true }) : undefined),
  },
  {
    name: 'v1: deleting a pusher that does not exist answers 404 M_NOT_FOUND',
    onRequest: missingDeleteAnswers(json(404, { errcode: 'M_NOT_FOUND', error: 'no such pusher' })),
    onResponse: (req, res, state) => void remember(state, req, res),
  },
];

/**
 * Correct servers whose choice is allowed at MUST level but not what a SHOULD
 * recommends: they must pass the default run (a warning at most) and fail
 * only under --strict, on the cases listed, through the SHOULD they skip.
 */
export const ALLOWED_AT_MUST: AllowedAtMust[] = [
  {
    name: 'v1: a plain http:// gateway URL is accepted',
    skips: ['v1.set.http-url-form'],
    failsStrict: ['v1.set.http-url-plain-http'],
    onRequest: urlLetThrough((_url, u) => u?.protocol === 'http:' && u.pathname === '/_matrix/push/v1/notify'),
  },
  {
    name: 'v1: any data.url is accepted (only its type is checked)',
    skips: ['v1.set.http-url-form', 'v1.set.http-url-path'],
    failsStrict: ['v1.set.http-url-ftp-scheme', 'v1.set.http-url-not-a-url', 'v1.set.http-url-plain-http', 'v1.set.http-url-wrong-path'],
    onRequest: urlLetThrough(() => true),
  },
  {
    name: 'v1: no url-form check at all: any data.url is stored and listed as sent',
    skips: ['v1.set.http-url-form', 'v1.set.http-url-path'],
    failsStrict: ['v1.set.http-url-ftp-scheme', 'v1.set.http-url-not-a-url', 'v1.set.http-url-plain-http', 'v1.set.http-url-wrong-path'],
    onRequest: (req, state) => {
      if (!isSet(req, 'v1') || !req.token) return undefined;
      const b = body(req);
      const data = b['data'] as Json | undefined;
      if (typeof data !== 'object' || data === null || typeof data['url'] !== 'string') return undefined;
      // The reference server is given a URL it takes; the one sent is kept here and listed.
      const sent = (state.get('urls') as Map<string, string> | undefined) ?? new Map<string, string>();
      state.set('urls', sent);
      const key = `${req.token}\n${String(b['app_id'])}\n${String(b['pushkey'])}`;
      if (isCreate(req)) sent.set(key, data['url']);
      return REFERENCE_URL.test(data['url']) ? undefined : withJson(req, { ...b, data: { ...data, url: URL_OK } });
    },
    onResponse: (req, res, state) => {
      if (!isGet(req) || res.status !== 200 || !req.token) return undefined;
      const sent = (state.get('urls') as Map<string, string> | undefined) ?? new Map<string, string>();
      const pushers = (parseBody(res)['pushers'] as Json[]).map((p) => {
        const url = sent.get(`${req.token}\n${String(p['app_id'])}\n${String(p['pushkey'])}`);
        return url === undefined ? p : { ...p, data: { ...(p['data'] as Json), url } };
      });
      return { ...res, body: JSON.stringify({ pushers }) };
    },
  },
  {
    name: 'v1: only the url path is checked, not its scheme (as Synapse does)',
    skips: ['v1.set.http-url-form'],
    failsStrict: ['v1.set.http-url-ftp-scheme', 'v1.set.http-url-not-a-url', 'v1.set.http-url-plain-http'],
    // Synapse: urlparse(url).path == "/_matrix/push/v1/notify"; a bare path passes, a bare word does not.
    onRequest: urlLetThrough((url) => parseUrl(url) === undefined ? url === '/_matrix/push/v1/notify' : (parseUrl(url) as URL).pathname === '/_matrix/push/v1/notify' && !/[?#]/.test(url)),
  },
  {
    name: 'v1: a lenient JSON parser (bytes that are not UTF-8 read as U+FFFD, text after the first value ignored, trailing commas accepted)',
    skips: ['v1.set.strict-json'],
    failsStrict: ['v1.set.body-invalid-utf8', 'v1.set.body-lenient-json'],
    onRequest: (req) => {
      if (!isSet(req, 'v1') || req.json !== undefined || req.body === '') return undefined;
      // req.body is the bytes decoded as UTF-8 with U+FFFD for what is not UTF-8.
      const text = withoutTrailingCommas(req.body);
      let value: unknown;
      try {
        value = JSON.parse(text) as unknown;
      } catch {
        value = firstJsonValue(text);
      }
      return value === undefined ? undefined : withJson(req, value);
    },
  },
  {
    name: 'v1: a valid object followed by trailing text is taken as that object (a streaming decoder)',
    skips: ['v1.set.strict-json'],
    failsStrict: ['v1.set.body-lenient-json'],
    onRequest: (req) => {
      if (!isSet(req, 'v1') || req.json !== undefined || (req.bytes && !Buffer.from(req.body, 'utf8').equals(req.bytes))) return undefined;
      const first = firstJsonValue(req.body);
      return first === undefined ? undefined : withJson(req, first);
    },
  },
  {
    name: 'v1: NaN and Infinity read as Python\'s json reads them (1e400 as Infinity), and listed and notified as null',
    skips: ['v1.set.strict-json'],
    failsStrict: ['v1.set.body-nan-infinity'],
    delivery: true,
    ...readsNonFinite({ listed: 'null', poked: 'null' }),
  },
  {
    name: 'v1: append true is ignored: another user\'s pusher with the same app_id and pushkey is replaced',
    skips: ['v1.append.keeps'],
    failsStrict: ['v1.append.true-keeps'],
    ...replaceOnAppend,
  },
];
