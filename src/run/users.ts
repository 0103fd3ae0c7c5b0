import { randomBytes } from 'node:crypto';
import { TargetError } from '../errors.js';
import { TransportError } from '../http/client.js';
import type { Transport } from '../http/transport.js';
import type { Redactor } from '../http/redact.js';

export interface User {
  alias: string;
  userId: string;
  accessToken: string;
  /** app_id + pushkey of pushers the account had before the run (given accounts only); list checks ignore them. */
  baseline?: ReadonlySet<string>;
}

/** Where a case's users come from: fresh registrations by default, or accounts given on the command line. */
export interface UserSource {
  /** Users for one case, or a reason the case must be skipped. Throws TargetError when the target cannot give users at all. */
  acquire(aliases: readonly string[]): Promise<User[] | { skip: string }>;
  /** Gives the users of a finished case back. */
  release?(users: readonly User[]): void;
  /** Ends the run: logs out sessions the source opened. */
  close?(): Promise<void>;
}

/** Placeholder shown instead of a user's token: a shell variable, so reproduction commands stay runnable. */
export function tokenPlaceholder(alias: string): string {
  return `$${alias.toUpperCase()}_TOKEN`;
}

export function pusherKey(appId: unknown, pushkey: unknown): string {
  return `${String(appId)}\n${String(pushkey)}`;
}

type Answer = Record<string, unknown>;

function parse(text: string): Answer {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Answer) : {};
  } catch {
    return {};
  }
}

const describe = (status: number, a: Answer): string => `${status} ${typeof a['errcode'] === 'string' ? a['errcode'] : ''} ${typeof a['error'] === 'string' ? a['error'] : ''}`.trim();

const usersError = (why: string): TargetError => new TargetError('ERR_TARGET_USERS', `cannot get users on the target: ${why}`);

async function postJson(client: Transport, url: string, body: unknown, token?: string): Promise<{ status: number; answer: Answer }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  try {
    const { res } = await client.send({ method: 'POST', url, headers, body: JSON.stringify(body) });
    return { status: res.status, answer: parse(res.text) };
  } catch (err) {
    if (err instanceof TransportError) throw usersError(err.message);
    throw err;
  }
}

/**
 * Registers fresh users through POST /register, completing the
 * user-interactive stages it offers: m.login.dummy, and
 * m.login.registration_token when a token is given. Names are unique to the run.
 */
export class RegisteringUsers implements UserSource {
  private seq = 0;
  constructor(
    private readonly client: Transport,
    private readonly base: string,
    private readonly runId: string,
    private readonly redactor: Redactor,
    private readonly registrationToken?: string,
  ) {
    if (registrationToken) redactor.add(registrationToken, '$REGISTRATION_TOKEN');
  }

  async acquire(aliases: readonly string[]): Promise<User[]> {
    // One after the other: with --jobs 1 the target sees one request at a time.
    const users: User[] = [];
    for (const alias of aliases) users.push(await this.register(alias));
    return users;
  }

  private async register(alias: string): Promise<User> {
    const username = `cf${this.runId}_${++this.seq}_${alias}`;
    // 16 characters: some servers refuse passwords under 8.
    const password = randomBytes(12).toString('base64url');
    this.redactor.add(password, '$PASSWORD');
    const url = `${this.base}/_matrix/client/v3/register`;
    const request = { username, password, inhibit_login: false };
    const usable = new Set(['m.login.dummy', ...(this.registrationToken ? ['m.login.registration_token'] : [])]);
    let { status, answer } = await postJson(this.client, url, request);
    for (let round = 0; status === 401 && round < 4; round++) {
      const flows = (Array.isArray(answer['flows']) ? answer['flows'] : []) as Array<{ stages?: unknown }>;
      const stagesOf = (f: { stages?: unknown }): string[] => (Array.isArray(f.stages) ? f.stages.map(String) : []);
      const flow = flows.map(stagesOf).find((stages) => stages.length > 0 && stages.every((s) => usable.has(s)));
      if (!flow) {
        const offered = flows.map((f) => stagesOf(f).join(' + ')).join(' | ') || 'none';
        throw usersError(`registration asks for stages this run cannot complete (${offered})${this.registrationToken ? '' : '; for m.login.registration_token pass --registration-token, or give accounts with --user / --access-token'}`);
      }
      const done = new Set(Array.isArray(answer['completed']) ? answer['completed'].map(String) : []);
      const stage = flow.find((s) => !done.has(s));
      if (typeof answer['session'] !== 'string' || !stage) throw usersError('the 401 answer to POST /register has no session or no stage left to complete');
      const auth = stage === 'm.login.registration_token' ? { type: stage, token: this.registrationToken, session: answer['session'] } : { type: stage, session: answer['session'] };
      ({ status, answer } = await postJson(this.client, url, { ...request, auth }));
    }
    if (status !== 200) throw usersError(`POST /register answered ${describe(status, answer)}`);
    if (typeof answer['access_token'] !== 'string' || typeof answer['user_id'] !== 'string') throw usersError('POST /register succeeded without user_id and access_token');
    this.redactor.add(answer['access_token'], tokenPlaceholder(alias));
    return { alias, userId: answer['user_id'], accessToken: answer['access_token'] };
  }
}

export type Credential = { kind: 'password'; user: string; password: string } | { kind: 'token'; token: string };

interface Account {
  userId: string;
  accessToken: string;
  baseline: Set<string>;
  loggedIn: boolean;
  busy: boolean;
}

/**
 * Accounts given on the command line, for servers without open registration.
 * A case takes all the accounts it needs at once and has them to itself until
 * it ends, so cases never see each other's pushers. A case needing more
 * accounts than were given is skipped, not failed.
 */
export class GivenUsers implements UserSource {
  private accounts: Account[] | undefined;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly client: Transport,
    private readonly base: string,
    private readonly redactor: Redactor,
    private readonly credentials: readonly Credential[],
  ) {
    credentials.forEach((c, i) => {
      if (c.kind === 'password') redactor.add(c.password, `$USER${i + 1}_PASSWORD`);
      else redactor.add(c.token, `$USER${i + 1}_TOKEN`);
    });
  }

  private opening: Promise<Account[]> | undefined;

  /** Logs in once, however many cases ask at the same time. */
  private open(): Promise<Account[]> {
    this.opening ??= this.login();
    return this.opening;
  }

  private async login(): Promise<Account[]> {
    const accounts: Account[] = [];
    for (const [i, c] of this.credentials.entries()) {
      let token: string;
      let loggedIn = false;
      if (c.kind === 'password') {
        const { status, answer } = await postJson(this.client, `${this.base}/_matrix/client/v3/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: c.user }, password: c.password, initial_device_display_name: 'pushers conformance run' });
        if (status !== 200 || typeof answer['access_token'] !== 'string') throw usersError(`logging in as ${c.user} answered ${describe(status, answer)}`);
        token = answer['access_token'];
        loggedIn = true;
      } else token = c.token;
      this.redactor.add(token, `$USER${i + 1}_TOKEN`);
      const who = await this.get('/_matrix/client/v3/account/whoami', token);
      if (who.status !== 200 || typeof who.answer['user_id'] !== 'string') throw usersError(`GET /account/whoami for account ${i + 1} answered ${describe(who.status, who.answer)}`);
      // Pushers the account already has are not the run's: list checks leave them out.
      const pushers = await this.get('/_matrix/client/v3/pushers', token);
      const list = Array.isArray(pushers.answer['pushers']) ? (pushers.answer['pushers'] as Answer[]) : [];
      accounts.push({ userId: who.answer['user_id'], accessToken: token, baseline: new Set(list.map((p) => pusherKey(p['app_id'], p['pushkey']))), loggedIn, busy: false });
    }
    this.accounts = accounts;
    return accounts;
  }

  private async get(path: string, token: string): Promise<{ status: number; answer: Answer }> {
    try {
      const { res } = await this.client.send({ method: 'GET', url: this.base + path, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, answer: parse(res.text) };
    } catch (err) {
      if (err instanceof TransportError) throw usersError(err.message);
      throw err;
    }
  }

  async acquire(aliases: readonly string[]): Promise<User[] | { skip: string }> {
    if (aliases.length > this.credentials.length) return { skip: `needs ${aliases.length} accounts; ${this.credentials.length} given (--user / --access-token)` };
    const accounts = await this.open();
    for (;;) {
      const free = accounts.filter((a) => !a.busy);
      if (free.length >= aliases.length) {
        return aliases.map((alias, i) => {
          const a = free[i] as Account;
          a.busy = true;
          return { alias, userId: a.userId, accessToken: a.accessToken, baseline: a.baseline };
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(users: readonly User[]): void {
    for (const u of users) {
      const a = this.accounts?.find((x) => x.accessToken === u.accessToken);
      if (a) a.busy = false;
    }
    for (const wake of this.waiting.splice(0)) wake();
  }

  async close(): Promise<void> {
    for (const a of this.accounts ?? []) {
      if (a.loggedIn) await postJson(this.client, `${this.base}/_matrix/client/v3/logout`, {}, a.accessToken).catch(() => undefined);
    }
  }
}
