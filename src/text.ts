/**
 * Text that came from the target is untrusted: it may hold escape sequences
 * that clear a terminal, forge lines or set its title. Everything shown is
 * passed through these before it is written.
 */

/**
 * Escapes C0 and C1 control characters (and DEL, and lone surrogates) as
 * \xHH / \uHHHH, keeping tab and, when `keepNewlines`, line feeds. Backslashes
 * are left alone: the output is for reading, not for parsing back.
 */
export function escapeForTerminal(s: string, keepNewlines = false): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i] + (s[i + 1] as string);
        i++;
        continue;
      }
    }
    if ((c === 0x0a && keepNewlines) || c === 0x09) out += s[i];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if ((c >= 0x80 && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff) || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return out;
}

/**
 * Cuts a string to at most `max` UTF-8 bytes at a code-point boundary (never
 * inside a surrogate pair or a multi-byte character).
 */
export function cutText(s: string, max: number): { text: string; cut: boolean } {
  if (s.length <= max / 3 || Buffer.byteLength(s, 'utf8') <= max) return { text: s, cut: false };
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.codePointAt(i) as number;
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (bytes + size > max) break;
    bytes += size;
    i += c >= 0x10000 ? 2 : 1;
  }
  return { text: s.slice(0, i), cut: true };
}

/**
 * Cuts a string to at most `max` UTF-16 code units, one fewer when the cut
 * would fall between the two halves of a surrogate pair.
 */
export function cutUnits(s: string, max: number): { text: string; cut: boolean } {
  if (s.length <= max) return { text: s, cut: false };
  let end = Math.max(0, max);
  const before = s.charCodeAt(end - 1);
  const after = s.charCodeAt(end);
  if (before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff) end--;
  return { text: s.slice(0, end), cut: true };
}

/** Text for XML 1.0 (element content or attribute): markup escaped, characters XML cannot hold replaced by their \u escape. */
export function escapeXml(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i] + (s[i + 1] as string);
        i++;
        continue;
      }
    }
    const ch = s[i] as string;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (c === 0x09 || c === 0x0a) out += ch;
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return escapeXml(s);
}

/** One line of text for a terminal: every control character escaped, newlines included. */
export function oneLine(s: string, max = 500): string {
  return escapeForTerminal(cutText(s, max).text);
}

/**
 * A JSON value as short text for a message, well-formed however short:
 * members and items that do not fit are left out as a whole (shown as "…"
 * inside their object or array), a long string is shortened inside its
 * quotes, and no key, operator or escape is ever cut in two. `max` counts
 * UTF-16 code units, roughly.
 */
export function shortJson(v: unknown, max = 200): string {
  try {
    return compact(v, Math.max(8, max), 0);
  } catch {
    // An object no JSON can render (a cycle), or one too deep for the stack.
    return '(a value too deep to show)';
  }
}

const ELLIPSIS = '…';

function compact(v: unknown, room: number, depth: number): string {
  if (typeof v === 'string') {
    const whole = JSON.stringify(v);
    if (whole.length <= room) return whole;
    // Shortened inside the quotes, at a character boundary; the escapes are made after the cut, so none is split.
    let keep = Math.max(0, room - 3);
    let text = JSON.stringify(cutUnits(v, keep).text);
    while (text.length + 2 > room && keep > 0) text = JSON.stringify(cutUnits(v, (keep = Math.floor(keep * 0.8))).text);
    return `${text.slice(0, -1)}${ELLIPSIS}"`;
  }
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? String(v);
  if (depth > 32) return Array.isArray(v) ? `[${ELLIPSIS}]` : `{${ELLIPSIS}}`;
  const array = Array.isArray(v);
  const entries: Array<[string, unknown]> = array ? (v as unknown[]).map((x) => ['', x]) : Object.entries(v as Record<string, unknown>);
  const [open, close] = array ? ['[', ']'] : ['{', '}'];
  let out = open;
  for (const [n, [k, x]] of entries.entries()) {
    const sep = n === 0 ? '' : ',';
    const key = array ? '' : `${JSON.stringify(k)}:`;
    // What must still fit after this member: the closing bracket, and "…" when members follow.
    const tail = close.length + (n < entries.length - 1 ? sep.length + 1 + ELLIPSIS.length : 0);
    const left = room - out.length - sep.length - key.length - tail;
    if (left < 4) return `${out}${sep}${ELLIPSIS}${close}`;
    const shown = compact(x, left, depth + 1);
    if (shown.length > left) return `${out}${sep}${ELLIPSIS}${close}`;
    out += sep + key + shown;
  }
  return out + close;
}

/**
 * Cuts a message to about `max` UTF-8 bytes where the cut breaks no JSON
 * value it quotes: at a space outside any quoted string, object or array,
 * and marks the cut with "…". A message without such a place is cut at a
 * character boundary.
 */
export function cutMessage(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  const head = cutText(s, max - 4).text;
  let depth = 0;
  let inString = false;
  let best = -1;
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && depth > 0) depth--;
    else if (c === ' ' && depth === 0) best = i;
  }
  return `${best > 0 ? head.slice(0, best) : head} …`;
}
