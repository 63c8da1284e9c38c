import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { needsLossless, parseJson, parseLossless, stringifyJson } from '../../shared/lossless-json';
import { openPart, toNdjsonLine } from '../../shared/sink/part-writer';

describe('lossless JSON', () => {
  it('reads every JSON text as JSON.parse does, except that integers beyond 2^53 stay exact', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        // Written back, the text is the same, whichever reader took it.
        expect(stringifyJson(parseLossless(text))).toBe(text);
        expect(stringifyJson(parseJson(text))).toBe(text);
        // Without a 16-digit number, the values are JSON.parse's own.
        if (!/\d{16}/.test(text)) expect(parseLossless(text)).toStrictEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every digit of integers beyond 2^53, anywhere, and writes them back unchanged', () => {
    const big = fc
      .bigInt({ min: -(2n ** 70n), max: 2n ** 70n })
      .filter((b) => b > 2n ** 53n || b < -(2n ** 53n));
    fc.assert(
      fc.property(fc.array(big, { minLength: 1, maxLength: 5 }), fc.string(), (ints, s) => {
        const text = `{"ids":[${ints.join(',')}],"s":${JSON.stringify(s)},"n":{"deep":${ints[0]}}}`;
        expect(needsLossless(text)).toBe(true);
        const v = parseJson(text) as { ids: bigint[]; n: { deep: bigint } };
        expect(v.ids).toEqual(ints);
        expect(v.n.deep).toBe(ints[0]);
        expect(stringifyJson(v)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what JSON.parse refuses', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const padded = `[1234567890123456789,${text}]`; // forces the lossless reader
        let json: unknown;
        try {
          JSON.parse(padded);
          json = 'ok';
        } catch {
          json = 'refused';
        }
        let ours: unknown;
        try {
          parseLossless(padded);
          ours = 'ok';
        } catch (err) {
          expect(err).toBeInstanceOf(SyntaxError);
          ours = 'refused';
        }
        expect(ours).toBe(json);
      }),
      { numRuns: 500 },
    );
  });

  it('16-digit runs inside strings do not take the slow path; a number position does', () => {
    expect(needsLossless('{"certhash":"a1234567890123456789b","id":"1234567890123456789"}')).toBe(false);
    expect(needsLossless('{"a": 9007199254740993}')).toBe(true);
    expect(needsLossless('[ -9007199254740993]')).toBe(true);
    // A safe 16-digit integer reads as a number.
    expect(parseJson('{"a":1234567890123456}')).toEqual({ a: 1234567890123456 });
    expect(parseJson('{"a":9007199254740993}')).toEqual({ a: 9007199254740993n });
  });

  it('keeps "__proto__" an own field, as JSON.parse does', () => {
    const v = parseLossless('{"__proto__":{"polluted":1},"n":12345678901234567890}') as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'n']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses nesting deeper than its bound, without a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    expect(() => parseLossless(`[12345678901234567890,${deep}]`)).toThrow(/Nesting too deep/);
  });
});

describe('the part writer', () => {
  it('writes integers beyond 2^53 with every digit, after the run stamp', () => {
    const line = toNdjsonLine({ id: 2n ** 64n + 1n, neg: -(2n ** 60n), x: 1.5 }, '{"qexport_run":"r",');
    expect(line).toBe('{"qexport_run":"r","id":18446744073709551617,"neg":-1152921504606846976,"x":1.5}\n');
  });

  it('refuses a record carrying the field it adds', async () => {
    expect(() => toNdjsonLine({ qexport_run: 'theirs', a: 1 }, '{"qexport_run":"r",')).toThrow(
      /a record carries its own 'qexport_run' field/,
    );
    // Without a stamp the record is written as it is.
    expect(toNdjsonLine({ qexport_run: 'theirs' })).toBe('{"qexport_run":"theirs"}\n');
    const store = {
      putStream: () => new Promise<never>(() => {}),
    } as unknown as Parameters<typeof openPart>[0];
    const part = openPart(store, 'k', { runId: 'r' });
    await expect(part.writePage([{ a: 1 }, { qexport_run: 'x' }])).rejects.toThrow(/qexport_run/);
    expect(part.records).toBe(0); // nothing of the page was written
  });
});
