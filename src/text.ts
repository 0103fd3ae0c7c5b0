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

/** A JSON value as short text for a message (never raw control characters). */
export function shortJson(v: unknown, max = 200): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? typeof v;
  } catch {
    // Too deep to write, or an object no JSON or String() can render.
    s = '(a value too deep to show)';
  }
  return cutText(s, max).text + (Buffer.byteLength(s) > max ? '…' : '');
}
