/**
 * The push rules API of the client-server spec: the ruleset, one rule, its
 * `enabled` flag and its `actions`, under /pushrules/global/… (v1.12 and later
 * name the scope in the path; earlier versions take `{scope}`, of which `global`
 * is the only one, so both are the same URLs). Another scope, or an unknown
 * kind, is 400 M_INVALID_PARAM.
 *
 * What the spec says a server refuses, it refuses: a user rule id starting with
 * `.` (reserved for server-default rules), ids with `/` or `\` (v1.5), and
 * `before`/`after` naming a server-default rule. Malformed bodies are refused
 * where the request schema says what a field is (actions an array of strings and
 * objects, conditions objects with a string `kind`, a content rule's `pattern` a
 * string); anything else a client sends is kept as sent.
 */
import { isJsonObject, jsonType, type Json, type JsonObject } from '../json.js';
import { formatBytes, resourceLimitExceeded, tooLarge, type Limits } from '../limits.js';
import { JsonText, matrixError, ok, type HandlerResult } from '../result.js';
import { CLIENT_PREFIXES, type AuthedContext, type Route } from '../routes/types.js';
import type { PushRuleLimits } from './limits.js';
import type { PushRuleStore, StoreRefusal } from './store.js';
import { isKind, KINDS, type Kind } from './types.js';

export function pushRuleRoutes(store: PushRuleStore, limits: Limits, ruleLimits: PushRuleLimits): Route[] {
  const refused = (refusal: StoreRefusal, target: Target): HandlerResult => refusalError(refusal, target, limits, ruleLimits);
  const all = (ctx: AuthedContext): HandlerResult => ok(new JsonText(`{"global":${store.rulesetJson(ctx.device.userId)}}`));
  const global = (ctx: AuthedContext): HandlerResult => ok(new JsonText(store.rulesetJson(ctx.device.userId)));
  return CLIENT_PREFIXES.flatMap((prefix): Route[] => {
    const rule = `${prefix}/pushrules/{scope}/{kind}/{ruleId}`;
    return [
      // The spec's paths end in a slash; clients that leave it out get the same answer.
      { method: 'GET', path: `${prefix}/pushrules/`, auth: true, body: false, handler: all },
      { method: 'GET', path: `${prefix}/pushrules`, auth: true, body: false, handler: all },
      { method: 'GET', path: `${prefix}/pushrules/global/`, auth: true, body: false, handler: global },
      { method: 'GET', path: `${prefix}/pushrules/global`, auth: true, body: false, handler: global },
      { method: 'GET', path: `${prefix}/pushrules/{scope}/`, auth: true, body: false, handler: (ctx) => unknownScope(ctx.params.scope ?? '') },
      { method: 'GET', path: rule, auth: true, body: false, handler: (ctx) => withTarget(ctx, (t) => getRule(store, ctx, t)) },
      { method: 'PUT', path: rule, auth: true, body: true, handler: (ctx) => withTarget(ctx, (t) => putRule(store, refused, ctx, t)) },
      { method: 'DELETE', path: rule, auth: true, body: false, handler: (ctx) => withTarget(ctx, (t) => deleteRule(store, refused, ctx, t)) },
      { method: 'GET', path: `${rule}/enabled`, auth: true, body: false, handler: (ctx) => withTarget(ctx, (t) => getEnabled(store, ctx, t)) },
      { method: 'PUT', path: `${rule}/enabled`, auth: true, body: true, handler: (ctx) => withTarget(ctx, (t) => putEnabled(store, refused, ctx, t)) },
      { method: 'GET', path: `${rule}/actions`, auth: true, body: false, handler: (ctx) => withTarget(ctx, (t) => getActions(store, ctx, t)) },
      { method: 'PUT', path: `${rule}/actions`, auth: true, body: true, handler: (ctx) => withTarget(ctx, (t) => putActions(store, refused, ctx, t)) },
    ];
  });
}

interface Target {
  readonly kind: Kind;
  readonly ruleId: string;
}

function unknownScope(scope: string): HandlerResult {
  return matrixError(400, 'M_INVALID_PARAM', `Unknown push rule scope ${JSON.stringify(scope)}: the only scope is "global"`);
}

/** The rule the path names, or the Matrix error for a path that names none. */
function withTarget(ctx: AuthedContext, handle: (target: Target) => HandlerResult): HandlerResult {
  const { scope = '', kind = '', ruleId = '' } = ctx.params;
  if (scope !== 'global') return unknownScope(scope);
  if (!isKind(kind)) return matrixError(400, 'M_INVALID_PARAM', `Unknown push rule kind ${JSON.stringify(kind)}: must be one of ${KINDS.join(', ')}`);
  return handle({ kind, ruleId });
}

function notFound(target: Target): HandlerResult {
  return matrixError(404, 'M_NOT_FOUND', `No push rule ${target.kind}/${target.ruleId}`);
}

function getRule(store: PushRuleStore, ctx: AuthedContext, target: Target): HandlerResult {
  const json = store.ruleJson(ctx.device.userId, target.kind, target.ruleId);
  return json === undefined ? notFound(target) : ok(new JsonText(json));
}

function putRule(store: PushRuleStore, refused: Refused, ctx: AuthedContext, target: Target): HandlerResult {
  const { kind, ruleId } = target;
  if (ruleId.startsWith('.')) return matrixError(400, 'M_INVALID_PARAM', `Rule ids starting with "." are reserved for server-default rules: ${JSON.stringify(ruleId)}`);
  if (/[/\\]/.test(ruleId)) return matrixError(400, 'M_INVALID_PARAM', `Rule ids may not contain "/" or "\\": ${JSON.stringify(ruleId)}`);
  const actions = readActions(ctx.body);
  if (typeof actions !== 'string') return actions;
  const match = readMatch(kind, ctx.body);
  if (typeof match !== 'string') return match;
  const placement = { before: ctx.query.get('before') ?? undefined, after: ctx.query.get('after') ?? undefined };
  const refusal = store.put(ctx.device.userId, kind, ruleId, match, actions, placement);
  return refusal === undefined ? ok({}) : refused(refusal, target);
}

function deleteRule(store: PushRuleStore, refused: Refused, ctx: AuthedContext, target: Target): HandlerResult {
  const refusal = store.delete(ctx.device.userId, target.kind, target.ruleId);
  return refusal === undefined ? ok({}) : refused(refusal, target);
}

function getEnabled(store: PushRuleStore, ctx: AuthedContext, target: Target): HandlerResult {
  const enabled = store.enabled(ctx.device.userId, target.kind, target.ruleId);
  return enabled === undefined ? notFound(target) : ok({ enabled });
}

function putEnabled(store: PushRuleStore, refused: Refused, ctx: AuthedContext, target: Target): HandlerResult {
  if (!Object.hasOwn(ctx.body, 'enabled')) return matrixError(400, 'M_MISSING_PARAM', "missing field 'enabled'");
  const enabled = ctx.body.enabled;
  if (typeof enabled !== 'boolean') return matrixError(400, 'M_BAD_JSON', `'enabled' must be a boolean, not ${jsonType(enabled)}`);
  const refusal = store.setEnabled(ctx.device.userId, target.kind, target.ruleId, enabled);
  return refusal === undefined ? ok({}) : refused(refusal, target);
}

function getActions(store: PushRuleStore, ctx: AuthedContext, target: Target): HandlerResult {
  const json = store.actionsJson(ctx.device.userId, target.kind, target.ruleId);
  return json === undefined ? notFound(target) : ok(new JsonText(`{"actions":${json}}`));
}

function putActions(store: PushRuleStore, refused: Refused, ctx: AuthedContext, target: Target): HandlerResult {
  const actions = readActions(ctx.body);
  if (typeof actions !== 'string') return actions;
  const refusal = store.setActions(ctx.device.userId, target.kind, target.ruleId, actions);
  return refusal === undefined ? ok({}) : refused(refusal, target);
}

/** The body's `actions` as JSON text: an array of strings and objects, as the request schema says. */
function readActions(body: JsonObject): string | HandlerResult {
  if (!Object.hasOwn(body, 'actions')) return matrixError(400, 'M_MISSING_PARAM', "missing field 'actions'");
  const actions = body.actions;
  if (!Array.isArray(actions)) return matrixError(400, 'M_BAD_JSON', `'actions' must be an array, not ${jsonType(actions)}`);
  const bad = actions.findIndex((action) => typeof action !== 'string' && !isJsonObject(action));
  if (bad !== -1) return matrixError(400, 'M_BAD_JSON', `actions[${bad}] must be a string or an object, not ${jsonType(actions[bad])}`);
  return JSON.stringify(actions);
}

/** What the rule matches, as the JSON members it is stored with: conditions, a pattern, or nothing (room, sender). */
function readMatch(kind: Kind, body: JsonObject): string | HandlerResult {
  if (kind === 'content') {
    if (!Object.hasOwn(body, 'pattern')) return matrixError(400, 'M_MISSING_PARAM', "missing field 'pattern' (content rules match a pattern)");
    if (typeof body.pattern !== 'string') return matrixError(400, 'M_BAD_JSON', `'pattern' must be a string, not ${jsonType(body.pattern)}`);
    return `,"pattern":${JSON.stringify(body.pattern)}`;
  }
  if (kind !== 'override' && kind !== 'underride') return '';
  // A rule without conditions always matches.
  const conditions: Json = Object.hasOwn(body, 'conditions') ? (body.conditions as Json) : [];
  if (!Array.isArray(conditions)) return matrixError(400, 'M_BAD_JSON', `'conditions' must be an array, not ${jsonType(conditions)}`);
  for (const [index, condition] of conditions.entries()) {
    if (!isJsonObject(condition)) return matrixError(400, 'M_BAD_JSON', `conditions[${index}] must be an object, not ${jsonType(condition)}`);
    if (typeof condition.kind !== 'string') return matrixError(400, 'M_BAD_JSON', `conditions[${index}].kind must be a string, not ${jsonType(condition.kind)}`);
  }
  return `,"conditions":${JSON.stringify(conditions)}`;
}

type Refused = (refusal: StoreRefusal, target: Target) => HandlerResult;

function refusalError(refusal: StoreRefusal, target: Target, limits: Limits, ruleLimits: PushRuleLimits): HandlerResult {
  switch (refusal.code) {
    case 'not-found':
      return notFound(target);
    case 'default-rule':
      return matrixError(400, 'M_INVALID_PARAM', `${target.ruleId} is a server-default rule: it cannot be deleted (disable it instead)`);
    case 'anchor-not-found':
      // The spec's own example answer for this case.
      return matrixError(400, 'M_UNKNOWN', `before/after rule not found: ${refusal.anchor} (no ${target.kind} rule of yours has that id)`);
    case 'anchor-default':
      return matrixError(400, 'M_INVALID_PARAM', `before/after names ${refusal.anchor}, a server-default rule: rules can only be placed relative to your own`);
    case 'too-large':
      return tooLarge(`the rule is ${refusal.bytes} bytes as JSON; this server keeps push rules of at most ${formatBytes(ruleLimits.maxPushRuleBytes)}`);
    case 'user-full':
      return resourceLimitExceeded(limits, `You already have ${ruleLimits.maxPushRulesPerUser} push rules, the most one user may define on this server; delete one first (replacing one in place is still allowed)`);
    case 'user-bytes-full':
      return resourceLimitExceeded(limits, `Your push rules would take more than ${formatBytes(ruleLimits.maxPushRuleBytesPerUser)} as JSON, the most one user may keep on this server; delete or shorten some first`);
    case 'storage-full':
      return resourceLimitExceeded(limits, `This server's push rule storage is full (${formatBytes(ruleLimits.maxPushRuleStorageBytes)}); delete rules, or restart the server to empty it`);
  }
}
