/**
 * Sets of record ids in bounded memory (issue 19: a run's ids no longer live in a Set of strings or in its
 * checkpoint). Every id becomes a 64-bit key, two uint32 words:
 * - a number (PCI's scanId) is its IEEE-754 bits: exact, so two different ids never share a key;
 * - a string (CertView's id or certhash) is a 64-bit hash of its UTF-16 code units (a fingerprint). Two different
 *   ids share one with a probability of about n² / 2⁶⁵ (3·10⁻⁸ for a million ids). A module using fingerprints
 *   must make a shared one fail loudly (a repeat that stops the run), never drop a record because of it.
 * Keys live in an open-addressing table of Uint32Array pairs kept at most half full: 16 bytes per key or less,
 * outside the JavaScript heap, in one allocation that doubles as the set grows.
 */

/** A 64-bit key: `hi` and `lo` are uint32. */
export interface Key64 {
  hi: number;
  lo: number;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Word order of a float64's bits on this machine (high word second on little-endian). */
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = 1 - HI;
/** Journal words are stored little-endian whatever the machine (a run may resume on another one). */
const swapped = (w: Uint32Array) => {
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < w.length; i++) {
      const x = w[i]!;
      w[i] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
    }
  }
  return w;
};

/** The exact key of a number (its float64 bits; -0 is 0). Reuses `out`. */
export function numberKey(n: number, out: Key64): Key64 {
  f64[0] = n === 0 ? 0 : n;
  out.hi = u32[HI]!;
  out.lo = u32[LO]!;
  return out;
}

/** The number a `numberKey` came from. */
export function keyNumber(hi: number, lo: number): number {
  u32[HI] = hi;
  u32[LO] = lo;
  return f64[0]!;
}

/** A 64-bit fingerprint of a string (two 32-bit multiply-xorshift lanes over its code units). Reuses `out`. */
export function stringKey(s: string, out: Key64): Key64 {
  let h1 = 0xdeadbeef ^ s.length;
  let h2 = 0x41c6ce57 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out.hi = h1 >>> 0;
  out.lo = h2 >>> 0;
  return out;
}

/**
 * The key of a record id as an API may send it: an integer (a number, a bigint, or decimal text within 2^53) by its
 * exact value, so 123 and "123" are one id; anything else (text, a larger integer) by its fingerprint.
 */
export function idKey(id: unknown, out: Key64): Key64 {
  if (typeof id === 'number' && Number.isFinite(id)) return numberKey(id, out);
  const text =
    typeof id === 'string' ? id.trim() : typeof id === 'bigint' ? id.toString() : JSON.stringify(id);
  if (/^-?\d{1,16}$/.test(text) && Number.isSafeInteger(Number(text))) return numberKey(Number(text), out);
  return stringKey(`\u0000${text}`, out);
}

/** murmur3's 32-bit finaliser: where a key's probe sequence starts. */
function mix(hi: number, lo: number): number {
  let h = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A set of 64-bit keys. The all-zero key is kept apart (it marks an empty slot in the table). */
export class KeySet {
  private table: Uint32Array;
  private mask: number;
  private hasZero = false;
  private count = 0;

  constructor(expected = 0) {
    let slots = 1024;
    while (slots < expected * 2) slots *= 2;
    this.table = new Uint32Array(slots * 2);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes the table holds (for the bench and tests). */
  get bytes(): number {
    return this.table.byteLength;
  }

  has(k: Key64): boolean {
    return this.find(k.hi, k.lo) !== -1;
  }

  /** Adds the key; false if it was there already. */
  add(k: Key64): boolean {
    const { hi, lo } = k;
    if (hi === 0 && lo === 0) {
      if (this.hasZero) return false;
      this.hasZero = true;
      this.count++;
      return true;
    }
    let i = mix(hi, lo) & this.mask;
    const t = this.table;
    for (;;) {
      const a = t[2 * i]!;
      const b = t[2 * i + 1]!;
      if (a === 0 && b === 0) break;
      if (a === hi && b === lo) return false;
      i = (i + 1) & this.mask;
    }
    t[2 * i] = hi;
    t[2 * i + 1] = lo;
    if (++this.count * 2 > this.mask + 1) this.grow();
    return true;
  }

  /** Slot of the key, -1 when absent (-2 for the zero key when present). */
  private find(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) return this.hasZero ? -2 : -1;
    let i = mix(hi, lo) & this.mask;
    const t = this.table;
    for (;;) {
      const a = t[2 * i]!;
      const b = t[2 * i + 1]!;
      if (a === hi && b === lo) return i;
      if (a === 0 && b === 0) return -1;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.table;
    const slots = (this.mask + 1) * 2;
    this.table = new Uint32Array(slots * 2);
    this.mask = slots - 1;
    const t = this.table;
    for (let j = 0; j < old.length; j += 2) {
      const hi = old[j]!;
      const lo = old[j + 1]!;
      if (hi === 0 && lo === 0) continue;
      let i = mix(hi, lo) & this.mask;
      while (t[2 * i] !== 0 || t[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      t[2 * i] = hi;
      t[2 * i + 1] = lo;
    }
  }
}

/**
 * Builds a module's journal entry for one page: uint32 words, appended as they come. Grows by doubling; `bytes()`
 * hands out the words written so far as bytes (a copy the size of the entry).
 */
export class WordWriter {
  private words = new Uint32Array(64);
  private n = 0;

  push(w: number): void {
    if (this.n === this.words.length) {
      const bigger = new Uint32Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
    }
    this.words[this.n++] = w >>> 0;
  }

  pushKey(k: Key64): void {
    this.push(k.hi);
    this.push(k.lo);
  }

  /** Appends the words another writer holds. */
  append(other: WordWriter): void {
    for (let i = 0; i < other.n; i++) this.push(other.words[i]!);
  }

  /** Overwrites word `at` (e.g. a count known only at the end of the entry). */
  set(at: number, w: number): void {
    this.words[at] = w >>> 0;
  }

  get length(): number {
    return this.n;
  }

  bytes(): Uint8Array {
    return new Uint8Array(swapped(new Uint32Array(this.words.buffer.slice(0, this.n * 4))).buffer);
  }
}

/** The uint32 words of journal bytes (copied when they are not 4-byte aligned or not a whole number of words). */
export function wordsOf(bytes: Uint8Array): Uint32Array {
  if (bytes.byteLength % 4 !== 0)
    throw new RangeError(`journal entry of ${bytes.byteLength} bytes is not whole words`);
  if (bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN)
    return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return swapped(new Uint32Array(bytes.slice().buffer));
}
