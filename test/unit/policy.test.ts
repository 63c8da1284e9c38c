import { describe, expect, it } from 'vitest';
import { OriginError, ParseError, PolicyError } from '../../shared/errors';
import {
  decodeStrict,
  mediaType,
  readBody,
  send,
  StrictTextStream,
  type Outbound,
} from '../../shared/net/policy';

const o: Outbound = {
  allow: ['https://gw.example.com'],
  limits: { maxResponseBytes: 1000, maxDecodedBytes: 4000 },
  what: 'test call',
};
const h = (contentType?: string, extra: Record<string, string> = {}) =>
  new Headers({ ...(contentType ? { 'content-type': contentType } : {}), ...extra });
const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('the outbound policy', () => {
  it('sends only to allowed origins, never following a redirect', async () => {
    const seen: RequestInit[] = [];
    const f: typeof fetch = async (_i, init) => {
      seen.push(init!);
      return new Response('', { status: 308, headers: { location: '/elsewhere' } });
    };
    await expect(send(f, new URL('https://evil.example.com/x'), {}, o)).rejects.toThrow(OriginError);
    expect(seen).toHaveLength(0);
    const err = (await send(f, new URL('https://gw.example.com/x'), {}, o).catch(
      (e: unknown) => e,
    )) as PolicyError;
    expect(err).toBeInstanceOf(PolicyError);
    // A relative Location names the same origin: still refused.
    expect(err.message).toMatch(/HTTP 308 redirect to https:\/\/gw\.example\.com refused/);
    expect(seen[0]!.redirect).toBe('manual');
  });

  it('refuses a declared Content-Length over the wire bound without reading it', async () => {
    let pulled = false;
    const body = new ReadableStream(
      {
        pull() {
          pulled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const f: typeof fetch = async () => new Response(body, { headers: { 'content-length': '1001' } });
    await expect(send(f, new URL('https://gw.example.com/x'), {}, o)).rejects.toThrow(
      /declares 1001 bytes, more than the 1000 allowed \(QEXPORT_MAX_RESPONSE_BYTES\)/,
    );
    expect(pulled).toBe(false);
  });

  it('counts an uncoded body against the wire bound, a coded one against the decoded bound', async () => {
    await expect(readBody(new Response('x'.repeat(1001)), o)).rejects.toThrow(/QEXPORT_MAX_RESPONSE_BYTES/);
    const coded = new Response('x'.repeat(3000), { headers: { 'content-encoding': 'gzip' } });
    expect((await readBody(coded, o)).length).toBe(3000);
    const bomb = new Response('x'.repeat(4001), { headers: { 'content-encoding': 'br' } });
    await expect(readBody(bomb, o)).rejects.toThrow(
      /inflates to more than 4000 bytes.*QEXPORT_MAX_DECODED_BYTES/,
    );
  });

  it('reads a Content-Type and its charset', () => {
    expect(mediaType(h('Application/JSON; Charset="UTF-8"'))).toEqual({
      type: 'application/json',
      charset: 'utf-8',
    });
    expect(mediaType(h())).toBeUndefined();
  });

  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['application/problem+json', 'json'],
    ['application/xml', 'xml'],
    ['text/xml; charset=UTF-8', 'xml'],
    ['text/plain; charset=utf-8', 'text'],
    ['application/jwt', 'text'],
    [undefined, 'json'],
  ] as const)('accepts %s for %s', (type, kind) => {
    expect(decodeStrict(utf8('{"a":"é"}'), h(type), kind, 'x')).toBe('{"a":"é"}');
  });

  it.each([
    ['text/html', 'json', /"text\/html", not application\/json .*an HTML page/],
    ['text/plain', 'json', /not application\/json/],
    ['application/json', 'xml', /not application\/xml or text\/xml/],
    ['application/json; charset=iso-8859-1', 'json', /charset 'iso-8859-1'; only UTF-8/],
    ['application/json; charset=us-ascii', 'json', /charset 'us-ascii'/],
    ['application/json, text/html', 'json', /not application\/json/],
  ] as const)('refuses %s for %s', (type, kind, message) => {
    expect(() => decodeStrict(utf8('{}'), h(type), kind, 'x')).toThrow(message);
  });

  it('refuses UTF-16 and UTF-32 by mark or pattern, bytes that are not UTF-8, and a foreign XML declaration', () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{}', 'utf16le')]);
    expect(() => decodeStrict(le, h('application/json'), 'json', 'x')).toThrow(/byte order mark/);
    expect(() => decodeStrict(Buffer.from('{}', 'utf16le'), h(), 'json', 'x')).toThrow(/NUL bytes/);
    expect(() => decodeStrict(Buffer.from('{"a":"é"}', 'latin1'), h(), 'json', 'x')).toThrow(
      /not valid UTF-8/,
    );
    // A body cut inside a character.
    expect(() => decodeStrict(utf8('{"a":"é"}').subarray(0, 7), h(), 'json', 'x')).toThrow(ParseError);
    const decl = utf8("<?xml version='1.0' encoding='windows-1252'?><A/>");
    expect(() => decodeStrict(decl, h('text/xml'), 'xml', 'x')).toThrow(/encoding="windows-1252"/);
    expect(decodeStrict(utf8('<?xml version="1.0" encoding="utf-8"?><A/>'), h(), 'xml', 'x')).toMatch(
      /<A\/>/,
    );
    // A UTF-8 BOM is dropped.
    expect(decodeStrict(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('[]')]), h(), 'json', 'x')).toBe(
      '[]',
    );
  });

  it('decodes a stream piece by piece with the same checks, characters split anywhere', () => {
    const text = '<?xml version="1.0"?><A>é 中 😀</A>';
    const bytes = utf8(text);
    for (let size = 1; size <= 5; size++) {
      const d = new StrictTextStream('xml', 'x');
      let out = '';
      for (let i = 0; i < bytes.length; i += size) out += d.push(bytes.subarray(i, i + size));
      out += d.end();
      expect(out).toBe(text);
    }
    const cut = new StrictTextStream('json', 'x');
    cut.push(utf8('"é').subarray(0, 2));
    expect(() => cut.end()).toThrow(/not valid UTF-8/);
    const declared = new StrictTextStream('xml', 'x');
    expect(() => {
      for (const ch of '<?xml version="1.0" encoding="UTF-16"?>') declared.push(utf8(ch));
    }).toThrow(/encoding="UTF-16"/);
  });
});
