import { asKey, segmentName, checkOperators, references } from '../../cases/values.js';
import { TransportError, type HttpRequest, type HttpResponse } from '../../http/client.js';
import type { EditionInfo } from '../../spec/editions.js';
import { recordExchange } from '../exchange.js';
import type { Observed, StepKind, StepRun } from '../kinds.js';
import { jsonDepth, MAX_JSON_DEPTH, parseJson, replaceOutsideStrings } from '../json.js';

/** A request step as it is written in a case file. */
interface RequestSpec {
  method: string;
  /** A path, or a list of literal parts and generated values (each encoded as one path segment). */
  path: string | unknown[];
  /** A user alias of the case, 'none' (no token) or 'invalid' (a token no server issued). */
  auth: string;
  /** Where the token goes: the Authorization header (default) or the `access_token` query parameter. */
  token_in?: 'header' | 'query';
  json?: unknown;
  /** A body as written; as a list, literal text and values (generators) written as JSON between them. */
  raw?: string | unknown[];
  raw_base64?: string;
  content_type?: string;
}

/** A token no server issued: long, random-looking, and not a secret. */
const INVALID_TOKEN = 'syt_conformance_not_a_token_0000000000000000';

/**
 * NaN, Infinity and -Infinity outside strings read as null, as a lenient
 * parser (Python's json) reads them as numbers that JSON cannot write.
 */
const withoutNonFinite = (text: string): string =>
  replaceOutsideStrings(text, (rest) => {
    const token = /^-?(?:NaN|Infinity)/.exec(rest)?.[0];
    return token ? { out: 'null', length: token.length } : undefined;
  }, 1 << 16);

/** The first JSON object at the start of a text, as a lenient parser reads it (trailing text, a trailing comma, NaN and Infinity allowed). */
function lenientJson(text: string): unknown {
  const parsed = parseJson(text);
  if (parsed.isJson) return parsed.json;
  const t = withoutNonFinite(text).trimStart();
  if (!t.startsWith('{')) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < t.length && i < 1 << 16; i++) {
    const c = t[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return parseJson(t.slice(0, i + 1).replace(/,\s*([}\]])/g, '$1')).json;
    }
  }
  return undefined;
}

/**
 * A hint for an answer that is not the JSON expected and holds the body of
 * the request sent before it on the same connection: the server most likely
 * left that body unread, and read it as the start of this request, so the
 * failure is not this request's.
 */
export function unreadBodyHint(res: HttpResponse): string {
  const prev = res.previousBody?.trim();
  if (!prev || prev.length < 2 || !res.text.includes(prev.length > 64 ? prev.slice(0, 64) : prev)) return '';
  return "; the answer holds the body of the request sent before it on the same keep-alive connection: the server may have left the previous request's body unread on a keep-alive connection and read it as the start of this request";
}

/** Joins a path relative to the edition's prefix; paths under /_matrix/ are taken as they are. */
function absolute(path: string, edition: EditionInfo): string {
  return path.startsWith('/_matrix/') ? path : edition.prefix + path;
}

const jsonOrGenerator = {};

/** What a request step observed: the answer, for judging whether it can be judged at all. */
interface HttpObserved extends Observed {
  response: HttpResponse;
  tooDeep: boolean;
  cap: number;
}

/** Sends one HTTP request to the target and observes its answer. */
export const requestKind: StepKind = {
  name: 'request',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['method', 'path'],
    properties: {
      method: { enum: ['GET', 'POST', 'PUT', 'DELETE'] },
      path: {
        description: 'A path under the edition prefix (or under /_matrix/), or a list of its parts: literal strings and generated values, each value encoded as one segment.',
        oneOf: [
          { type: 'string', pattern: '^/' },
          { type: 'array', minItems: 1, items: { oneOf: [{ type: 'string' }, { type: 'object' }] } },
        ],
      },
      auth: { type: 'string', description: "A user alias of the case, 'none' (no token) or 'invalid' (a token no server issued). Default: the case's first user." },
      token_in: { enum: ['header', 'query'], description: 'Where the access token goes: `Authorization: Bearer` (default) or the `access_token` query parameter.' },
      json: { ...jsonOrGenerator, description: 'A JSON body; may contain generators.' },
      raw: {
        description: 'A body sent as written (UTF-8), for malformed input; or a list of its parts: literal strings as written, and values (generators) written as JSON in between.',
        oneOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: { oneOf: [{ type: 'string' }, { type: 'object' }] } }],
      },
      raw_base64: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'A body given as base64 and sent as those bytes, for input that is not even valid UTF-8.' },
      content_type: { type: 'string' },
    },
    not: { anyOf: [{ required: ['json', 'raw'] }, { required: ['json', 'raw_base64'] }, { required: ['raw', 'raw_base64'] }] },
  },
  check(spec, path, out, refs) {
    const r = spec as RequestSpec;
    checkOperators(r.json, [...path, 'json'], false, out);
    references(r.json, refs);
    if (Array.isArray(r.raw)) {
      checkOperators(r.raw, [...path, 'raw'], false, out);
      references(r.raw, refs);
    }
    if (Array.isArray(r.path)) {
      if (typeof r.path[0] !== 'string' || !r.path[0].startsWith('/')) out.push([[...path, 'path', 0], 'a path list starts with a literal part beginning with /']);
      checkOperators(r.path, [...path, 'path'], false, out);
      references(r.path, refs);
    }
    if (r.auth !== 'none' && r.auth !== 'invalid') refs.auth.add(r.auth);
  },
  prepare(spec, edition) {
    const r = spec as RequestSpec;
    const path = typeof r.path === 'string' ? absolute(r.path, edition) : [absolute(r.path[0] as string, edition), ...r.path.slice(1)];
    return { ...r, path };
  },
  async run(spec, ctx): Promise<StepRun> {
    const r = spec as RequestSpec;
    const headers: Record<string, string> = {};
    const user = ctx.user(r.auth);
    const token = user ? user.accessToken : r.auth === 'invalid' ? INVALID_TOKEN : undefined;
    if (token !== undefined && r.token_in !== 'query') headers['authorization'] = `Bearer ${token}`;
    const query = token !== undefined && r.token_in === 'query' ? `?access_token=${encodeURIComponent(token)}` : '';
    let body: string | Uint8Array | undefined;
    let sentJson: unknown;
    if (typeof r.raw === 'string') body = r.raw;
    else if (r.raw !== undefined) body = r.raw.map((part) => (typeof part === 'string' ? part : (JSON.stringify(ctx.resolve(part)) ?? 'null'))).join('');
    else if (r.raw_base64 !== undefined) body = Buffer.from(r.raw_base64, 'base64');
    // A raw body a lenient server may still read as JSON is matched by clean-up rules as that JSON.
    if (body !== undefined && sentJson === undefined) sentJson = lenientJson(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
    else if (r.json !== undefined) {
      sentJson = ctx.resolve(r.json);
      body = JSON.stringify(sentJson);
    }
    if (body !== undefined) headers['content-type'] = r.content_type ?? 'application/json';
    const path = typeof r.path === 'string' ? r.path : r.path.map((part, i) => (i === 0 || typeof part === 'string' ? String(part) : encodeURIComponent(asKey(ctx.resolve(part), segmentName(part, i))))).join('');
    const req: HttpRequest = { method: r.method, url: ctx.base + path + query, headers, ...(body === undefined ? {} : { body }) };
    let res: HttpResponse;
    let requests = 0;
    let waitedMs = 0;
    try {
      const sent = await ctx.transport.send(req, { followRedirects: ctx.followRedirects });
      res = sent.res;
      requests = sent.attempts;
      waitedMs = sent.waitedMs;
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      return { requests: requests + 1, waitedMs, sent: req, sentJson, problem: { code: err.code, message: err.message, exchange: recordExchange(req, undefined, ctx.redactor, 0) } };
    }
    let shown: ReturnType<typeof recordExchange> | undefined;
    const exchange = (): ReturnType<typeof recordExchange> => (shown ??= recordExchange(req, res, ctx.redactor, res.durationMs));
    const parsed = parseJson(res.text);
    const tooDeep = parsed.isJson && jsonDepth(res.text) > MAX_JSON_DEPTH;
    const observed: HttpObserved = { status: res.status, json: tooDeep ? undefined : parsed.json, isJson: parsed.isJson, response: res, tooDeep, cap: ctx.transport.client.options.maxBodyBytes };
    const hint = parsed.isJson ? '' : unreadBodyHint(res);
    return { observed, requests, waitedMs, exchange, sent: req, sentJson, ...(hint ? { hint } : {}) };
  },
  /**
   * Answers that give no verdict on the rule a step checks: the server broke
   * (5xx), sent the client elsewhere (3xx), kept rate-limiting past the
   * budget, or did not speak JSON where a MUST check reads the body or the
   * status is already wrong (unless a MUST check judges whether the body is
   * JSON: then that is the verdict). They are errors, reported apart from failures.
   * Where the MUST checks hold on the status alone (a draft 404 with an empty
   * body), the step is judged like any other.
   */
  judgeable(run, must, holds, kinds) {
    const o = run.observed as HttpObserved | undefined;
    if (!o) return undefined;
    const res = o.response;
    if (res.status >= 500) return { code: 'ERR_SERVER_ERROR', message: `the server failed with status ${res.status}` };
    if (res.status >= 300 && res.status < 400) return { code: 'ERR_REDIRECT', message: `answered ${res.status} redirecting to ${res.headers['location'] ?? '(no location)'}; redirects are not followed (see --follow-redirects)` };
    if (res.status === 429) return { code: 'ERR_RATE_LIMITED', message: 'still rate-limited (429) when the rate-limit budget ran out' };
    if (res.truncated) return { code: 'ERR_BODY_TOO_LARGE', message: `the response body is larger than the cap of ${o.cap} bytes; the rest was not read` };
    if (o.tooDeep) return { code: 'ERR_JSON_TOO_DEEP', message: `answered JSON nested deeper than ${MAX_JSON_DEPTH} levels, which no check reads` };
    if (!o.isJson && !must.some((c) => kinds.get(c.kind)?.judgesJson)) {
      const needsJson = must.some((c) => kinds.get(c.kind)?.readsBody);
      const statusWrong = must.some((c) => !kinds.get(c.kind)?.readsBody && !holds(c));
      if (needsJson || statusWrong) return { code: 'ERR_NOT_JSON', message: `answered ${res.status} with ${res.headers['content-type'] ?? 'no content-type'} and a body that is not JSON, where the API always answers JSON${unreadBodyHint(res)}` };
    }
    return undefined;
  },
};
