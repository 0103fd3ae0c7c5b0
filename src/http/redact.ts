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
import { SecretMatcher } from './secret-matcher.js';

/** Secrets at least this long are matched anywhere, in every form; shorter ones as whole words only. */
const LONG = 4;
/** Encoded forms shorter than this would match ordinary text. */
const MIN_ENCODED = 6;
/** Room left past a cut so that a secret straddling it is redacted before the cut is made. */
export const CUT_MARGIN = 4096;

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

const HAS_FORMAT = /\p{Cf}/u;
let formatFormsPattern: RegExp | undefined;

/** Format characters, raw or as JSON (\u200b) or HTML (&#8203; &#x200B;) escapes; built when first needed (it tests each character of the BMP). */
function formatForms(): RegExp {
  if (formatFormsPattern) return formatFormsPattern;
  const bmp: number[] = [];
  for (let c = 0; c < 0x10000; c++) if ((c < 0xd800 || c > 0xdfff) && HAS_FORMAT.test(String.fromCharCode(c))) bmp.push(c);
  const hex = bmp.map((c) => c.toString(16).padStart(4, '0')).join('|');
  const shortHex = bmp.map((c) => c.toString(16)).join('|');
  const dec = bmp.map(String).join('|');
  formatFormsPattern = new RegExp(`\\p{Cf}|\\\\u(?:${hex})|&#(?:[xX]0*(?:${shortHex})|0*(?:${dec}));?`, 'giu');
  return formatFormsPattern;
}

/** Texts at least this long are remembered with their redaction, RECENT of them. */
const RECENT_FROM = 4096;
const RECENT = 8;

/** Secrets at least this long are also redacted where only a part of them is shown (at least half, and PART_MIN characters). */
const PARTIAL_FROM = 16;
const PART_MIN = 8;
const GRAM = 4;

/** The named references by name in lower case (a target may write them in any case). */
const NAMED_BY_LOWER_NAME = new Map([...NAMED_REFS].flatMap(([c, names]) => names.map((n) => [n.toLowerCase(), c] as const)));

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
  private secretMatcher: SecretMatcher | undefined;
  private shortPattern: RegExp | undefined;
  private readonly whole: Array<{ form: string; placeholder: string }> = [];
  private readonly hex: Array<{ hex: string; placeholder: string }> = [];
  private partial: Map<string, Array<{ secret: string; at: number }>> | undefined;
  /** The last long texts redacted, with what they became (forgotten when a secret is added). */
  private readonly recent = new Map<string, string>();
  private readonly variables = new Map<string, string>();
  private variablePattern: RegExp | undefined;

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret === '' || this.secrets.has(secret)) return;
    this.secrets.set(secret, placeholder);
    this.secretMatcher = undefined;
    this.recent.clear();
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

  /** The matcher of every long secret in every form (secret-matcher.ts), made when first needed after a secret was added. */
  private matcher(): SecretMatcher | undefined {
    if (this.secretMatcher) return this.secretMatcher;
    const long = [...this.secrets.keys()].filter((secret) => secret.length >= LONG);
    if (long.length === 0) return undefined;
    this.secretMatcher = new SecretMatcher(long, NAMED_BY_LOWER_NAME);
    return this.secretMatcher;
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
    // A target that answers every request alike is redacted once: a long text takes milliseconds per secret.
    if (text.length < RECENT_FROM) return this.withoutFormatCharacters(text);
    const known = this.recent.get(text);
    if (known !== undefined) return known;
    const out = this.withoutFormatCharacters(text);
    if (this.recent.size >= RECENT) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(text, out);
    return out;
  }

  /**
   * Format characters (category Cf: zero-width spaces and joiners, bidi
   * controls, …) show nothing, so a target may put them between the letters
   * of a secret it echoes. A text holding any is matched again without them
   * (raw, or as JSON or HTML escapes of them); when that finds a secret, the
   * text is shown so, without them. Otherwise it keeps them, and the outputs
   * show them escaped.
   */
  private withoutFormatCharacters(text: string): string {
    const out = this.redact(text);
    if (!HAS_FORMAT.test(text) && !/\\u|&#/.test(text)) return out;
    const stripped = text.replace(formatForms(), '');
    if (stripped === text) return out;
    const again = this.redact(stripped);
    return again === stripped ? out : again;
  }

  private redact(text: string): string {
    let out = text;
    for (const [secret, placeholder] of this.secrets) if (secret.length >= LONG && out.includes(secret)) out = out.split(secret).join(placeholder);
    const found = this.matcher()?.find(out) ?? [];
    if (found.length) {
      let replaced = '';
      let last = 0;
      for (const [from, to, secret] of found) {
        replaced += out.slice(last, from) + (this.secrets.get(secret) ?? '$SECRET');
        last = to;
      }
      out = replaced + out.slice(last);
    }
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
