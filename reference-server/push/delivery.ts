/**
 * Push delivery: every event the user's push rules say notifies them (the
 * policy decides, with which tweaks) becomes one notification for each of that
 * user's `http` pushers (in the v1 store and the draft store alike), sent to the
 * pusher's `data.url` after the request that sent the event has been answered.
 *
 * Each pusher has a queue of its own, sent in order, one request at a time. A
 * notification the gateway answers with a 5xx (or 429, 408), that gets no answer
 * in time, or whose connection fails is sent again after 0.5, 1, 2 and 4 s (five
 * tries in all, as the Push Gateway API asks for an exponential back-off); any
 * other answer ends it. When the gateway names the pushkey in `rejected`, the
 * pusher is deleted, as the API says, and nothing more is sent for it. A pusher
 * deleted while notifications wait for it gets none of them.
 *
 * Bounded: at most maxPushQueuePerPusher notifications wait per pusher (then the
 * oldest is dropped), at most maxPushQueueBytes wait in all (then a new one is
 * dropped), at most 16 requests are open at once, each with a 10 s deadline and
 * an answer read up to 64 KiB. Only https URLs are used, and only on the hosts
 * HostPolicy allows (loopback unless pushAllowHosts says otherwise).
 */
import { Agent } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { DeliveryLimits } from '../limits.js';
import type { EventFacts, MessageEvent, Recipient } from '../rooms/routes.js';
import type { PusherKey, PusherRecord, PusherStore } from '../store/types.js';
import { HostPolicy } from './hosts.js';
import { notificationBody } from './notification.js';
import { postNotification, type Post, type PostOutcome } from './request.js';

/** A store whose http pushers are notified; `name` only labels log lines. */
export interface PusherSource {
  readonly name: string;
  readonly store: PusherStore;
}

/** A notification to send: the `tweaks` of its devices, as the JSON text of an object. */
export interface PushDecision {
  readonly tweaks: string;
}

/** Whether an event notifies a user, and how: the user's push rules. */
export interface NotificationPolicy {
  decide(userId: string, event: MessageEvent, facts: EventFacts): PushDecision | undefined;
}

export interface DeliveryOptions {
  readonly sources: readonly PusherSource[];
  readonly policy: NotificationPolicy;
  readonly limits: DeliveryLimits;
  /** Verify gateways' certificates (AppOptions.pushTlsVerify). */
  readonly tlsVerify: boolean;
  /** Hosts allowed besides loopback (AppOptions.pushAllowHosts). */
  readonly allowHosts: readonly string[];
  readonly userAgent: string;
  readonly log: (line: string) => void;
  /** Waits before the second, third, … try; their number + 1 is the most tries. Default 0.5, 1, 2, 4 s. */
  readonly retryDelaysMs?: readonly number[];
  /** Deadline of one request, connection to end of answer. Default 10 s. */
  readonly timeoutMs?: number;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([500, 1000, 2000, 4000]);
export const PUSH_TIMEOUT_MS = 10_000;
export const MAX_GATEWAY_ANSWER_BYTES = 64 * 1024;
export const MAX_OPEN_PUSH_REQUESTS = 16;
/** How long a connection to a gateway is kept idle for the next notification. */
const IDLE_PUSH_SOCKET_MS = 2_000;
/** What a waiting notification costs besides its content: the entry, and the pusher's queue. */
export const PUSH_ENTRY_OVERHEAD_BYTES = 512;

interface Entry {
  readonly event: MessageEvent;
  readonly unread: number;
  readonly tweaks: string;
  readonly cost: number;
  tries: number;
}

interface Queue {
  readonly id: string;
  readonly source: PusherSource;
  readonly key: PusherKey;
  readonly pending: Entry[];
  /** The notification being sent or waiting to be sent again. */
  current: Entry | undefined;
  /**
   * idle: nothing scheduled; ready: to be started on the next turn; waiting: for
   * one of the open-request slots; sending: a request is open; backoff: a retry timer runs.
   */
  state: 'idle' | 'ready' | 'waiting' | 'sending' | 'backoff';
  timer: NodeJS.Timeout | undefined;
  post: Post | undefined;
  dead: boolean;
}

export class PushDelivery {
  readonly #options: DeliveryOptions;
  readonly #policy: HostPolicy;
  readonly #agent: Agent;
  readonly #retryDelays: readonly number[];
  readonly #queues = new Map<string, Queue>();
  readonly #ready = new Set<Queue>();
  readonly #waiting = new Set<Queue>();
  #flushScheduled = false;
  /** What waits for every queue to be done (PushDelivery.idle). */
  readonly #idle: Array<() => void> = [];
  #open = 0;
  #bytes = 0;
  #closed = false;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#policy = new HostPolicy(options.allowHosts);
    this.#retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    // Connections are kept for the next notification, as a homeserver's pool would:
    // a TLS handshake per notification was most of its cost. An idle one is closed
    // after IDLE_PUSH_SOCKET_MS, before a gateway with Node's default keep-alive of
    // 5 s closes it; one the gateway closed anyway fails the send, which is then
    // sent again after the back-off like any failed connection. One TLS context
    // (the system's trusted roots) serves every connection: made per connection,
    // it cost more than the handshake it was for.
    this.#agent = new Agent({
      keepAlive: true,
      timeout: IDLE_PUSH_SOCKET_MS,
      maxSockets: MAX_OPEN_PUSH_REQUESTS,
      maxFreeSockets: MAX_OPEN_PUSH_REQUESTS,
      rejectUnauthorized: options.tlsVerify,
      secureContext: createSecureContext(),
    });
  }

  /**
   * Queues a notification of `event` for every http pusher of every recipient
   * the policy says it notifies. Returns at once. Users without an http pusher
   * are not evaluated: nothing would be sent to them.
   */
  notify(event: MessageEvent, recipients: readonly Recipient[], facts: EventFacts): void {
    if (this.#closed) return;
    for (const { userId, unread } of recipients) {
      const pushers = this.#options.sources.flatMap((source) => source.store.list(userId).filter((record) => record.kind === 'http').map((record) => ({ source, record })));
      if (pushers.length === 0) continue;
      const decision = this.#options.policy.decide(userId, event, facts);
      if (decision === undefined) continue;
      for (const { source, record } of pushers) this.#enqueue(source, record, event, unread, decision.tweaks);
    }
  }

  /**
   * Resolves once no notification waits, is being sent or waits to be tried
   * again: for tests, which then know that nothing more will be sent without
   * sleeping to find out.
   */
  idle(): Promise<void> {
    if (this.#queues.size === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops every timer, cuts open requests and forgets every queue. */
  close(): void {
    this.#closed = true;
    for (const queue of this.#queues.values()) {
      queue.dead = true;
      clearTimeout(queue.timer);
      queue.post?.abort();
    }
    this.#queues.clear();
    this.#ready.clear();
    this.#waiting.clear();
    this.#bytes = 0;
    this.#agent.destroy();
    this.#wakeIdle();
  }

  #wakeIdle(): void {
    if (this.#queues.size > 0 && !this.#closed) return;
    for (const wake of this.#idle.splice(0)) wake();
  }

  #enqueue(source: PusherSource, record: PusherRecord, event: MessageEvent, unread: number, tweaks: string): void {
    const { limits, log } = this.#options;
    const cost = event.contentBytes + tweaks.length + PUSH_ENTRY_OVERHEAD_BYTES;
    if (this.#bytes + cost > limits.maxPushQueueBytes) {
      log(`push: dropped a notification of ${event.eventId}: ${this.#bytes} bytes already wait (maxPushQueueBytes)`);
      return;
    }
    const id = JSON.stringify([source.name, record.userId, record.appId, record.pushkey]);
    let queue = this.#queues.get(id);
    if (queue === undefined) {
      queue = { id, source, key: { userId: record.userId, appId: record.appId, pushkey: record.pushkey }, pending: [], current: undefined, state: 'idle', timer: undefined, post: undefined, dead: false };
      this.#queues.set(id, queue);
    }
    if (queue.pending.length >= limits.maxPushQueuePerPusher) {
      const oldest = queue.pending.shift();
      if (oldest !== undefined) {
        this.#bytes -= oldest.cost;
        log(`push: dropped the notification of ${oldest.event.eventId}: ${limits.maxPushQueuePerPusher} newer ones wait for the same pusher (maxPushQueuePerPusher)`);
      }
    }
    queue.pending.push({ event, unread, tweaks, cost, tries: 0 });
    this.#bytes += cost;
    if (queue.state === 'idle') this.#schedule(queue);
  }

  /** Starts the queue on the next turn of the event loop, after the answer to the request that queued it. */
  #schedule(queue: Queue): void {
    queue.state = 'ready';
    this.#ready.add(queue);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const ready = [...this.#ready];
      this.#ready.clear();
      for (const q of ready) this.#next(q);
    }).unref();
  }

  /** Sends the queue's next notification, or waits for a slot, or retires the empty queue. */
  #next(queue: Queue): void {
    if (this.#closed || queue.dead) return;
    queue.current ??= queue.pending.shift();
    if (queue.current === undefined) {
      queue.state = 'idle';
      this.#queues.delete(queue.id);
      queue.dead = true;
      this.#wakeIdle();
      return;
    }
    if (this.#open >= MAX_OPEN_PUSH_REQUESTS) {
      queue.state = 'waiting';
      this.#waiting.add(queue);
      return;
    }
    this.#send(queue, queue.current);
  }

  #send(queue: Queue, entry: Entry): void {
    const { log } = this.#options;
    // Read afresh: a pusher deleted (or rejected) since the notification was queued gets nothing.
    const record = queue.source.store.get(queue.key);
    if (record === undefined || record.kind !== 'http') return this.#drop(queue);
    const built = notificationBody(record, entry.event, entry.unread, entry.tweaks);
    const target = built.ok ? this.#target(built.url) : built;
    if (!built.ok || !target.ok) {
      // The same for every notification of the pusher: none of them can be sent.
      log(`push: not sending to a ${queue.source.name} pusher of ${queue.key.userId}: ${target.ok ? 'unusable' : target.problem}`);
      return this.#drop(queue);
    }
    queue.state = 'sending';
    this.#open += 1;
    entry.tries += 1;
    const { url, loopbackOnly } = target;
    const post = postNotification(url, built.body, {
      agent: this.#agent,
      tlsVerify: this.#options.tlsVerify,
      timeoutMs: this.#options.timeoutMs ?? PUSH_TIMEOUT_MS,
      maxResponseBytes: MAX_GATEWAY_ANSWER_BYTES,
      loopbackOnly,
      userAgent: this.#options.userAgent,
    });
    queue.post = post;
    const origin = url.origin;
    void post.done.then((outcome) => this.#settle(queue, entry, record, origin, outcome));
  }

  /** Where a pusher's notifications go, or why they cannot be sent. */
  #target(rawUrl: string): { ok: true; url: URL; loopbackOnly: boolean } | { ok: false; problem: string } {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return { ok: false, problem: 'data.url is not a URL' };
    }
    if (url.protocol !== 'https:') return { ok: false, problem: 'data.url is not https (this server never sends notifications in plain text)' };
    const verdict = this.#policy.check(url.hostname);
    if (!verdict.allowed) return { ok: false, problem: verdict.reason };
    return { ok: true, url, loopbackOnly: verdict.resolveCheck };
  }

  #settle(queue: Queue, entry: Entry, record: PusherRecord, origin: string, outcome: PostOutcome): void {
    this.#open -= 1;
    queue.post = undefined;
    queue.state = 'idle';
    this.#wakeWaiting();
    if (this.#closed || queue.dead) return;
    const { log } = this.#options;
    if (outcome.kind === 'delivered') {
      log(`push: ${origin} answered ${outcome.status} for ${entry.event.eventId}`);
      if (outcome.rejected.includes(record.pushkey)) {
        // "must cease sending notification requests" for it "and remove the associated pushers".
        queue.source.store.delete(queue.key);
        log(`push: the gateway rejected a pushkey of ${queue.key.userId}; its ${queue.source.name} pusher is deleted`);
        return this.#drop(queue);
      }
      this.#done(queue);
      return this.#next(queue);
    }
    if (outcome.kind === 'retry' && entry.tries <= this.#retryDelays.length) {
      const delay = this.#retryDelays[entry.tries - 1] ?? 0;
      log(`push: ${origin}: ${outcome.reason}; try ${entry.tries + 1} in ${delay} ms`);
      queue.state = 'backoff';
      queue.timer = setTimeout(() => {
        queue.timer = undefined;
        queue.state = 'idle';
        this.#next(queue);
      }, delay);
      queue.timer.unref();
      return;
    }
    log(`push: ${origin}: ${outcome.reason}; gave up on ${entry.event.eventId} after ${entry.tries} ${entry.tries === 1 ? 'try' : 'tries'}`);
    this.#done(queue);
    this.#next(queue);
  }

  /** The current notification is over, delivered or not. */
  #done(queue: Queue): void {
    if (queue.current !== undefined) this.#bytes -= queue.current.cost;
    queue.current = undefined;
  }

  /** Forgets the queue and everything in it. */
  #drop(queue: Queue): void {
    this.#done(queue);
    for (const entry of queue.pending.splice(0)) this.#bytes -= entry.cost;
    clearTimeout(queue.timer);
    queue.timer = undefined;
    queue.state = 'idle';
    queue.dead = true;
    this.#ready.delete(queue);
    this.#waiting.delete(queue);
    if (this.#queues.get(queue.id) === queue) this.#queues.delete(queue.id);
    this.#wakeIdle();
  }

  #wakeWaiting(): void {
    while (this.#open < MAX_OPEN_PUSH_REQUESTS && this.#waiting.size > 0) {
      const first = this.#waiting.values().next();
      if (first.done === true) return;
      this.#waiting.delete(first.value);
      first.value.state = 'idle';
      this.#next(first.value);
    }
  }
}
