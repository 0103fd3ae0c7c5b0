/**
 * The reference server's public entry: the only module imported from outside
 * reference-server/ (by the CLI's `serve` command and its embedded default run).
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors, createApp, DEFAULT_MAX_BODY_BYTES } from './app.js';

export { createApp };
export type { AppOptions } from './app.js';

export interface ReferenceServerOptions {
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest request body read, in bytes. Default 64 KiB. */
  maxBodyBytes?: number;
  /** The server name in user ids (`@name:<serverName>`). Default "localhost". */
  serverName?: string;
  /** Receives one line per request (method, path without query, status). */
  log?: (line: string) => void;
  /** What GET /_matrix/client/versions advertises (default: every version the suite models). */
  versions?: readonly string[];
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** How long close() lets in-flight requests finish before cutting their connections. */
const CLOSE_GRACE_MS = 1000;

export async function createServer(options: ReferenceServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createHttpServer(
    createApp({ maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, serverName: options.serverName, log: options.log, ...(options.versions ? { versions: options.versions } : {}) }),
  );
  answerClientErrors(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening, a server-level error must not become an uncaught exception.
  server.on('error', (error) => options.log?.(`server error: ${error.message}`));
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      });
      return closing;
    },
  };
}

/** A host as it appears in a URL: wildcard addresses are reached through loopback, IPv6 in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
