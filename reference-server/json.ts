/** JSON values as they come out of JSON.parse, and the parsing rules every request body follows. */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/**
 * Deeper bodies are refused: a pusher's `data` is stored and later serialised
 * by JSON.stringify, which recurses and would overflow the stack on a 30 000-level
 * document that still fits in the body cap.
 */
export const MAX_JSON_DEPTH = 64;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON type name of a value, as JSON Schema spells it. */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Why a parsed document cannot be kept, or undefined when it can. Walks with an
 * explicit stack so that the check itself cannot overflow.
 */
export function unstorableReason(root: Json): string | undefined {
  const stack: Array<[Json, number]> = [[root, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value === 'number' && !Number.isFinite(value)) {
      // 1e999 parses to Infinity, which JSON.stringify would turn into null: not "as sent".
      return 'a number is too large to represent';
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_JSON_DEPTH) return `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
    // Object.values includes an own "__proto__" key created by JSON.parse, so it is checked too.
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
  return undefined;
}
