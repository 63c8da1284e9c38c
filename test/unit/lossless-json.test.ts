import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLossless, stringifyJson } from '../../shared/lossless-json';
import { any, list, obj, opt, readJson, str, type EndpointShape } from '../../shared/qualys/shapes';
import { openPart, toNdjsonLine } from '../../shared/sink/part-writer';

/** Any JSON body (the reader's own rules, no shape); and one with an envelope of `data` and `scrollId`. */
const ANY: EndpointShape = { what: 'test body', body: any() };
const PAGE: EndpointShape = { what: 'test page', body: obj({ data: list(any()), scrollId: opt(str()) }) };
const parseJson = (text: string) => readJson(text, ANY);

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

  it('digits in strings stay strings; a safe 16-digit integer is a number, an unsafe one a bigint', () => {
    expect(parseJson('{"certhash":"a1234567890123456789b","id":"1234567890123456789"}')).toEqual({
      certhash: 'a1234567890123456789b',
      id: '1234567890123456789',
    });
    expect(parseJson('[ -9007199254740993]')).toEqual([-9007199254740993n]);
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

describe('envelope names once', () => {
  it('refuses a member repeated in an envelope object, never "the last one wins"', () => {
    expect(() => readJson('{"data":[1],"data":[]}', PAGE)).toThrow(
      /test page is not valid JSON: Repeated member "data" at position 12/,
    );
    expect(() => readJson('{"scrollId":"a","data":[],"scrollId":"b"}', PAGE)).toThrow(
      /Repeated member "scrollId"/,
    );
    // With a big integer too (the same reader), and in spite of whitespace.
    expect(() => readJson('{"data":[12345678901234567890] , "data" : []}', PAGE)).toThrow(/Repeated member/);
  });

  it("leaves records alone: their names, even the envelope's, may repeat as JSON.parse allows", () => {
    expect(readJson('{"data":[{"data":1,"data":2}],"scrollId":"s"}', PAGE)).toEqual({
      data: [{ data: 2 }],
      scrollId: 's',
    });
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
