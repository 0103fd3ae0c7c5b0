/**
 * Keeps secrets out of every report, log line and reproduction command: every
 * access token, password and registration token the run handles is registered
 * here, and every string that leaves the runner goes through apply().
 *
 * A target may echo a secret back in another form than it was sent: JSON
 * escapes (`\u0073yt_…`, `\/`), percent-encoding (`%73yt_…`, in a URL or a
 * form), or base64. Each secret is matched in all those forms, mixed freely
 * character by character, and in base64 and base64url as a whole.
 */
export class Redactor {
  private readonly secrets = new Map<string, string>();
  private pattern: RegExp | undefined;
  private readonly whole = new Map<string, string>();

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret === '' || this.secrets.has(secret)) return;
    this.secrets.set(secret, placeholder);
    this.pattern = undefined;
    if (secret.length >= 4) {
      const bytes = Buffer.from(secret, 'utf8');
      for (const form of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, '')]) if (form.length >= 6) this.whole.set(form, placeholder);
    }
  }

  /** The placeholder of a registered secret, found by exact value (for header values, however short the secret). */
  placeholderFor(secret: string): string | undefined {
    return this.secrets.get(secret);
  }

  /** One alternation per character: the character itself, its JSON \u escape, its percent-encoding, `\/` for a slash. */
  private static charForms(c: string): string {
    const forms = [c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')];
    const code = c.codePointAt(0) as number;
    const hexCase = (h: string): string => h.replace(/[a-f]/gi, (d) => `[${d.toLowerCase()}${d.toUpperCase()}]`);
    if (code < 0x10000) forms.push(`\\\\u${hexCase(code.toString(16).padStart(4, '0'))}`);
    for (const b of Buffer.from(c, 'utf8')) forms.push(`%${hexCase(b.toString(16).padStart(2, '0'))}`);
    if (c === '/') forms.push('\\\\/');
    if (c === ' ') forms.push('\\+');
    return `(?:${forms.join('|')})`;
  }

  private compiled(): RegExp | undefined {
    if (this.pattern) return this.pattern;
    // Longest first, so a secret that contains another is replaced whole.
    const long = [...this.secrets.keys()].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
    if (long.length === 0) return undefined;
    this.pattern = new RegExp(long.map((s) => [...s].map(Redactor.charForms).join('')).join('|'), 'g');
    return this.pattern;
  }

  /** The placeholder for a match of the pattern: decode the match and look the secret up. */
  private placeholderOf(matched: string): string {
    const decoded = matched
      .replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\\//g, '/')
      .replace(/((?:%[0-9a-fA-F]{2})+)/g, (m) => {
        try {
          return decodeURIComponent(m);
        } catch {
          return m;
        }
      });
    return this.secrets.get(decoded) ?? this.secrets.get(decoded.replace(/\+/g, ' ')) ?? '$SECRET';
  }

  apply(text: string): string {
    let out = text;
    // Very short secrets would match ordinary text; they are caught by exact value where they travel (headers).
    for (const [secret, placeholder] of this.secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(placeholder);
    if (/\\|%|\+/.test(out)) {
      const re = this.compiled();
      if (re) out = out.replace(re, (m) => this.placeholderOf(m));
    }
    for (const [form, placeholder] of this.whole) if (out.includes(form)) out = out.split(form).join(placeholder);
    return out;
  }
}
