/**
 * Finds long secrets in a text in every form a target may echo them, one
 * character at a time: each character as it is (in either letter case, or
 * fullwidth), as a \u escape (a surrogate pair for one outside the BMP),
 * percent-encoded any number of times (%41, %2541, …, its UTF-8 bytes), as
 * an HTML reference (&#65; &#x41; with or without the semicolon, or its
 * name), as JSON's escape of it, a space as +; and between two characters a
 * run of white space or of JSON's escapes of it (a body wrapped or
 * re-indented). The forms may differ from one character to the next.
 *
 * The secrets make a tree of their characters, folded to lower case; a text
 * is walked once per position, following every way its next characters can
 * spell the next character of a secret. Nothing is compiled: one regular
 * expression holding every form of every secret took seconds to compile once
 * a run held a few hundred users' tokens.
 */

interface Node {
  next: Map<string, Node>;
  /** The secret that ends here. */
  secret?: string;
  /** Some child's character is white space: a run between characters may hold the start of the next one. */
  spaceChild: boolean;
}

/** HTML's named references by name (lower case), to the character each names. */
export type NamedRefs = ReadonlyMap<string, string>;

const fold = (c: string): string => {
  const lower = c.toLowerCase();
  return lower.length === c.length ? lower : c;
};

const SPACE = /^[\r\n\t \u00a0]$/;
const JSON_CHAR: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const HEX = /^[0-9a-fA-F]$/;
/** Characters that begin an encoded form of another character. */
const STARTERS = new Set(['\\', '%', '&', '+']);

/** A character the text spells at `at`, in one of its forms, and where that form ends. */
interface Unit {
  char: string;
  end: number;
}

export class SecretMatcher {
  private readonly root: Node = { next: new Map(), spaceChild: false };
  /** Characters whose case mapping changes their length ("ß" and "SS"): matched by their mapped forms too. */
  private readonly mapped = new Map<string, string[]>();

  constructor(
    secrets: Iterable<string>,
    private readonly named: NamedRefs,
  ) {
    for (const secret of secrets) {
      let node = this.root;
      for (const c of secret) {
        const key = fold(c);
        for (const m of [c.toLowerCase(), c.toUpperCase()]) if (m.length !== c.length) this.mapped.set(m.toLowerCase(), [...(this.mapped.get(m.toLowerCase()) ?? []), key]);
        if (SPACE.test(c)) node.spaceChild = true;
        let child = node.next.get(key);
        if (!child) node.next.set(key, (child = { next: new Map(), spaceChild: false }));
        node = child;
      }
      node.secret = secret;
    }
  }

  /** Every match, leftmost first and then longest, not overlapping: [from, to, secret]. */
  find(text: string): Array<[number, number, string]> {
    const out: Array<[number, number, string]> = [];
    for (let i = 0; i < text.length; ) {
      // Most positions cannot start any secret: neither their character nor the start of an encoded form is the first of one.
      const c = text[i] as string;
      if (!this.root.next.has(fold(c)) && !this.root.next.has(c) && !STARTERS.has(c) && !(c >= '\uff01' && c <= '\uff5e') && !(c >= '\ud800' && c <= '\udbff') && this.mapped.size === 0) {
        i++;
        continue;
      }
      const hit = this.longestAt(text, i);
      if (hit) {
        out.push([i, hit[0], hit[1]]);
        i = hit[0];
      } else i++;
    }
    return out;
  }

  /** The longest match starting at `start`: its end and its secret. */
  private longestAt(text: string, start: number): [number, string] | undefined {
    let best: [number, string] | undefined;
    const stack: Array<{ node: Node; at: number }> = [{ node: this.root, at: start }];
    // Each place in the tree is tried once per position of the text: the walk is bounded by the tree's size.
    const seen = new Map<Node, Set<number>>();
    const push = (node: Node, at: number): void => {
      let positions = seen.get(node);
      if (!positions) seen.set(node, (positions = new Set()));
      if (positions.has(at)) return;
      positions.add(at);
      stack.push({ node, at });
    };
    while (stack.length) {
      const { node, at } = stack.pop() as { node: Node; at: number };
      if (node.secret !== undefined && (!best || at > best[0])) best = [at, node.secret];
      if (node.next.size === 0) continue;
      // Between two characters of a secret, a run of white space (or JSON's escapes of it) may stand.
      const starts = node === this.root ? [at] : this.afterSpace(text, at, node.spaceChild);
      for (const from of starts) {
        for (const unit of this.units(text, from)) {
          const child = node.next.get(fold(unit.char)) ?? node.next.get(unit.char);
          if (child) push(child, unit.end);
        }
        // "SS" for "ß": a mapped form spelled out.
        for (const [form, keys] of this.mapped) {
          if (text.slice(from, from + form.length).toLowerCase() !== form) continue;
          for (const k of keys) {
            const child = node.next.get(k);
            if (child) push(child, from + form.length);
          }
        }
      }
    }
    return best;
  }

  /** Where the next character may start after a run of white space at `at`: its end, and each position inside it when the next character may itself be white space. */
  private afterSpace(text: string, at: number, inside: boolean): number[] {
    const positions = [at];
    let p = at;
    for (;;) {
      const c = text[p];
      if (c !== undefined && SPACE.test(c)) p += 1;
      else if (c === '\\' && /[nrt]/.test(text[p + 1] ?? '')) p += 2;
      else break;
      if (inside) positions.push(p);
    }
    if (!inside && p !== at) positions.push(p);
    return positions;
  }

  /** Every character the text may spell at `at`, each with where its form ends. */
  private units(text: string, at: number): Unit[] {
    const out: Unit[] = [];
    const cp = text.codePointAt(at);
    if (cp === undefined) return out;
    const raw = String.fromCodePoint(cp);
    out.push({ char: raw, end: at + raw.length });
    // Fullwidth forms of printable ASCII, which NFKC folds back.
    if (cp >= 0xff01 && cp <= 0xff5e) out.push({ char: String.fromCharCode(cp - 0xff01 + 0x21), end: at + 1 });
    if (raw === '+') out.push({ char: ' ', end: at + 1 });
    if (raw === '\\') this.escaped(text, at, out);
    else if (raw === '%') this.percent(text, at, out);
    else if (raw === '&') this.reference(text, at, out);
    return out;
  }

  /** \uXXXX (and a surrogate pair), or one of JSON's escapes. */
  private escaped(text: string, at: number, out: Unit[]): void {
    const next = text[at + 1] ?? '';
    const json = JSON_CHAR[next];
    if (json !== undefined) out.push({ char: json, end: at + 2 });
    if (next !== 'u' && next !== 'U') return;
    const hex = text.slice(at + 2, at + 6);
    if (hex.length !== 4 || ![...hex].every((h) => HEX.test(h))) return;
    const code = parseInt(hex, 16);
    out.push({ char: String.fromCharCode(code), end: at + 6 });
    if (code >= 0xd800 && code <= 0xdbff && /^\\[uU][dD][c-fC-F][0-9a-fA-F]{2}$/.test(text.slice(at + 6, at + 12))) {
      const low = parseInt(text.slice(at + 8, at + 12), 16);
      out.push({ char: String.fromCharCode(code, low), end: at + 12 });
    }
  }

  /** One character's UTF-8 bytes, each written %XX after any number of 25s (each round of encoding adds one). */
  private percent(text: string, at: number, out: Unit[]): void {
    const bytes: number[] = [];
    let p = at;
    const byte = (): boolean => {
      if (text[p] !== '%') return false;
      let q = p + 1;
      while (text.slice(q, q + 2) === '25' && HEX.test(text[q + 2] ?? '') && HEX.test(text[q + 3] ?? '')) q += 2;
      const h = text.slice(q, q + 2);
      if (h.length !== 2 || !HEX.test(h[0] as string) || !HEX.test(h[1] as string)) return false;
      bytes.push(parseInt(h, 16));
      p = q + 2;
      return true;
    };
    if (!byte()) return;
    const lead = bytes[0] as number;
    const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
    if (length === 0) return;
    while (bytes.length < length) if (!byte()) return;
    const char = Buffer.from(bytes).toString('utf8');
    if (!char.includes('\ufffd')) out.push({ char, end: p });
  }

  /** &#DEC; &#xHEX; (the semicolon optional, leading zeros allowed, every prefix of the digits a candidate), or &name;. */
  private reference(text: string, at: number, out: Unit[]): void {
    if (text[at + 1] === '#') {
      const hex = text[at + 2] === 'x' || text[at + 2] === 'X';
      let p = at + (hex ? 3 : 2);
      while (text[p] === '0') p++;
      const digits: string[] = [];
      for (let q = p; q < text.length && digits.length < 7 && (hex ? HEX : /^\d$/).test(text[q] as string); q++) digits.push(text[q] as string);
      for (let k = 1; k <= digits.length; k++) {
        const code = parseInt(digits.slice(0, k).join(''), hex ? 16 : 10);
        if (code > 0x10ffff) break;
        const char = String.fromCodePoint(code);
        const end = p + k;
        out.push({ char, end });
        if (text[end] === ';') out.push({ char, end: end + 1 });
      }
      return;
    }
    const m = /^&([A-Za-z]{1,32});/.exec(text.slice(at, at + 35));
    const char = m ? this.named.get((m[1] as string).toLowerCase()) : undefined;
    if (m && char !== undefined) out.push({ char, end: at + m[0].length });
  }
}
