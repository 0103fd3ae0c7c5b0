/**
 * Where cases get their users: a pool that registers accounts as the running
 * cases need them and reuses them, or accounts given on the command line.
 * This module knows the account endpoints of the client-server API
 * (register, login, whoami, logout) and nothing of any other area.
 */
import { randomBytes } from 'node:crypto';
import { TargetError } from '../errors.js';
import { TransportError, type HttpResponse } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import type { Transport } from '../http/transport.js';
import { escapeForTerminal } from '../text.js';
import { jsonDepth, MAX_JSON_DEPTH } from './json.js';

export interface User {
  alias: string;
  userId: string;
  accessToken: string;
  /** Per edition: keys of what the account held before the case (see the edition's baseline); list checks leave them out. */
  baseline: Map<string, ReadonlySet<string>>;
  /** False when the account may hold things no baseline has seen (a given account, or after a case that failed). */
  clean: boolean;
  /** Some case had the account before (or it was given): what it holds must be read, not assumed empty. */
  used: boolean;
}

export interface AcquireOptions {
  /** Users no case has used before. */
  fresh: boolean;
  /** About how many requests the case sends while it holds its users (its steps); sizes the pool before any case has finished. */
  requests?: number;
}

/** Where a case's users come from. */
export interface UserSource {
  /**
   * Users for one case, or a reason to skip it. Rejects with a UsersError
   * when this case cannot get users (the case errors), and with a
   * TargetError when the target cannot give users at all (the run stops).
   */
  acquire(aliases: readonly string[], options: AcquireOptions): Promise<User[] | { skip: string }>;
  /** Gives the users of a finished case back; `clean` says whether its clean-up removed all it created. */
  release(users: readonly User[], clean: boolean): void;
  /** Ends the run: logs out sessions the source opened. */
  close(): Promise<void>;
  /** How many accounts the source registered or logged in. */
  readonly opened: number;
}

/** This case cannot get its users: it errors with the reason; the run goes on. */
export class UsersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsersError';
  }
}

/** Placeholder shown instead of a user's token: a shell variable, so reproduction commands stay runnable. */
export function tokenPlaceholder(alias: string): string {
  return `$${alias.toUpperCase()}_TOKEN`;
}

type Answer = Record<string, unknown>;

const isObject = (v: unknown): v is Answer => typeof v === 'object' && v !== null && !Array.isArray(v);

function parse(res: HttpResponse): Answer {
  // A body too deep to walk safely is read as no answer at all.
  if (jsonDepth(res.text) > MAX_JSON_DEPTH) return {};
  try {
    const v = JSON.parse(res.text) as unknown;
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

const SHOWN_BYTES = 300;

/** Values of members whose name holds "token", found in the raw text. */
const JSON_TOKEN = /"((?:[^"\\]|\\.){0,200})"\s*:\s*"((?:[^"\\]|\\.){1,4096})"/g;
const FORM_TOKEN = /(?:^|[?&;\s])([\w.-]{0,100})=([^&;\s"]{1,4096})/g;
const MAX_SCANNED = 1 << 20;

/**
 * Every value an answer gives to a member named like a token (`access_token`,
 * `refresh_token`, a nested or a duplicated member, a form-encoded body):
 * read from the text itself, so no parse (a body too deep, a duplicated key
 * whose last value wins) hides one.
 */
export function tokensIn(text: string): string[] {
  const head = text.length > MAX_SCANNED ? text.slice(0, MAX_SCANNED) : text;
  const out = new Set<string>();
  for (const m of head.matchAll(JSON_TOKEN)) {
    let name = m[1] as string;
    let value = m[2] as string;
    try {
      name = JSON.parse(`"${name}"`) as string;
      value = JSON.parse(`"${value}"`) as string;
    } catch {
      // An invalid escape: take the text as it stands.
    }
    if (/token/i.test(name) && value !== '') out.add(value);
  }
  for (const m of head.matchAll(FORM_TOKEN)) {
    if (!/token/i.test(m[1] as string)) continue;
    const raw = m[2] as string;
    out.add(raw);
    try {
      const decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
      if (decoded !== '') out.add(decoded);
    } catch {
      // Not percent-encoded after all: the raw value is held.
    }
  }
  return [...out];
}

/**
 * An unexpected answer as a user can act on it: status, content type and
 * the first 300 bytes of the body, control characters escaped and secrets
 * redacted.
 */
export function describeAnswer(res: HttpResponse, redactor: Redactor): string {
  const a = parse(res);
  // A token the answer carries is a secret even when the answer is of no use (a 201, no user_id): redact it too.
  for (const t of tokensIn(res.text)) redactor.add(t, '$ISSUED_TOKEN');
  const bytes = Buffer.byteLength(res.text, 'utf8');
  // Redacted, then cut at a character boundary: a cut first could leave part of a secret.
  const shown = redactor.applyCut(res.text, SHOWN_BYTES).text;
  const of = res.truncated ? `${bytes} bytes read` : `${bytes} bytes`;
  const body = bytes === 0 ? 'an empty body' : `body "${escapeForTerminal(shown).replace(/"/g, '\\"')}"${bytes > SHOWN_BYTES ? ` (first ${SHOWN_BYTES} of ${of})` : ''}`;
  const code = typeof a['errcode'] === 'string' ? ` ${escapeForTerminal(redactor.apply(a['errcode']))}` : '';
  return `${res.status}${code} (${escapeForTerminal(res.headers['content-type'] ?? 'no content-type')}, ${body})`;
}

interface Posted {
  status: number;
  answer: Answer;
  res: HttpResponse;
  /** The request was rate-limited at least once before this answer. */
  limited: boolean;
}

async function send(client: Transport, redactor: Redactor, method: string, url: string, body: unknown, token: string | undefined, fail: (why: string) => Error, onLimited?: () => void): Promise<Posted> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers['authorization'] = `Bearer ${token}`;
  try {
    const { res, waitedMs, attempts } = await client.send({ method, url, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }, onLimited ? { onLimited } : {});
    // Every token the answer carries is a secret from now on, used or not (a refresh token, a token of a refused answer);
    // the access token of a successful answer is left to the caller, who names it after its user.
    const answer = parse(res);
    const named = res.status === 200 ? answer['access_token'] : undefined;
    for (const t of tokensIn(res.text)) if (t !== named) redactor.add(t, '$ISSUED_TOKEN');
    return { status: res.status, answer, res, limited: waitedMs > 0 || attempts > 1 };
  } catch (err) {
    if (err instanceof TransportError) throw fail(err.message);
    throw err;
  }
}

/** The stages of a user-interactive flow, when it is a well-formed list of strings; undefined otherwise. */
function stagesOf(flow: unknown): string[] | undefined {
  if (!isObject(flow) || !Array.isArray(flow['stages'])) return undefined;
  const stages = flow['stages'];
  return stages.length > 0 && stages.every((s) => typeof s === 'string') ? (stages as string[]) : undefined;
}

const MAX_UIA_ROUNDS = 4;
/** Registrations under way at once while the pool grows. */
const MAX_PARALLEL_REGISTRATIONS = 4;

interface Waiter {
  aliases: readonly string[];
  /** Requests the case is expected to send while it holds its users. */
  requests: number;
  resolve(users: User[]): void;
  reject(err: Error): void;
}

/**
 * Registers users through POST /register as the running cases need them, and
 * hands them from case to case. A case has its users to itself until it
 * gives them back, so cases never see each other's state. The pool grows
 * only while registration is quick: once the target rate-limits
 * registration, cases wait for users already in the pool, one registration
 * at a time goes on in the background, and a rate limit lowers concurrency
 * instead of stopping the run.
 */
export class RegisteringPool implements UserSource {
  private seq = 0;
  private readonly idle: User[] = [];
  private readonly waiters: Waiter[] = [];
  private registering = 0;
  private total = 0;
  private limited = false;
  private fatal: Error | undefined;
  private readonly usable: ReadonlySet<string>;
  /** Registrations completed, and the time they took in all. */
  private registered = 0;
  private registrationMs = 0;
  /** Cases that gave their users back, and how long they held them in all. */
  private held = 0;
  private heldMs = 0;
  private readonly handedAt = new Map<string, number>();
  /** The first round of each registration (no password, nothing hashed): a plain round trip to the target. */
  private rounds = 0;
  private roundMs = 0;

  constructor(
    private readonly client: Transport,
    private readonly base: string,
    private readonly runId: string,
    private readonly redactor: Redactor,
    private readonly registrationToken?: string,
    private readonly parallel = MAX_PARALLEL_REGISTRATIONS,
  ) {
    if (registrationToken) redactor.add(registrationToken, '$REGISTRATION_TOKEN');
    this.usable = new Set(['m.login.dummy', ...(registrationToken ? ['m.login.registration_token'] : [])]);
  }

  get opened(): number {
    return this.total;
  }

  async acquire(aliases: readonly string[], options: AcquireOptions): Promise<User[]> {
    if (this.fatal) throw this.fatal;
    if (options.fresh) {
      // Never from the pool: registered for this case alone, and joining it afterwards.
      return Promise.all(aliases.map((alias) => this.register(alias)));
    }
    return new Promise<User[]>((resolve, reject) => {
      this.waiters.push({ aliases, resolve, reject, requests: Math.max(1, options.requests ?? 1) });
      this.pump();
    });
  }

  release(users: readonly User[], clean: boolean): void {
    const t = users[0] ? this.handedAt.get(users[0].accessToken) : undefined;
    if (t !== undefined) {
      this.held++;
      this.heldMs += performance.now() - t;
    }
    for (const u of users) this.idle.push({ ...u, alias: '', clean: u.clean && clean, used: true });
    this.pump();
  }

  /** Hands idle users to waiting cases in order, and registers more while that is quick. */
  private pump(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0] as Waiter;
      if (this.idle.length < head.aliases.length) break;
      this.waiters.shift();
      const users = head.aliases.map((alias) => ({ ...(this.idle.shift() as User), alias }));
      for (const u of users) this.handedAt.set(u.accessToken, performance.now());
      head.resolve(users);
    }
    if (this.waiters.length === 0 || this.fatal) return;
    const wanted = this.waiters.reduce((n, w) => n + w.aliases.length, 0);
    const largest = Math.max(...this.waiters.map((w) => w.aliases.length));
    for (;;) {
      const coming = this.idle.length + this.registering;
      // Rate-limited: no more users than the largest case needs, one registration at a time.
      const room = this.limited ? (this.total + this.registering < largest ? this.parallel : 1) : this.parallel;
      if (coming >= wanted || this.registering >= room) break;
      // Past the first wave (and past what the largest waiting case needs), a
      // user is registered only while the waiting cases would take longer to
      // go through the users there are than a registration takes: waiting
      // aliases x mean hold time / users. Registration is the costly request
      // of a run (Synapse hashes the password at bcrypt cost 12, ~0.25 s of its CPU).
      const owned = this.total + this.registering;
      if (owned >= largest && owned >= this.parallel) {
        if (this.registered === 0 || (this.held === 0 && this.rounds === 0)) break;
        const cost = this.registrationMs / this.registered;
        // Before any case has finished, a case is taken to hold its users for as many round trips as it sends requests.
        const hold = this.held > 0 ? this.heldMs / this.held : (this.roundMs / this.rounds) * (this.waiters.reduce((n, w) => n + w.requests, 0) / this.waiters.length);
        const drain = (wanted * hold) / owned;
        if (drain <= cost) break;
      }
      this.grow();
    }
  }

  private grow(): void {
    this.registering++;
    const t0 = performance.now();
    this.register('').then(
      (user) => {
        this.registering--;
        this.registered++;
        this.registrationMs += performance.now() - t0;
        this.idle.push(user);
        this.pump();
      },
      (err: Error) => {
        this.registering--;
        if (err instanceof TargetError) {
          // Nothing can run: every waiting case learns it now.
          this.fatal = err;
          for (const w of this.waiters.splice(0)) w.reject(err);
          return;
        }
        // This case cannot get its users; the others go on with the pool they have.
        this.waiters.shift()?.reject(err);
        this.pump();
      },
    );
  }

  /** A failure before any user exists stops the run (exit 3); later ones error one case. */
  private failure(why: string): Error {
    const message = `cannot get users on the target: ${why}`;
    return this.total === 0 ? new TargetError('ERR_TARGET_USERS', message) : new UsersError(message);
  }

  private async register(alias: string): Promise<User> {
    const username = `cf${this.runId}_${++this.seq}`;
    // 16 characters: some servers refuse passwords under 8.
    const password = randomBytes(12).toString('base64url');
    this.redactor.add(password, '$PASSWORD');
    const url = `${this.base}/_matrix/client/v3/register`;
    const fail = (why: string): Error => this.failure(why);
    // Known at the first 429, not once it has been waited out: meanwhile no more registrations start.
    const limited = (): void => {
      this.limited = true;
    };
    // The password goes in the round that completes the registration only: a
    // server that hashes every password it is sent (Synapse, at bcrypt cost 12)
    // does that work once per user, not once per round.
    const request = { username, inhibit_login: false };
    const t0 = performance.now();
    let posted = await send(this.client, this.redactor, 'POST', url, request, undefined, fail, limited);
    if (!posted.limited) {
      this.rounds++;
      this.roundMs += performance.now() - t0;
    }
    if (posted.status === 400) posted = await send(this.client, this.redactor, 'POST', url, { ...request, password }, undefined, fail, limited);
    this.limited ||= posted.limited;
    for (let round = 0; posted.status === 401 && round < MAX_UIA_ROUNDS; round++) {
      const answer = posted.answer;
      const flows = Array.isArray(answer['flows']) ? answer['flows'] : [];
      const flow = flows.map(stagesOf).find((stages) => stages !== undefined && stages.every((s) => this.usable.has(s)));
      if (!flow) {
        const offered = flows.map((f) => stagesOf(f)?.map((s) => escapeForTerminal(this.redactor.apply(s))).join(' + ') ?? '(malformed flow)').join(' | ') || 'none';
        throw fail(`registration asks for stages this run cannot complete (${offered.slice(0, 300)})${this.registrationToken ? '' : '; for m.login.registration_token pass --registration-token, or give accounts with --user / --access-token'}`);
      }
      const done = new Set(Array.isArray(answer['completed']) ? answer['completed'].filter((s): s is string => typeof s === 'string') : []);
      const stage = flow.find((s) => !done.has(s));
      const session = answer['session'];
      if (typeof session !== 'string' || !stage) throw fail(`the 401 answer to POST /register has no session or no stage left to complete: ${describeAnswer(posted.res, this.redactor)}`);
      const auth = stage === 'm.login.registration_token' ? { type: stage, token: this.registrationToken, session } : { type: stage, session };
      posted = await send(this.client, this.redactor, 'POST', url, { ...request, password, auth }, undefined, fail, limited);
      this.limited ||= posted.limited;
    }
    if (posted.status !== 200) throw fail(`POST /register answered ${describeAnswer(posted.res, this.redactor)}`);
    const { access_token: token, user_id: userId } = posted.answer;
    if (typeof token !== 'string' || token === '' || typeof userId !== 'string') throw fail(`POST /register succeeded without user_id and access_token: ${describeAnswer(posted.res, this.redactor)}`);
    this.total++;
    this.redactor.add(token, tokenPlaceholder(`user${this.total}`));
    this.redactor.addVariable(userId, `$USER${this.total}_ID`);
    return { alias, userId, accessToken: token, baseline: new Map(), clean: true, used: false };
  }

  async close(): Promise<void> {
    // Sessions of registered users are left to expire with their throw-away accounts.
  }
}

export type Credential = { kind: 'password'; user: string; password: string } | { kind: 'token'; token: string };

interface Account {
  user: User;
  loggedIn: boolean;
  busy: boolean;
}

/**
 * Accounts given on the command line, for servers without open registration.
 * A case takes all the accounts it needs at once and has them to itself until
 * it ends. A case needing more accounts than were given is skipped, not failed.
 */
export class GivenUsers implements UserSource {
  private accounts: Account[] | undefined;
  private readonly waiting: Array<() => void> = [];
  private opening: Promise<Account[]> | undefined;

  constructor(
    private readonly client: Transport,
    private readonly base: string,
    private readonly redactor: Redactor,
    private readonly credentials: readonly Credential[],
  ) {
    credentials.forEach((c, i) => {
      if (c.kind === 'password') {
        redactor.add(c.password, `$USER${i + 1}_PASSWORD`);
      } else redactor.add(c.token, `$USER${i + 1}_TOKEN`);
    });
  }

  get opened(): number {
    return this.accounts?.length ?? 0;
  }

  /** Logs in once, however many cases ask at the same time. */
  private open(): Promise<Account[]> {
    this.opening ??= this.login();
    return this.opening;
  }

  private async login(): Promise<Account[]> {
    const fail = (why: string): Error => new TargetError('ERR_TARGET_USERS', `cannot get users on the target: ${why}`);
    const accounts: Account[] = [];
    for (const [i, c] of this.credentials.entries()) {
      let token: string;
      let loggedIn = false;
      if (c.kind === 'password') {
        const posted = await send(this.client, this.redactor, 'POST', `${this.base}/_matrix/client/v3/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: c.user }, password: c.password, initial_device_display_name: 'pushers conformance run' }, undefined, fail);
        const t = posted.answer['access_token'];
        if (posted.status !== 200 || typeof t !== 'string' || t === '') throw fail(`logging in as ${escapeForTerminal(c.user).slice(0, 100)} answered ${describeAnswer(posted.res, this.redactor)}`);
        token = t;
        loggedIn = true;
      } else token = c.token;
      this.redactor.add(token, `$USER${i + 1}_TOKEN`);
      const who = await send(this.client, this.redactor, 'GET', `${this.base}/_matrix/client/v3/account/whoami`, undefined, token, fail);
      const userId = who.answer['user_id'];
      if (who.status !== 200 || typeof userId !== 'string') throw fail(`GET /account/whoami for account ${i + 1} answered ${describeAnswer(who.res, this.redactor)}`);
      this.redactor.addVariable(userId, `$USER${i + 1}_ID`);
      // What the account already holds is read by each edition's baseline before its first case.
      accounts.push({ user: { alias: '', userId, accessToken: token, baseline: new Map(), clean: false, used: true }, loggedIn, busy: false });
    }
    this.accounts = accounts;
    return accounts;
  }

  async acquire(aliases: readonly string[], options: AcquireOptions): Promise<User[] | { skip: string }> {
    if (aliases.length > this.credentials.length) return { skip: `needs ${aliases.length} accounts; ${this.credentials.length} given (--user / --access-token)` };
    if (options.fresh) return { skip: 'needs fresh users, and given accounts (--user / --access-token) are not' };
    const accounts = await this.open();
    for (;;) {
      const free = accounts.filter((a) => !a.busy);
      if (free.length >= aliases.length) {
        return aliases.map((alias, i) => {
          const a = free[i] as Account;
          a.busy = true;
          return { ...a.user, alias };
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(users: readonly User[], clean: boolean): void {
    for (const u of users) {
      const a = this.accounts?.find((x) => x.user.accessToken === u.accessToken);
      if (a) {
        a.busy = false;
        a.user = { ...u, alias: '', clean: u.clean && clean };
      }
    }
    for (const wake of this.waiting.splice(0)) wake();
  }

  async close(): Promise<void> {
    for (const a of this.accounts ?? []) {
      if (a.loggedIn) await send(this.client, this.redactor, 'POST', `${this.base}/_matrix/client/v3/logout`, {}, a.user.accessToken, (why) => new Error(why)).catch(() => undefined);
    }
  }
}
