import { randomBytes } from 'node:crypto';
import { TargetError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { Redactor } from '../http/redact.js';
import { sendWithRetry } from './exchange.js';

export interface User {
  alias: string;
  userId: string;
  accessToken: string;
}

/** Where a case's users come from. Register fresh ones by default; other sources plug in here. */
export interface UserSource {
  /** Users for one case, or a reason the case must be skipped. Throws TargetError when the target cannot give users at all. */
  acquire(aliases: readonly string[]): Promise<User[] | { skip: string }>;
}

/** Placeholder shown instead of a user's token: a shell variable, so reproduction commands stay runnable. */
export function tokenPlaceholder(alias: string): string {
  return `$${alias.toUpperCase()}_TOKEN`;
}

interface RegisterAnswer {
  session?: unknown;
  flows?: Array<{ stages?: unknown }>;
  user_id?: unknown;
  access_token?: unknown;
  errcode?: unknown;
  error?: unknown;
}

function parse(text: string): RegisterAnswer {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as RegisterAnswer) : {};
  } catch {
    return {};
  }
}

/**
 * Registers fresh users through POST /register with the m.login.dummy
 * user-interactive stage: the first request is answered 401 with a session,
 * the second completes the stage with it. Names are unique to the run.
 */
export class RegisteringUsers implements UserSource {
  private seq = 0;
  constructor(
    private readonly client: HttpClient,
    private readonly base: string,
    private readonly runId: string,
    private readonly redactor: Redactor,
  ) {}

  async acquire(aliases: readonly string[]): Promise<User[]> {
    return Promise.all(aliases.map((alias) => this.register(alias)));
  }

  private async register(alias: string): Promise<User> {
    const username = `cf${this.runId}_${++this.seq}_${alias}`;
    const password = randomBytes(12).toString('base64url');
    this.redactor.add(password, '$PASSWORD');
    const url = `${this.base}/_matrix/client/v3/register`;
    const post = (body: unknown) => sendWithRetry(this.client, { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const fail = (why: string): never => {
      throw new TargetError('ERR_TARGET_USERS', `cannot register users on the target: ${why}`);
    };
    const first = await post({ username, password, inhibit_login: false });
    let answer = parse(first.res.text);
    if (first.res.status === 401) {
      const flows = (answer.flows ?? []).map((f) => (Array.isArray(f.stages) ? f.stages.join(' → ') : '?'));
      const dummy = (answer.flows ?? []).some((f) => Array.isArray(f.stages) && f.stages.length === 1 && f.stages[0] === 'm.login.dummy');
      if (!dummy) fail(`registration needs other stages (${flows.join(' | ') || 'none offered'}), not m.login.dummy`);
      if (typeof answer.session !== 'string') fail('the 401 answer to POST /register has no session');
      const second = await post({ username, password, inhibit_login: false, auth: { type: 'm.login.dummy', session: answer.session } });
      answer = parse(second.res.text);
      if (second.res.status !== 200) fail(`POST /register with m.login.dummy answered ${second.res.status} ${String(answer.errcode ?? '')} ${String(answer.error ?? '')}`.trim());
    } else if (first.res.status !== 200) {
      fail(`POST /register answered ${first.res.status} ${String(answer.errcode ?? '')} ${String(answer.error ?? '')}`.trim());
    }
    if (typeof answer.access_token !== 'string' || typeof answer.user_id !== 'string') fail('POST /register succeeded without user_id and access_token');
    const accessToken = answer.access_token as string;
    this.redactor.add(accessToken, tokenPlaceholder(alias));
    return { alias, userId: answer.user_id as string, accessToken };
  }
}
