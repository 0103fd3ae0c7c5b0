import type { IncomingMessage } from 'node:http';
import { isJsonObject, unstorableReason, type Json, type JsonObject } from './json.js';
import { matrixError, type HandlerResult } from './result.js';

export type BodyResult = { ok: true; value: JsonObject } | { ok: false; error: HandlerResult } | { ok: false; aborted: true };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the body up to `maxBytes` and parses it as a JSON object. The
 * content-type is not checked: clients send JSON with all sorts of them, and
 * the content decides. With `emptyIsObject`, a body of no bytes at all is `{}`.
 */
export async function readJsonObject(req: IncomingMessage, maxBytes: number, emptyIsObject = false): Promise<BodyResult> {
  const raw = await readCapped(req, maxBytes);
  if (raw === 'aborted') return { ok: false, aborted: true };
  if (raw === 'too-large') {
    return { ok: false, error: matrixError(413, 'M_TOO_LARGE', `request body is larger than ${maxBytes} bytes`) };
  }
  if (emptyIsObject && raw.length === 0) return { ok: true, value: {} };
  return parseJsonObject(raw);
}

export function parseJsonObject(raw: Buffer): { ok: true; value: JsonObject } | { ok: false; error: HandlerResult } {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, error: matrixError(400, 'M_NOT_JSON', 'request body is not valid UTF-8') };
  }
  let value: Json;
  try {
    // JSON.parse yields exactly the Json union; "__proto__" keys become plain own properties.
    value = JSON.parse(text) as Json;
  } catch (error) {
    const detail = error instanceof Error ? `: ${error.message}` : '';
    return { ok: false, error: matrixError(400, 'M_NOT_JSON', `request body is not valid JSON${detail}`) };
  }
  if (!isJsonObject(value)) {
    return { ok: false, error: matrixError(400, 'M_BAD_JSON', `request body must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`) };
  }
  const problem = unstorableReason(value);
  if (problem !== undefined) return { ok: false, error: matrixError(400, 'M_BAD_JSON', problem) };
  return { ok: true, value };
}

/**
 * Collects at most `maxBytes`. Past the cap it stops buffering and lets the rest
 * drain unread, so the client still receives the 413 rather than a reset.
 */
function readCapped(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'too-large' | 'aborted'): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        finish('too-large');
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks, size));
    // 'close' before 'end' means the client went away mid-body.
    const onClose = (): void => finish('aborted');
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
