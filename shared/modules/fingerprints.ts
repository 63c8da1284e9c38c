import { hash } from 'node:crypto';
import { ParseError, QexportError } from '../errors';
import { stringifyJson } from '../lossless-json';

/**
 * Compact fingerprints of records, for dedup that must not hold (or checkpoint) the records or their ids: 16 bytes
 * per record, four 32-bit words. Words 0–1 hash the record's identity key (fast, non-cryptographic: it only
 * groups records by key); words 2–3 are the first 8 bytes of the SHA-256 of the whole record as JSON. Two records
 * are "the same" only when all 16 bytes agree, which for distinct records happens with probability 2^-64 per pair
 * even when their keys collide; two records with one key and different content differ in words 2–3.
 */
export const FP_WORDS = 4;
export const FP_BYTES = FP_WORDS * 4;

export type Fingerprint = readonly [number, number, number, number];

/** Words 2–3 of a fingerprint whose content is unknown (an id-only entry of an older checkpoint): any content. */
const ANY = 0xffffffff;

/** Two independent 32-bit FNV-1a/Murmur-style lanes over the key's UTF-16 code units. */
export function keyHash(key: string): [number, number] {
  let a = 0x811c9dc5 | 0;
  let b = 0x9747b28c | 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Final avalanche so that keys differing in their last characters spread over the table.
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= b >>> 16;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, b >>> 0];
}

/** The content half: SHA-256 of the record as JSON (key order as served, integers beyond 2^53 whole), first 8 bytes. */
export function contentHash(record: unknown): [number, number] {
  const d = hash('sha256', stringifyJson(record), 'buffer');
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

export function fingerprint(key: string, record: unknown): Fingerprint {
  return [...keyHash(key), ...contentHash(record)];
}

/** An entry that matches any record with this key (for id-only lists of older checkpoints). */
export function keyOnly(key: string): Fingerprint {
  return [...keyHash(key), ANY, ANY];
}

/**
 * A multiset of fingerprints in typed arrays: open addressing on the key hash, linear probing, grown at half
 * load. 16 bytes per slot plus 1, at most 4 slots per entry (2 after a growth): 34–68 bytes per fingerprint.
 */
export class FingerprintSet {
  private words: Uint32Array;
  /** 0 empty, 1 a fingerprint, 2 a key-only entry. */
  private used: Uint8Array;
  private mask: number;
  private n = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.words = new Uint32Array(cap * FP_WORDS);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  add(fp: Fingerprint): void {
    if ((this.n + 1) * 2 > this.used.length) this.grow();
    this.put(fp);
    this.n++;
  }

  private put(fp: Fingerprint): void {
    let i = (fp[0] ^ fp[1]) & this.mask;
    while (this.used[i]) i = (i + 1) & this.mask;
    this.words.set(fp, i * FP_WORDS);
    this.used[i] = fp[2] === ANY && fp[3] === ANY ? 2 : 1;
  }

  private grow(): void {
    const { words, used } = this;
    this.words = new Uint32Array(used.length * 2 * FP_WORDS);
    this.used = new Uint8Array(used.length * 2);
    this.mask = used.length * 2 - 1;
    for (let i = 0; i < used.length; i++) {
      if (!used[i]) continue;
      const o = i * FP_WORDS;
      this.put([words[o]!, words[o + 1]!, words[o + 2]!, words[o + 3]!]);
    }
  }

  /**
   * 'same': an entry with this key and this content (or a key-only entry with this key); 'key': entries with
   * this key, none with this content; 'none': no entry with this key.
   */
  match(fp: Fingerprint): 'same' | 'key' | 'none' {
    let i = (fp[0] ^ fp[1]) & this.mask;
    let found: 'key' | 'none' = 'none';
    while (this.used[i]) {
      const o = i * FP_WORDS;
      const w = this.words;
      if (w[o] === fp[0] && w[o + 1] === fp[1]) {
        if (this.used[i] === 2 || (w[o + 2] === fp[2] && w[o + 3] === fp[3])) return 'same';
        found = 'key';
      }
      i = (i + 1) & this.mask;
    }
    return found;
  }

  /** Whether any entry has this key (only the key half of `fp` is read). */
  hasKey(fp: Fingerprint): boolean {
    let i = (fp[0] ^ fp[1]) & this.mask;
    while (this.used[i]) {
      const o = i * FP_WORDS;
      if (this.words[o] === fp[0] && this.words[o + 1] === fp[1]) return true;
      i = (i + 1) & this.mask;
    }
    return false;
  }
}

/** Fingerprints → base64 (16 bytes each, big-endian words). */
export function encodeFingerprints(fps: readonly Fingerprint[]): string {
  const buf = Buffer.allocUnsafe(fps.length * FP_BYTES);
  fps.forEach((fp, k) => {
    for (let w = 0; w < FP_WORDS; w++) buf.writeUInt32BE(fp[w]!, k * FP_BYTES + w * 4);
  });
  return buf.toString('base64');
}

/** base64 → fingerprints; `what` names the source in the error for anything that is not whole fingerprints. */
export function decodeFingerprints(text: unknown, what: string): Fingerprint[] {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new ParseError(`${what}: fingerprints must be a base64 string`);
  }
  const buf = Buffer.from(text, 'base64');
  if (buf.length % FP_BYTES !== 0) {
    throw new ParseError(`${what}: ${buf.length} bytes of fingerprints is not a whole number of ${FP_BYTES}`);
  }
  const out: Fingerprint[] = [];
  for (let o = 0; o < buf.length; o += FP_BYTES) {
    out.push([
      buf.readUInt32BE(o),
      buf.readUInt32BE(o + 4),
      buf.readUInt32BE(o + 8),
      buf.readUInt32BE(o + 12),
    ]);
  }
  return out;
}

/**
 * Fingerprints written to objects beside the state file (RunScratch), in segments named `<name>-NNNNN.json`, each
 * `{"n": count, "fps": base64}`. A checkpoint names them by this small reference, whatever their number: the
 * segments so far, the fingerprints they hold and a SHA-256 chained over their contents (so a segment that is
 * missing, truncated, replaced or from another pass is refused when read back, never half-trusted).
 */
export interface SpilledFingerprints {
  /** The run whose scratch holds the segments. */
  runId: string;
  name: string;
  segments: number;
  count: number;
  /** hex SHA-256 chain: sha256(previous digest + segment fps), '' before the first segment. */
  digest: string;
}

export interface ScratchLike {
  putJson(runId: string, name: string, value: unknown): Promise<void>;
  getJson(runId: string, name: string): Promise<unknown>;
  describe(runId: string, name: string): string;
}

const segmentName = (name: string, k: number) => `${name}-${String(k).padStart(5, '0')}.json`;
const chain = (digest: string, fps: string) => hash('sha256', `${digest}\n${fps}`, 'hex');

export function emptySpill(runId: string, name: string): SpilledFingerprints {
  return { runId, name, segments: 0, count: 0, digest: '' };
}

/** Writes one more segment; resolves with the reference that names it (the input is not changed). */
export async function spillFingerprints(
  scratch: ScratchLike,
  ref: SpilledFingerprints,
  fps: readonly Fingerprint[],
): Promise<SpilledFingerprints> {
  if (!fps.length) return ref;
  const text = encodeFingerprints(fps);
  await scratch.putJson(ref.runId, segmentName(ref.name, ref.segments), { n: fps.length, fps: text });
  return {
    ...ref,
    segments: ref.segments + 1,
    count: ref.count + fps.length,
    digest: chain(ref.digest, text),
  };
}

/** Reads every segment `ref` names into `into`; anything that does not match the reference is refused. */
export async function loadSpilledFingerprints(
  scratch: ScratchLike,
  ref: SpilledFingerprints,
  into: { add(fp: Fingerprint): void },
): Promise<void> {
  let digest = '';
  let count = 0;
  for (let k = 0; k < ref.segments; k++) {
    const name = segmentName(ref.name, k);
    const where = scratch.describe(ref.runId, name);
    const seg = (await scratch.getJson(ref.runId, name)) as { n?: unknown; fps?: unknown } | undefined;
    if (!seg || typeof seg !== 'object') {
      throw new QexportError(
        'state',
        `${where} is missing: the checkpoint names ${ref.segments} segments of ${ref.name}`,
      );
    }
    const fps = decodeFingerprints(seg.fps, where);
    if (seg.n !== fps.length)
      throw new QexportError('state', `${where} says ${String(seg.n)} fingerprints, holds ${fps.length}`);
    for (const fp of fps) into.add(fp);
    count += fps.length;
    digest = chain(digest, seg.fps as string);
  }
  if (count !== ref.count || digest !== ref.digest) {
    throw new QexportError(
      'state',
      `the ${ref.name} fingerprints of run ${ref.runId} do not match their checkpoint (${count} read, ` +
        `${ref.count} expected, or a segment was replaced): ${scratch.describe(ref.runId, segmentName(ref.name, 0))} …`,
    );
  }
}

/** Whether `v` is a well-formed SpilledFingerprints (it comes from a state file: trust nothing). */
export function isSpill(v: unknown): v is SpilledFingerprints {
  const s = v as SpilledFingerprints | null;
  return (
    !!s &&
    typeof s === 'object' &&
    typeof s.runId === 'string' &&
    typeof s.name === 'string' &&
    Number.isInteger(s.segments) &&
    s.segments >= 0 &&
    Number.isInteger(s.count) &&
    s.count >= 0 &&
    typeof s.digest === 'string'
  );
}
