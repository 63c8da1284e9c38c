// Bounded-memory id sets (issue 19 item 7): exact keys for numbers, 64-bit fingerprints for strings.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  idKey,
  keyNumber,
  KeySet,
  numberKey,
  stringKey,
  WordWriter,
  wordsOf,
  type Key64,
} from '../../shared/modules/idset';

const k = (): Key64 => ({ hi: 0, lo: 0 });

describe('KeySet', () => {
  it('agrees with a Set on any sequence of adds (numbers, exact keys)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.constant(0))), (ids) => {
        const set = new KeySet();
        const ref = new Set<number>();
        const key = k();
        for (const id of ids) {
          const n = Object.is(id, -0) ? 0 : id;
          expect(set.add(numberKey(n, key))).toBe(!ref.has(n));
          ref.add(n);
        }
        expect(set.size).toBe(ref.size);
        for (const id of ref) expect(set.has(numberKey(id, key))).toBe(true);
      }),
    );
  });

  it('keeps a million keys in 16 MiB, growing as it fills', () => {
    const set = new KeySet();
    const key = k();
    for (let i = 0; i < 1_000_000; i++) set.add(numberKey(10_000_000 + i, key));
    expect(set.size).toBe(1_000_000);
    expect(set.bytes).toBe(16 * 1024 * 1024);
    expect(set.has(numberKey(10_000_000, key))).toBe(true);
    expect(set.has(numberKey(9_999_999, key))).toBe(false);
  });

  it('holds the all-zero key like any other', () => {
    const set = new KeySet();
    expect(set.add({ hi: 0, lo: 0 })).toBe(true);
    expect(set.add({ hi: 0, lo: 0 })).toBe(false);
    expect(set.has({ hi: 0, lo: 0 })).toBe(true);
    expect(set.size).toBe(1);
  });
});

describe('keys', () => {
  it('a number key is the number, exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (n) => {
        const key = numberKey(n, k());
        expect(keyNumber(key.hi, key.lo)).toBe(Object.is(n, -0) ? 0 : n);
      }),
    );
  });

  it('string fingerprints of a million distinct ids do not collide (64 bits)', () => {
    const set = new KeySet();
    const key = k();
    let shared = 0;
    for (let i = 0; i < 1_000_000; i++) if (!set.add(stringKey(`cert-${i}`, key))) shared++;
    expect(shared).toBe(0);
  });

  it('fingerprints depend on every character and on the length', () => {
    const a = stringKey('abc', k());
    expect(stringKey('abd', k())).not.toEqual(a);
    expect(stringKey('abc\u0000', k())).not.toEqual(a);
    expect(stringKey('abc', k())).toEqual(a);
  });
});

describe('record ids', () => {
  it('an integer id is one key however it is sent; text is fingerprinted apart from numbers', () => {
    const of = (v: unknown) => ({ ...idKey(v, k()) });
    expect(of('123')).toEqual(of(123));
    expect(of(123n)).toEqual(of(123));
    expect(of(' 123 ')).toEqual(of(123));
    expect(of('0123')).toEqual(of(123)); // decimal text
    expect(of('F_abc_10-2-2020')).not.toEqual(of('F_abc_10-2-2021'));
    expect(of(2n ** 60n)).not.toEqual(of(2 ** 60)); // beyond 2^53: never rounded onto another id
    expect(of(12.5)).toEqual(of(12.5));
  });

  it('ids of every kind agree with a Set of their canonical text', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(), fc.string({ maxLength: 8 }), fc.bigInt({ min: 0n, max: 2n ** 70n }))),
        (ids) => {
          const set = new KeySet();
          const ref = new Set<string>();
          const key = k();
          const canon = (v: unknown) => {
            const t = String(v).trim();
            return /^-?\d{1,16}$/.test(t) && Number.isSafeInteger(Number(t)) ? String(Number(t)) : `t:${t}`;
          };
          for (const id of ids) {
            expect(set.add(idKey(id, key))).toBe(!ref.has(canon(id)));
            ref.add(canon(id));
          }
        },
      ),
    );
  });
});

describe('journal words', () => {
  it('round-trip through bytes at any alignment', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff })), fc.nat(3), (words, pad) => {
        const w = new WordWriter();
        for (const x of words) w.push(x);
        const bytes = w.bytes();
        const shifted = new Uint8Array(bytes.byteLength + pad);
        shifted.set(bytes, pad);
        expect([...wordsOf(shifted.subarray(pad))]).toEqual(words);
      }),
    );
  });

  it('refuses bytes that are not whole words', () => {
    expect(() => wordsOf(new Uint8Array(6))).toThrow(/not whole words/);
  });
});
