/** Reading JSON a target sent: how deep it nests, and whether it parses. */

/**
 * Deeper JSON than any answer of the API needs. Past it, checks and reports
 * (which walk values recursively) could overflow the stack on what a target
 * sent, so such a body is an error, not something to judge.
 */
export const MAX_JSON_DEPTH = 256;

/** How deeply arrays and objects nest in a JSON text (brackets inside strings do not count). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export function parseJson(text: string): { json: unknown; isJson: boolean } {
  if (text.trim() === '') return { json: undefined, isJson: false };
  try {
    return { json: JSON.parse(text) as unknown, isJson: true };
  } catch {
    return { json: undefined, isJson: false };
  }
}


/**
 * The text with what `replace` says put in place of the tokens outside JSON
 * strings: at each such position it returns the replacement and how many
 * characters it stands for, or undefined to keep the character. Reads at
 * most `limit` characters (the rest is dropped).
 */
export function replaceOutsideStrings(text: string, replace: (rest: string) => { out: string; length: number } | undefined, limit = text.length): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length && i < limit; i++) {
    const c = text[i] as string;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const r = c === '"' ? undefined : replace(text.slice(i, i + 16));
    if (r) {
      out += r.out;
      i += r.length - 1;
    } else out += c;
  }
  return out;
}
