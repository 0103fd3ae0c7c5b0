/**
 * Text that came from the target is untrusted: it may hold escape sequences
 * that clear a terminal, forge lines or set its title. Everything shown is
 * passed through these before it is written.
 */

/**
 * Characters no output shows as they are: C0 and C1 controls, DEL, lone
 * surrogates, the Unicode line and paragraph separators, and the format
 * characters (category Cf: bidi overrides and isolates, zero-width spaces and
 * joiners, the byte order mark, …), which reorder or hide the text around
 * them. With the u flag a surrogate range matches lone surrogates only.
 */
const UNSHOWN = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\p{Cf}]/gu;

/** The escape of one character: \xHH for C0 and DEL, \uHHHH above, \u{HHHHH} outside the BMP. */
export function charEscape(c: string): string {
  const code = c.codePointAt(0) as number;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Escapes every character of UNSHOWN (keeping tab and, when `keepNewlines`,
 * line feeds). Backslashes are left alone: the output is for reading, not for
 * parsing back.
 */
export function escapeForTerminal(s: string, keepNewlines = false): string {
  return s.replace(UNSHOWN, (c) => (keepNewlines && c === '\n' ? c : charEscape(c)));
}

/** What JSON.stringify writes as it is but no reader should see raw: DEL, C1 controls, U+2028/U+2029 and format characters. */
const JSON_UNSHOWN = /[\u007f-\u009f\u2028\u2029\p{Cf}]/gu;

/**
 * JSON text with every JSON_UNSHOWN character written as \u escapes (a
 * surrogate pair as two). Outside strings JSON text is ASCII, so each
 * replacement is inside a string and means the same.
 */
export function jsonEscapeUnshown(json: string): string {
  return json.replace(JSON_UNSHOWN, (c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''));
}

/** Whether a character is a format character (category Cf): shown escaped, and removed before secrets are matched. */
export const FORMAT_CHARACTERS = /\p{Cf}/gu;

/**
 * A copy of a part of a string that keeps no reference to the whole: V8
 * makes a slice of a long string point into it, so a 64 KiB cut of a 1 MB
 * answer kept in a report would keep the whole megabyte alive (68 of them
 * did, in a run against a target answering 1 MB arrays).
 */
function detached(part: string): string {
  return part.length < 32 ? part : (JSON.parse(JSON.stringify(part)) as string);
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
  return { text: detached(s.slice(0, i)), cut: true };
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
  return { text: detached(s.slice(0, end)), cut: true };
}

/** What XML escapes as references, and the characters it shows as escapes: UNSHOWN, CR, and U+FFFE/U+FFFF, which XML cannot hold. */
const XML_SPECIAL = /[&<>"'\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff\p{Cf}]/gu;
const XML_REFERENCES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text for XML 1.0 (element content or attribute): markup escaped, characters XML cannot hold or no reader should see raw shown as escapes. */
export function escapeXml(s: string): string {
  return s.replace(XML_SPECIAL, (c) => XML_REFERENCES[c] ?? (c.length === 1 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : charEscape(c)));
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return escapeXml(s);
}

/** One line of text for a terminal: every control character escaped, newlines included. */
export function oneLine(s: string, max = 500): string {
  return escapeForTerminal(cutText(s, max).text);
}

/** What jsonText wrote of a value. */
export interface JsonText {
  /** The JSON text, whole or its first `max` characters. */
  text: string;
  cut: boolean;
  /** The UTF-8 size of the whole text. */
  bytes: number;
  /** How deeply arrays and objects nest in the value. */
  depth: number;
}

type Frame = { array?: readonly unknown[]; object?: Record<string, unknown>; keys?: string[]; i: number };

/** A primitive as JSON.stringify writes it (undefined, functions and symbols as null, as in an array). */
function primitiveJson(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return 'null';
}

/**
 * A JSON value as JSON text, keeping at most `max` characters of it. Unlike
 * JSON.stringify it never recurses, so a value nested 100 000 deep (a target
 * can send one) is written, measured and cut like any other; and it builds
 * no text past the cut. Plain JSON data only: undefined members are left
 * out, as JSON.stringify does.
 */
export function jsonText(value: unknown, max = Infinity): JsonText {
  if (value === undefined) return { text: '', cut: false, bytes: 0, depth: 0 };
  const parts: string[] = [];
  let kept = 0;
  let bytes = 0;
  let depth = 0;
  let cut = false;
  const put = (s: string, ascii: boolean): void => {
    bytes += ascii ? s.length : Buffer.byteLength(s);
    if (kept + s.length > max) cut = true;
    if (kept >= max) return;
    parts.push(cut ? s.slice(0, max - kept) : s);
    kept = Math.min(max, kept + s.length);
  };
  const stack: Frame[] = [];
  const open = (v: unknown): void => {
    if (Array.isArray(v)) {
      put('[', true);
      stack.push({ array: v, i: 0 });
    } else if (typeof v === 'object' && v !== null) {
      put('{', true);
      const object = v as Record<string, unknown>;
      stack.push({ object, keys: Object.keys(object).filter((k) => object[k] !== undefined && typeof object[k] !== 'function'), i: 0 });
    } else put(primitiveJson(v), typeof v !== 'string');
    depth = Math.max(depth, stack.length);
  };
  open(value);
  while (stack.length) {
    const top = stack[stack.length - 1] as Frame;
    const size = top.array ? top.array.length : (top.keys as string[]).length;
    if (top.i >= size) {
      put(top.array ? ']' : '}', true);
      stack.pop();
      continue;
    }
    const at = top.i++;
    if (at > 0) put(',', true);
    if (top.array) open(top.array[at]);
    else {
      const key = (top.keys as string[])[at] as string;
      put(`${JSON.stringify(key)}:`, false);
      open((top.object as Record<string, unknown>)[key]);
    }
  }
  let text = parts.join('');
  // A cut may have split a surrogate pair: its first half goes too.
  const last = text.charCodeAt(text.length - 1);
  if (cut && last >= 0xd800 && last <= 0xdbff) text = text.slice(0, -1);
  return { text: cut ? detached(text) : text, cut, bytes, depth };
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
