import { Agent, errors as undiciErrors, request } from 'undici';

/**
 * The only user of undici. One Agent per run; every request has a deadline
 * covering connect, headers and the whole body, and bodies are read up to a
 * cap and then abandoned, so no target can hang or flood the runner.
 */

export interface HttpOptions {
  /** Per-request deadline in ms (connect + headers + body). */
  timeoutMs: number;
  /** Bytes of response body kept; the rest is abandoned. */
  maxBodyBytes: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Text, or bytes for bodies that are not valid UTF-8 on purpose. */
  body?: string | Uint8Array;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text (UTF-8), cut at maxBodyBytes. */
  text: string;
  truncated: boolean;
  durationMs: number;
}

export type TransportErrorCode = 'ERR_HTTP_TIMEOUT' | 'ERR_HTTP_CONNECT' | 'ERR_HTTP_RESET' | 'ERR_HTTP_PROTOCOL' | 'ERR_HTTP_CLOSED';

/** The target did not produce a usable HTTP exchange. Never a conformance verdict by itself. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

export class HttpClient {
  readonly options: HttpOptions;
  private readonly agent: Agent;

  constructor(options: HttpOptions) {
    this.options = options;
    this.agent = new Agent({
      connectTimeout: options.timeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 64,
    });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let res;
    try {
      res = await request(req.url, {
        method: req.method as 'GET',
        headers: req.headers,
        body: req.body,
        dispatcher: this.agent,
        signal,
      });
    } catch (err) {
      throw classify(err, this.options.timeoutMs);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const room = this.options.maxBodyBytes - size;
        // Only a byte past the cap makes a body too large: one of exactly the cap is whole.
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size += room;
          truncated = true;
          break;
        }
        chunks.push(chunk);
        size += chunk.length;
      }
    } catch (err) {
      res.body.destroy();
      throw classify(err, this.options.timeoutMs);
    }
    // Leaving the loop early does not consume the rest: destroy frees the socket.
    if (truncated) res.body.destroy();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    return { status: res.statusCode, headers, text: Buffer.concat(chunks).toString('utf8'), truncated, durationMs: performance.now() - started };
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

function classify(err: unknown, timeoutMs: number): TransportError {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return new TransportError('ERR_HTTP_TIMEOUT', `no complete answer within ${timeoutMs} ms`);
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(code)) {
    return new TransportError('ERR_HTTP_CONNECT', `cannot connect (${code})`);
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || err instanceof undiciErrors.SocketError) {
    return new TransportError('ERR_HTTP_RESET', 'the connection was closed before a complete answer');
  }
  return new TransportError('ERR_HTTP_PROTOCOL', `invalid HTTP exchange: ${e.message ?? String(err)}`);
}
