/**
 * Keeps secrets out of every report, log line and reproduction command: every
 * access token, password and registration token the run handles is registered
 * here, and every string that leaves the runner goes through apply().
 *
 * A target may echo a secret back in another form than it was sent, and each
 * secret is matched in all of these, mixed freely character by character:
 * JSON escapes (`\u0073yt_…`, surrogate pairs for characters outside the BMP,
 * `\/`, `\"`, `\\`, `\t`, `\n`, …), percent-encoding (any number of rounds:
 * `%73`, `%2573`, `%252573`), HTML character references (`&#115;`, `&#x73`,
 * `&lowbar;`), fullwidth letters, any letter case, and white space (or JSON's
 * escapes of it) between any two characters, as a wrapped or re-indented body
 * has it. As a whole it is also matched in hex (either case, bytes apart or
 * not) and in base64 and base64url, wrapped into lines or not, at each of the
 * three alignments a secret can have inside a longer encoded string. A run of
 * at least half of a long secret (16 characters or more) is hidden too, so a
 * token shown but for its last characters is not shown.
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

/** JSON's own escapes, as regular-expression text: `\/`, `\"`, `\\`, `\t`, `\n`, `\r`, `\b`, `\f`. */
const JSON_ESCAPES = new Map<string, string>([
  ['/', '\\\\/'],
  ['"', '\\\\"'],
  ['\\', '\\\\\\\\'],
  ['\t', '\\\\t'],
  ['\n', '\\\\n'],
  ['\r', '\\\\r'],
  ['\b', '\\\\b'],
  ['\f', '\\\\f'],
]);

/** HTML's named character references of ASCII characters (letters and digits have none). */
const NAMED_REFS = new Map<string, string[]>(
  Object.entries({
    '\t': ['Tab'], '\n': ['NewLine'], '!': ['excl'], '"': ['quot', 'QUOT'], '#': ['num'], $: ['dollar'], '%': ['percnt'], '&': ['amp', 'AMP'],
    // '-' has no reference of its own; the look-alikes a target may use for it are taken too.
    '-': ['hyphen', 'dash', 'minus'], "'": ['apos'], '(': ['lpar'], ')': ['rpar'], '*': ['ast', 'midast'], '+': ['plus'], ',': ['comma'], '.': ['period'], '/': ['sol'],
    ':': ['colon'], ';': ['semi'], '<': ['lt', 'LT'], '=': ['equals'], '>': ['gt', 'GT'], '?': ['quest'], '@': ['commat'],
    '[': ['lsqb', 'lbrack'], '\\': ['bsol'], ']': ['rsqb', 'rbrack'], '^': ['Hat'], _: ['lowbar', 'UnderBar'], '`': ['grave', 'DiacriticalGrave'],
    '{': ['lcub', 'lbrace'], '|': ['verbar', 'vert', 'VerticalLine'], '}': ['rcub', 'rbrace'],
  }),
);

/**
 * What a target may put between two characters of a secret: a run of white
 * space (line breaks and indentation, a no-break space) or of JSON's escapes
 * of it, as a body wrapped or re-indented writes it. Unbounded on purpose:
 * a bounded repeat is unrolled by the regular-expression compiler, once per
 * character of every secret.
 */
const BETWEEN = '(?:\\\\[nrt]|[\\r\\n\\t \\u00a0])*';

/** Secrets at least this long are also redacted where only a part of them is shown (at least half, and PART_MIN characters). */
const PARTIAL_FROM = 16;
const PART_MIN = 8;
const GRAM = 4;

const NAMED_BY_NAME = new Map([...NAMED_REFS].flatMap(([c, names]) => names.map((n) => [n, c] as const)));
const JSON_UNESCAPE: Record<string, string> = { t: '\t', n: '\n', r: '\r', b: '\b', f: '\f' };

/**
 * Base64 (or base64url) broken into lines, raw or JSON-escaped, as MIME and
 * base64(1) write it. Tried only where a run starts: from inside a long run
 * the search would be quadratic.
 */
const WRAPPED_BASE64 = /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]+=*(?:(?:\r?\n|\\r?\\n)[A-Za-z0-9+/_-]+=*)+/g;
/** Hex digits, four bytes or more, a colon, a space or a dash allowed between bytes. */
const HEX_RUN = /(?<![0-9a-fA-F])[0-9a-fA-F]{2}(?:[:\s-]?[0-9a-fA-F]{2}){3,}/g;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

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
  private readonly whole: Array<{ form: string; placeholder: string }> = [];
  private readonly hex: Array<{ hex: string; placeholder: string }> = [];
  private partial: Map<string, Array<{ secret: string; at: number }>> | undefined;
  private readonly variables = new Map<string, string>();
  private variablePattern: RegExp | undefined;

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret === '' || this.secrets.has(secret)) return;
    this.secrets.set(secret, placeholder);
    this.pattern = undefined;
    this.shortPattern = undefined;
    this.partial = undefined;
    if (secret.length >= LONG) {
      const bytes = Buffer.from(secret, 'utf8');
      // Plain strings, searched as such: a regular expression per form would cost megabytes once every user's token is held.
      for (const form of base64Forms(bytes)) this.whole.push({ form, placeholder });
      this.hex.push({ hex: bytes.toString('hex'), placeholder });
    }
  }

  /** The placeholder of a registered secret, found by exact value (for header values, however short the secret). */
  /**
   * Names a value that is no secret but belongs to this run (a user id made
   * for it): reports show it as it is, and reproduction commands name it by
   * this shell variable, so that they run against the user's own accounts.
   */
  addVariable(value: string, variable: string): void {
    if (value === '' || this.variables.has(value)) return;
    this.variables.set(value, variable);
    this.variablePattern = undefined;
  }

  /** A text split at the run's named values (as they are, or percent-encoded as a path segment): text, then variable, alternately. */
  splitVariables(text: string): Array<string | { variable: string }> {
    if (this.variables.size === 0) return [text];
    const forms = new Map<string, string>();
    for (const [value, name] of this.variables) {
      forms.set(value, name);
      forms.set(encodeURIComponent(value), name);
    }
    this.variablePattern ??= new RegExp([...forms.keys()].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g');
    const out: Array<string | { variable: string }> = [];
    let last = 0;
    for (const m of text.matchAll(this.variablePattern)) {
      out.push(text.slice(last, m.index), { variable: forms.get(m[0]) ?? forms.get(encodeURIComponent(m[0])) ?? '' });
      last = (m.index ?? 0) + m[0].length;
    }
    out.push(text.slice(last));
    return out;
  }

  placeholderFor(secret: string): string | undefined {
    return this.secrets.get(secret);
  }

  /** One alternation per character: the character in either case, and each escape or encoding of it a target may use. */
  private static charForms(c: string): string {
    // Letter case is the pattern's flag; a case mapping that changes the length ("ß" to "SS") is spelled out.
    const forms = new Set<string>([escapeRe(c), ...[c.toLowerCase(), c.toUpperCase()].filter((v) => v.length !== c.length).map(escapeRe)]);
    const code = c.codePointAt(0) as number;
    const u = (n: number): string => `\\\\u${n.toString(16).padStart(4, '0')}`;
    if (code < 0x10000) forms.add(u(code));
    else forms.add(u(0xd800 + ((code - 0x10000) >> 10)) + u(0xdc00 + ((code - 0x10000) & 0x3ff)));
    for (const b of Buffer.from(c, 'utf8')) forms.add(`%(?:25)*${b.toString(16).padStart(2, '0')}`);
    // Decimal and hex references, the semicolon optional as browsers read them, and the named ones of ASCII punctuation.
    forms.add(`&#0*${code};?`);
    forms.add(`&#x0*${code.toString(16)};?`);
    for (const name of NAMED_REFS.get(c) ?? []) forms.add(`&${name};`);
    // Fullwidth forms of printable ASCII (U+FF01 to U+FF5E), which NFKC folds back.
    if (code >= 0x21 && code <= 0x7e) forms.add(String.fromCharCode(0xff01 + code - 0x21));
    const json = JSON_ESCAPES.get(c);
    if (json) forms.add(json);
    if (c === ' ') forms.add('\\+');
    return `(?:${[...forms].join('|')})`;
  }

  private compiled(): RegExp | undefined {
    if (this.pattern) return this.pattern;
    // Longest first, so a secret that contains another is replaced whole.
    const long = [...this.secrets.keys()].filter((s) => s.length >= LONG).sort((a, b) => b.length - a.length);
    if (long.length === 0) return undefined;
    // Between two characters: nothing, or a line break or a space a target may have put there.
    this.pattern = new RegExp(long.map((s) => [...s].map(Redactor.charForms).join(BETWEEN)).join('|'), 'gi');
    return this.pattern;
  }

  /**
   * Parts of long secrets: any run of at least half a secret (and PART_MIN
   * characters) as it stands, so a token shown but for its last characters,
   * or cut in two, is still hidden. Found through an index of the secrets'
   * four-character pieces: one lookup per position of the text.
   */
  private partialIndex(): Map<string, Array<{ secret: string; at: number }>> {
    if (this.partial) return this.partial;
    const index = new Map<string, Array<{ secret: string; at: number }>>();
    for (const secret of this.secrets.keys()) {
      if (secret.length < PARTIAL_FROM) continue;
      for (let at = 0; at + GRAM <= secret.length; at++) {
        const gram = secret.slice(at, at + GRAM);
        const list = index.get(gram) ?? [];
        list.push({ secret, at });
        index.set(gram, list);
      }
    }
    this.partial = index;
    return index;
  }

  private redactParts(text: string): string {
    const index = this.partialIndex();
    if (index.size === 0 || text.length < PART_MIN) return text;
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i + GRAM <= text.length; i++) {
      const hits = index.get(text.slice(i, i + GRAM));
      if (!hits) continue;
      let best: [number, number] | undefined;
      for (const { secret, at } of hits) {
        let from = i;
        let to = i + GRAM;
        for (let k = at - 1; k >= 0 && from > 0 && text[from - 1] === secret[k]; k--) from--;
        for (let k = at + GRAM; k < secret.length && to < text.length && text[to] === secret[k]; k++) to++;
        if (to - from >= Math.max(PART_MIN, Math.ceil(secret.length / 2)) && (!best || to - from > best[1] - best[0])) best = [from, to];
      }
      if (best) {
        ranges.push(best);
        i = best[1] - 1;
      }
    }
    if (ranges.length === 0) return text;
    let out = '';
    let last = 0;
    for (const [from, to] of ranges) {
      if (from < last) continue;
      out += text.slice(last, from) + '$SECRET_PART';
      last = to;
    }
    return out + text.slice(last);
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
      .normalize('NFKC')
      .replace(/&#[xX]([0-9a-fA-F]{1,6});?|&#(\d{1,7});?/g, (m, hex: string | undefined, dec: string | undefined) => {
        const code = hex ? parseInt(hex, 16) : Number(dec);
        return code <= 0x10ffff ? String.fromCodePoint(code) : m;
      })
      .replace(/&([A-Za-z]+);/g, (m, name: string) => NAMED_BY_NAME.get(name) ?? m)
      .replace(/\\(u[0-9a-fA-F]{4}|["\\/tnrbf])/g, (_m, e: string) => (e.length === 1 ? (JSON_UNESCAPE[e] ?? e) : String.fromCharCode(parseInt(e.slice(1), 16))))
      .replace(/%(?:25)+([0-9a-fA-F]{2})/g, '%$1')
      .replace(/((?:%[0-9a-fA-F]{2})+)/g, (m) => {
        try {
          return decodeURIComponent(m);
        } catch {
          return m;
        }
      });
    for (const candidate of [decoded, decoded.replace(/[\r\n\t \u00a0]/g, ''), decoded.replace(/\+/g, ' ')]) {
      const exact = this.secrets.get(candidate);
      if (exact) return exact;
      for (const [secret, placeholder] of this.secrets) if (secret.toLowerCase() === candidate.toLowerCase()) return placeholder;
    }
    return '$SECRET';
  }

  /** A run of base64 wrapped into lines: redacted as one, its line breaks dropped, when a secret is in it. */
  private unwrapped(run: string): string {
    const joined = run.replace(/\r?\n|\\r?\\n/g, '');
    let out = joined;
    for (const { form, placeholder } of this.whole) if (out.includes(form)) out = out.split(form).join(placeholder);
    return out === joined ? run : out;
  }

  /** A run of hex digits, in either case, its bytes apart or not: wholly replaced when a secret's bytes are in it. */
  private hexRun(run: string): string {
    const digits = run.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
    for (const { hex, placeholder } of this.hex) if (digits.includes(hex)) return placeholder;
    return run;
  }

  apply(text: string): string {
    let out = text;
    for (const [secret, placeholder] of this.secrets) if (secret.length >= LONG && out.includes(secret)) out = out.split(secret).join(placeholder);
    const re = this.compiled();
    if (re) out = out.replace(re, (m) => this.placeholderOf(m));
    for (const { form, placeholder } of this.whole) if (out.includes(form)) out = out.split(form).join(placeholder);
    if (this.whole.length) out = out.replace(WRAPPED_BASE64, (run) => this.unwrapped(run));
    if (this.hex.length) out = out.replace(HEX_RUN, (run) => this.hexRun(run));
    out = this.redactParts(out);
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
