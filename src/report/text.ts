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
