/**
 * Keeps secrets out of every report, log line and reproduction command: every
 * access token, password and registration token the run handles is registered
 * here, and every string that leaves the runner goes through apply().
 *
 * A target may echo a secret back in another form than it was sent, and each
 * secret is matched in all of these, mixed freely character by character:
 * JSON escapes (`\u0073yt_…`, surrogate pairs for characters outside the BMP,
 * `\/`, `\"`, `\\`), percent-encoding (once or twice: `%73`, `%2573`), HTML
 * character references (`&#115;`, `&#x73;`), a line break or a space between
 * any two characters, and any letter case. As a whole it is also matched in
 * hex and in base64 and base64url, at each of the three alignments a secret
 * can have inside a longer encoded string.
 *
 * A secret shorter than four characters would match ordinary text: it is
 * replaced only where it stands as a whole word (a JSON string, a query
 * parameter), and by exact value in headers.
 */
import { cutText } from '../text.js';

/** Secrets at least this long are matched anywhere, in every form; shorter ones as whole words only. */
const LONG = 4;
/** Encoded forms shorter than this would match ordinary text. */
const MIN_ENCODED = 6;
/** Room left past a cut so that a secret straddling it is redacted before the cut is made. */
const CUT_MARGIN = 4096;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const hexCase = (h: string): string => h.replace(/[a-f]/gi, (d) => `[${d.toLowerCase()}${d.toUpperCase()}]`);

/** The runs of base64 characters that encode `bytes` whatever the bytes before it: one per alignment. */
function base64Forms(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64').replace(/=+$/, '');
    // Character i holds bits [6i, 6i + 6); keep those made of the secret's bits alone.
    const first = Math.ceil((8 * k) / 6);
    const last = Math.floor((8 * (k + bytes.length)) / 6);
    const core = b64.slice(first, last);
    if (core.length >= MIN_ENCODED) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

export class Redactor {
  private readonly secrets = new Map<string, string>();
  private pattern: RegExp | undefined;
  private shortPattern: RegExp | undefined;
  private readonly whole = new Map<string, string>();

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret === '' || this.secrets.has(secret)) return;
    this.secrets.set(secret, placeholder);
    this.pattern = undefined;
    this.shortPattern = undefined;
    if (secret.length >= LONG) {
      const bytes = Buffer.from(secret, 'utf8');
      for (const form of [...base64Forms(bytes), bytes.toString('hex'), bytes.toString('hex').toUpperCase()]) if (form.length >= MIN_ENCODED) this.whole.set(form, placeholder);
    }
  }

  /** The placeholder of a registered secret, found by exact value (for header values, however short the secret). */
  placeholderFor(secret: string): string | undefined {
    return this.secrets.get(secret);
  }

  /** One alternation per character: the character in either case, and each escape or encoding of it a target may use. */
  private static charForms(c: string): string {
    const forms = new Set<string>([escapeRe(c), escapeRe(c.toLowerCase()), escapeRe(c.toUpperCase())]);
    const code = c.codePointAt(0) as number;
    const u = (n: number): string => `\\\\u${hexCase(n.toString(16).padStart(4, '0'))}`;
    if (code < 0x10000) forms.add(u(code));
    else forms.add(u(0xd800 + ((code - 0x10000) >> 10)) + u(0xdc00 + ((code - 0x10000) & 0x3ff)));
    for (const b of Buffer.from(c, 'utf8')) {
      const h = hexCase(b.toString(16).padStart(2, '0'));
      forms.add(`%${h}`);
      forms.add(`%25${h}`);
    }
    forms.add(`&#0*${code};`);
    forms.add(`&#[xX]0*${hexCase(code.toString(16))};`);
    if (c === '/') forms.add('\\\\/');
    if (c === '"') forms.add('\\\\"');
    if (c === '\\') forms.add('\\\\\\\\');
    if (c === ' ') forms.add('\\+');
    return `(?:${[...forms].join('|')})`;
  }

  private compiled(): RegExp | undefined {
    if (this.pattern) return this.pattern;
    // Longest first, so a secret that contains another is replaced whole.
    const long = [...this.secrets.keys()].filter((s) => s.length >= LONG).sort((a, b) => b.length - a.length);
    if (long.length === 0) return undefined;
    // Between two characters: nothing, or a line break or a space a target may have put there.
    this.pattern = new RegExp(long.map((s) => [...s].map(Redactor.charForms).join('(?:\\r?\\n|[ \\t])?')).join('|'), 'g');
    return this.pattern;
  }

  /** Short secrets, each as a whole word: not inside a longer run of letters and digits. */
  private compiledShort(): RegExp | undefined {
    if (this.shortPattern) return this.shortPattern;
    const short = [...this.secrets.keys()].filter((s) => s.length < LONG).sort((a, b) => b.length - a.length);
    if (short.length === 0) return undefined;
    this.shortPattern = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${short.map(escapeRe).join('|')})(?![\\p{L}\\p{N}_])`, 'gu');
    return this.shortPattern;
  }

  /** The placeholder for a match of the pattern: decode the match and look the secret up. */
  private placeholderOf(matched: string): string {
    const decoded = matched
      .replace(/&#[xX]([0-9a-fA-F]+);|&#(\d+);/g, (_m, hex: string | undefined, dec: string | undefined) => String.fromCodePoint(hex ? parseInt(hex, 16) : Number(dec)))
      .replace(/\\(u[0-9a-fA-F]{4}|["\\/])/g, (_m, e: string) => (e.length === 1 ? e : String.fromCharCode(parseInt(e.slice(1), 16))))
      .replace(/%25([0-9a-fA-F]{2})/g, '%$1')
      .replace(/((?:%[0-9a-fA-F]{2})+)/g, (m) => {
        try {
          return decodeURIComponent(m);
        } catch {
          return m;
        }
      });
    for (const candidate of [decoded, decoded.replace(/\r?\n|[ \t]/g, ''), decoded.replace(/\+/g, ' ')]) {
      const exact = this.secrets.get(candidate);
      if (exact) return exact;
      for (const [secret, placeholder] of this.secrets) if (secret.toLowerCase() === candidate.toLowerCase()) return placeholder;
    }
    return '$SECRET';
  }

  apply(text: string): string {
    let out = text;
    for (const [secret, placeholder] of this.secrets) if (secret.length >= LONG && out.includes(secret)) out = out.split(secret).join(placeholder);
    const re = this.compiled();
    if (re) out = out.replace(re, (m) => this.placeholderOf(m));
    for (const [form, placeholder] of this.whole) if (out.includes(form)) out = out.split(form).join(placeholder);
    const short = this.compiledShort();
    if (short) out = out.replace(short, (m) => this.secrets.get(m) ?? '$SECRET');
    return out;
  }

  /**
   * Redacts, then cuts to `maxBytes` of UTF-8 at a character boundary: a cut
   * made first could leave part of a secret that no longer matches whole.
   */
  applyCut(text: string, maxBytes: number): { text: string; cut: boolean } {
    const head = text.length > maxBytes + CUT_MARGIN ? text.slice(0, maxBytes + CUT_MARGIN) : text;
    const c = cutText(this.apply(head), maxBytes);
    return { text: c.text, cut: c.cut || head.length < text.length };
  }
}
