/**
 * The glob patterns of push rules (the spec's appendix "Glob-style matching"):
 * `*` matches any run of characters, none included; `?` exactly one character;
 * every other character only itself. There are no character classes and no
 * escapes: `[a]` is three literal characters. A character is a code point, so
 * `?` matches an emoji as one.
 *
 * Letters are compared with ASCII case folding only. The spec leaves "case
 * insensitive" to the implementation; folding A–Z alone gives the same answer
 * on every platform and locale, and any reading of the spec accepts it.
 *
 * The match runs as a bit-parallel automaton over the value: one pass, each
 * character costing (pattern length / 32) word operations whatever the pattern,
 * so that a pattern such as `*a*a*a*a*b` cannot make it backtrack (a regular
 * expression built from it would take exponential time on a long run of `a`).
 */

/** A compiled pattern. It holds no reference to the value it matched, and may be kept and used again (one match at a time). */
export interface Glob {
  /** Whether the pattern matches the whole value. */
  matchesWhole(value: string): boolean;
  /**
   * Whether the pattern matches a part of the value that starts and ends at a word
   * boundary: the start or end of the value, or next to a character that is not
   * an ASCII letter, digit or `_` (how `content.body` is matched from v1.3).
   */
  matchesWords(value: string): boolean;
}

const WORD = /^[A-Za-z0-9_]$/;

export function isWordCharacter(ch: string): boolean {
  return WORD.test(ch);
}

/** ASCII letters to lower case; every other character as it is. */
export function foldAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/**
 * States are numbered 0…k: state j means the first j characters of the pattern
 * that are not `*` have been matched. A `*` is a loop on the state before it.
 */
export function compileGlob(pattern: string): Glob {
  const tokens: string[] = [];
  // loops[j]: a `*` stands between token j and token j + 1 (j = 0 before the first).
  const loops: boolean[] = [false];
  for (const ch of pattern) {
    if (ch === '*') {
      loops[tokens.length] = true;
    } else {
      tokens.push(ch === '?' ? ch : foldAscii(ch));
      loops.push(false);
    }
  }
  return new BitGlob(tokens, loops);
}

class BitGlob implements Glob {
  readonly #words: number;
  readonly #final: number;
  /** States with a `*` loop. */
  readonly #loop: Uint32Array;
  /** States reached by any character (a `?` before them). */
  readonly #any: Uint32Array;
  /** Per literal character, the states it leads to (plus those of `?`). */
  readonly #byChar = new Map<string, Uint32Array>();
  readonly #current: Uint32Array;
  readonly #next: Uint32Array;

  constructor(tokens: readonly string[], loops: readonly boolean[]) {
    this.#final = tokens.length;
    this.#words = Math.floor(tokens.length / 32) + 1;
    this.#loop = new Uint32Array(this.#words);
    this.#any = new Uint32Array(this.#words);
    this.#current = new Uint32Array(this.#words);
    this.#next = new Uint32Array(this.#words);
    for (const [state, loop] of loops.entries()) if (loop) setBit(this.#loop, state);
    for (const [index, token] of tokens.entries()) if (token === '?') setBit(this.#any, index + 1);
    for (const [index, token] of tokens.entries()) {
      if (token === '?') continue;
      let mask = this.#byChar.get(token);
      if (mask === undefined) {
        mask = Uint32Array.from(this.#any);
        this.#byChar.set(token, mask);
      }
      setBit(mask, index + 1);
    }
  }

  matchesWhole(value: string): boolean {
    this.#current.fill(0);
    setBit(this.#current, 0);
    for (const ch of value) {
      if (!this.#step(ch)) return false;
    }
    return hasBit(this.#current, this.#final);
  }

  matchesWords(value: string): boolean {
    this.#current.fill(0);
    let previousIsWord = false;
    for (const ch of value) {
      const isWord = isWordCharacter(ch);
      // A match may start here (after a boundary) and end here (before one).
      if (!previousIsWord) setBit(this.#current, 0);
      if (!isWord && hasBit(this.#current, this.#final)) return true;
      this.#step(ch);
      previousIsWord = isWord;
    }
    if (!previousIsWord) setBit(this.#current, 0);
    return hasBit(this.#current, this.#final);
  }

  /** Consumes one character; false when no state is left. */
  #step(raw: string): boolean {
    const code = raw.charCodeAt(0);
    // One character, so one comparison folds it (the body may be 64 KiB of them).
    const ch = raw.length === 1 && code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : raw;
    const match = this.#byChar.get(ch) ?? this.#any;
    const current = this.#current;
    const next = this.#next;
    let carry = 0;
    let alive = 0;
    for (let w = 0; w < this.#words; w += 1) {
      const word = current[w] ?? 0;
      // Shift the whole bit set left by one: state j moves on to j + 1.
      const shifted = ((word << 1) | carry) >>> 0;
      carry = word >>> 31;
      const value = ((shifted & (match[w] ?? 0)) | (word & (this.#loop[w] ?? 0))) >>> 0;
      next[w] = value;
      alive |= value;
    }
    current.set(next);
    return alive !== 0;
  }
}

function setBit(bits: Uint32Array, index: number): void {
  const w = index >>> 5;
  bits[w] = ((bits[w] ?? 0) | (1 << (index & 31))) >>> 0;
}

function hasBit(bits: Uint32Array, index: number): boolean {
  return (((bits[index >>> 5] ?? 0) >>> (index & 31)) & 1) === 1;
}

/**
 * Whether `needle`, taken literally (a display name may hold `*` or `?`), occurs in
 * `text` starting and ending at word boundaries, with ASCII case folding.
 */
export function containsWords(text: string, needle: string): boolean {
  if (needle === '') return false;
  const haystack = foldAscii(text);
  const wanted = foldAscii(needle);
  for (let at = haystack.indexOf(wanted); at !== -1; at = haystack.indexOf(wanted, at + 1)) {
    // Word characters are ASCII, so one UTF-16 unit on each side says enough.
    const before = haystack.charAt(at - 1);
    const after = haystack.charAt(at + wanted.length);
    if (!isWordCharacter(before) && !isWordCharacter(after)) return true;
  }
  return false;
}
