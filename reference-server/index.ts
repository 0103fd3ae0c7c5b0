/**
 * The reference server's public entry: the only module imported from outside
 * reference-server/ (by the CLI's `serve` command and its embedded default run).
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors, buildApp, createApp, type AppOptions } from './app.js';
import { checkCap } from './limits.js';

export { createApp };
export { DEFAULT_DELIVERY_LIMITS, DEFAULT_LIMITS, DEFAULT_ROOM_LIMITS } from './app.js';
export type { AppOptions } from './app.js';

/**
 * createApp's options (the caps on users, sessions and pushers, and the body read
 * cap), and how connections are kept. The connection settings bound what a client
 * can hold without sending a request, or while sending one slowly, or while not
 * reading an answer: at most maxConnections connections, each holding at most the
 * header limit, the body read cap and one answer, and none of them for long.
 */
export interface ReferenceServerOptions extends AppOptions {
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * Open connections at once; the server drops (closes at once) those past it.
   * Default 256: the runner opens at most 64, so four full-speed runs fit at once.
   */
  maxConnections?: number;
  /**
   * Request line and headers, in bytes (node:http's maxHeaderSize); larger ones get
   * 431 M_TOO_LARGE. Default 16 KiB, node's own default, named here so it is fixed.
   */
  maxHeaderBytes?: number;
  /**
   * Time to receive the request line and headers; then 408 and close. A connection
   * that sends nothing at all is closed after it too. Default 10 s.
   */
  headersTimeoutMs?: number;
  /** Time to receive the whole request, body included; then 408. At least headersTimeoutMs. Default 30 s. */
  requestTimeoutMs?: number;
  /** How long a connection may stay open idle between requests (node adds 1 s). Default 5 s. */
  keepAliveTimeoutMs?: number;
  /**
   * How long a connection may make no progress at all, e.g. a client that does not
   * read its answer, before it is closed and the answer dropped. Default 30 s.
   */
  idleTimeoutMs?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Resolves once no notification waits, is being sent or waits to be tried again (nothing more will reach a gateway unasked). */
  pushIdle(): Promise<void>;
  close(): Promise<void>;
}

/** How long close() lets in-flight requests finish before cutting their connections. */
const CLOSE_GRACE_MS = 1000;

/** The connection-level defaults, justified on ReferenceServerOptions. */
export const DEFAULT_CONNECTION_LIMITS = Object.freeze({
  maxConnections: 256,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
});

export async function createServer(options: ReferenceServerOptions = {}): Promise<RunningServer> {
  // What is not about listening or connections goes to createApp.
  const { port = 0, host = '127.0.0.1', maxConnections, maxHeaderBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, idleTimeoutMs, ...appOptions } = {
    ...DEFAULT_CONNECTION_LIMITS,
    ...definedOnly(options),
  };
  for (const [name, value] of Object.entries({ maxHeaderBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, idleTimeoutMs })) {
    if (value === Infinity) throw new RangeError(`reference server: ${name} must be finite`);
    checkCap(name, value);
  }
  checkCap('maxConnections', maxConnections);
  if (headersTimeoutMs > requestTimeoutMs) throw new RangeError('reference server: headersTimeoutMs must not exceed requestTimeoutMs');

  const app = buildApp(appOptions);
  const server = createHttpServer(
    {
      maxHeaderSize: maxHeaderBytes,
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // node checks the two timeouts above only this often (30 s by default), so a
      // slow client could otherwise hold its connection well past them.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    },
    app.listener,
  );
  // Inactivity on a socket, in either direction: covers answers the client never reads.
  server.timeout = idleTimeoutMs;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  if (maxConnections !== Infinity) server.maxConnections = maxConnections;
  answerClientErrors(server);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    app.close();
    throw error;
  }
  // Once listening, a server-level error must not become an uncaught exception.
  server.on('error', (error) => options.log?.(`server error: ${error.message}`));
  server.on('drop', () => options.log?.(`connection dropped: ${maxConnections} connections already open (maxConnections)`));
  const actualPort = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${actualPort}`,
    port: actualPort,
    pushIdle: () => app.pushIdle(),
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Nothing more goes to push gateways once the server stops taking requests.
        app.close();
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      });
      return closing;
    },
  };
}

/** Leaves out keys given as undefined, so that they fall back to their default. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** A host as it appears in a URL: wildcard addresses are reached through loopback, IPv6 in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
