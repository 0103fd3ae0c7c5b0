/**
 * One POST of a notification to a push gateway, over HTTPS only, with a
 * deadline on the whole exchange and a cap on the answer read.
 */
import { Agent, request } from 'node:https';
import { HOST_NOT_ALLOWED, loopbackOnlyLookup } from './hosts.js';

export type PostOutcome =
  /** 2xx: delivered; `rejected` is the pushkeys the gateway named in its answer. */
  | { kind: 'delivered'; status: number; rejected: readonly string[] }
  /** Worth sending again: a 5xx or 429, no answer in time, or the connection failed. */
  | { kind: 'retry'; reason: string }
  /** Sending again would not help: another status, or a host the policy refuses once resolved. */
  | { kind: 'failed'; reason: string };

export interface PostOptions {
  readonly agent: Agent;
  readonly tlsVerify: boolean;
  /** From connecting to the end of the answer. */
  readonly timeoutMs: number;
  /** The most of the answer read; a longer one is cut there and counts as delivered with nothing rejected. */
  readonly maxResponseBytes: number;
  /** Resolve the host name to loopback addresses only (HostPolicy's resolveCheck). */
  readonly loopbackOnly: boolean;
  readonly userAgent: string;
}

export interface Post {
  readonly done: Promise<PostOutcome>;
  /** Gives up at once (the server is closing); `done` then settles as a retry that no one takes. */
  abort(): void;
}

export function postNotification(url: URL, body: string, options: PostOptions): Post {
  let abort = (): void => undefined;
  const done = new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request(
        url,
        {
          method: 'POST',
          agent: options.agent,
          rejectUnauthorized: options.tlsVerify,
          ...(options.loopbackOnly ? { lookup: loopbackOnlyLookup } : {}),
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body, 'utf8'), 'User-Agent': options.userAgent },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          let cut = false;
          res.on('data', (chunk: Buffer) => {
            if (cut) return;
            size += chunk.length;
            if (size > options.maxResponseBytes) {
              cut = true;
              // The notification reached the gateway; only its answer is too long to read.
              res.destroy();
              finish(status >= 200 && status < 300 ? { kind: 'delivered', status, rejected: [] } : outcomeOf(status, undefined));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (error) => finish({ kind: 'retry', reason: `the answer broke off: ${error.message}` }));
          res.on('aborted', () => finish({ kind: 'retry', reason: 'the answer broke off' }));
          res.on('end', () => finish(outcomeOf(status, Buffer.concat(chunks, size))));
        },
      );
    } catch (error) {
      // Only a URL or header node refuses outright gets here; sending again would not help.
      resolve({ kind: 'failed', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    const timer = setTimeout(() => {
      finish({ kind: 'retry', reason: `no complete answer within ${options.timeoutMs} ms` });
      req.destroy();
    }, options.timeoutMs);
    timer.unref();
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === HOST_NOT_ALLOWED) finish({ kind: 'failed', reason: error.message });
      else finish({ kind: 'retry', reason: `${error.code ?? 'error'}: ${error.message}` });
    });
    abort = () => {
      finish({ kind: 'retry', reason: 'aborted' });
      req.destroy();
    };
    req.end(body);
  });
  return { done, abort: () => abort() };
}

function outcomeOf(status: number, raw: Buffer | undefined): PostOutcome {
  if (status >= 200 && status < 300) return { kind: 'delivered', status, rejected: raw === undefined ? [] : rejectedOf(raw) };
  if (status >= 500 || status === 429 || status === 408) return { kind: 'retry', reason: `the gateway answered ${status}` };
  return { kind: 'failed', reason: `the gateway answered ${status}` };
}

/** The `rejected` pushkeys of a gateway's answer; anything unreadable rejects nothing. */
function rejectedOf(raw: Buffer): string[] {
  try {
    const answer: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof answer !== 'object' || answer === null) return [];
    const rejected: unknown = (answer as { rejected?: unknown }).rejected;
    return Array.isArray(rejected) ? rejected.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}
