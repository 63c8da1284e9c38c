import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { ParseError, QexportError } from '../../shared/errors';
import { parseCertviewPage } from '../../shared/modules/certview-certificates';
import { parseEdrPage } from '../../shared/modules/edr-events';
import { MOBILE_LISTING } from '../../shared/modules/mobile-assets';
import { readTruncationBody } from '../../shared/modules/xml-truncation';
import { parsePciPage } from '../../shared/modules/pci-scans';
import { parseXml } from '../../shared/modules/xml';
import { mobileAsset, mobileAssetXml } from '../sim/data';

const res = (text: string) => ({
  status: 200,
  headers: new Headers(),
  url: 'https://gw.example.com/x',
  text,
});
/** A Mobile body read as the paginator reads a stream: its assets and the next id_min. */
const mobilePage = (text: string) => {
  const r = readTruncationBody(
    MOBILE_LISTING,
    text,
    { params: { action: 'list' }, idMin: null },
    'https://gw.example.com',
  );
  return { assets: r.records, next: r.next?.idMin };
};
const mobileDoc = (assets: string, warning = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ASSET_LIST_VM_DETECTION_OUTPUT SYSTEM "https://x/asset_list_output.dtd">\n` +
  `<ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2021-10-18T07:58:11.268Z</DATETIME><ASSET_LIST>${assets}</ASSET_LIST>${warning}</RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>`;

/** Every parser ends in a correct parse or a typed error: never a hang, a crash of another kind, or a silent drop. */
const parsers: [string, (text: string) => unknown][] = [
  ['pci', (t) => parsePciPage(res(t))],
  ['certview', (t) => parseCertviewPage(res(t))],
  ['edr', (t) => parseEdrPage(res(t))],
  ['mobile', (t) => mobilePage(t)],
];

describe.each(parsers)('%s parser under hostile input', (_name, parse) => {
  it('arbitrary strings give a parse or a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' })), (text) => {
        try {
          parse(text);
        } catch (err) {
          expect(err).toBeInstanceOf(QexportError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary JSON values of the wrong shape give a typed error or a parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parse(JSON.stringify(v));
        } catch (err) {
          expect(err).toBeInstanceOf(QexportError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('JSON pages', () => {
  it('every prefix of a valid page is either refused or parsed without dropping records silently', () => {
    const page = JSON.stringify({
      data: [
        { id: 'a', dateTime: '2020-08-17T04:15:06.000+0000' },
        { id: 'b', dateTime: '2020-08-17T04:15:07.000+0000' },
      ],
      scrollId: 's',
    });
    for (let cut = 0; cut < page.length; cut++) {
      expect(() => parseEdrPage(res(page.slice(0, cut)))).toThrow(ParseError);
    }
    expect(parseEdrPage(res(page)).data).toHaveLength(2);
  });

  it('wrong types are named', () => {
    expect(() => parsePciPage(res('{"data":{"totalCount":"12","scanInfoList":[]}}'))).toThrow(/totalCount/);
    expect(() => parsePciPage(res('{"data":{"totalCount":1,"scanInfoList":[{"title":"x"}]}}'))).toThrow(
      /scanId/,
    );
    expect(() => parseCertviewPage(res('{"data":[]}'))).toThrow(/expected a list, got an object/);
    expect(() => parseEdrPage(res('{"data":[{"id":1,"dateTime":"x"}]}'))).toThrow(
      /data\[0\]\.id: expected a non-empty string, got an integer/,
    );
    expect(() => parseEdrPage(res('{"data":[{"id":"1","dateTime":"yesterday"}]}'))).toThrow(
      /data\[0\]\.dateTime: expected a string/,
    );
  });

  it('deep nesting does not crash the parser', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expect(() => parseCertviewPage(res(deep))).toThrow(QexportError);
  });
});

describe('XML pages', () => {
  it('parses the documented shape: repeated elements are arrays, CDATA is text, values stay strings', () => {
    const assets = [mobileAsset(1, 0), mobileAsset(1, 1), mobileAsset(1, 5)];
    const page = mobilePage(mobileDoc(assets.map(mobileAssetXml).join('')));
    expect(page.assets).toEqual(assets);
    expect(page.next).toBeUndefined();
    const one = mobilePage(mobileDoc(mobileAssetXml(assets[1]!)));
    expect(Array.isArray(one.assets)).toBe(true);
    expect(one.assets).toHaveLength(1);
  });

  it('follows WARNING 1980 only to the configured origin', () => {
    const w = (u: string) =>
      `<WARNING><CODE>1980</CODE><TEXT>limit</TEXT><URL><![CDATA[${u}]]></URL></WARNING>`;
    expect(mobilePage(mobileDoc('', w('https://gw.example.com/sem/v1/assetList?id_min=9'))).next).toBe('9');
    expect(() => mobilePage(mobileDoc('', w('https://evil.example.com/sem')))).toThrow(/refusing/);
  });

  it('refuses entity expansion (billion laughs) and internal DTDs', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`;
    expect(() => parseXml(bomb)).toThrow(/DTD|entity/);
  });

  it('refuses absurd nesting', () => {
    expect(() => parseXml(`${'<a>'.repeat(200)}${'</a>'.repeat(200)}`)).toThrow(/nesting/);
  });

  it('huge CDATA is kept whole', () => {
    const big = 'x'.repeat(2_000_000);
    const asset = {
      ...mobileAsset(1, 1),
      DETECTION_LIST: {
        DETECTION: [
          { ...(mobileAsset(1, 1).DETECTION_LIST as { DETECTION: object[] }).DETECTION[0]!, RESULTS: big },
        ],
      },
    };
    const page = mobilePage(mobileDoc(mobileAssetXml(asset)));
    expect(
      (page.assets[0]!.DETECTION_LIST as { DETECTION: { RESULTS: string }[] }).DETECTION[0]!.RESULTS,
    ).toHaveLength(2_000_000);
  });

  it('every truncation of a valid document is refused, never half-parsed', () => {
    const doc = mobileDoc([0, 1, 2].map((i) => mobileAssetXml(mobileAsset(2, i))).join(''));
    for (let cut = 1; cut < doc.length; cut += 7) {
      expect(() => mobilePage(doc.slice(0, cut))).toThrow(QexportError);
    }
  });

  it('SIMPLE_RETURN errors carry their code and text; an ASSET without ID is refused', () => {
    expect(() =>
      mobilePage(
        '<SIMPLE_RETURN><RESPONSE><CODE>1901</CODE><TEXT>bad action</TEXT></RESPONSE></SIMPLE_RETURN>',
      ),
    ).toThrow(/code 1901: bad action/);
    expect(() => mobilePage(mobileDoc('<ASSET><IP>1.2.3.4</IP></ASSET>'))).toThrow(
      /does not have the declared shape: ID: missing/,
    );
  });

  it('random XML-ish input never escapes as an untyped error', () => {
    const tag = fc.constantFrom(
      'ASSET',
      'ID',
      'ASSET_LIST',
      'DETECTION_LIST',
      'DETECTION',
      'WARNING',
      'URL',
      'RESPONSE',
    );
    const node: fc.Arbitrary<string> = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc
          .tuple(tag, fc.array(tie('node'), { maxLength: 3 }))
          .map(([t, kids]) => `<${t}>${kids.join('')}</${t}>`),
        fc.tuple(tag, fc.string()).map(([t, s]) => `<${t}><![CDATA[${s}]]></${t}>`),
      ),
    })).node as fc.Arbitrary<string>;
    fc.assert(
      fc.property(node, (body) => {
        try {
          mobilePage(mobileDoc(body));
        } catch (err) {
          expect(err).toBeInstanceOf(QexportError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('well-formed documents parse exactly as fast-xml-parser (the previous parser) read them', () => {
    // The library pipeline the exporter used before its own reader, with the same options.
    const reference = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      processEntities: true,
      htmlEntities: false,
      ignoreDeclaration: true,
      ignorePiTags: true,
      isArray: (_n, jpath) => {
        const p = String(jpath).split('.');
        return p.length >= 2 && p[p.length - 2]!.endsWith('_LIST');
      },
    });
    const tag = fc.constantFrom('ASSET', 'ID', 'ASSET_LIST', 'DETECTION_LIST', 'DETECTION', 'X', 'Y_LIST');
    // Text without markup characters, or with the five predefined entities.
    const text = fc
      .array(
        fc.oneof(
          fc.constantFrom('a', ' ', '\n', '1', 'é', '&lt;', '&gt;', '&amp;', '&quot;', '&apos;', '>', '"'),
          fc.string({ maxLength: 4 }).map((t) => t.replace(/[<&\]]/g, '')),
        ),
        { maxLength: 6 },
      )
      .map((a) => a.join(''));
    const attrs = fc
      .uniqueArray(
        fc.tuple(
          fc.constantFrom('a', 'b', 'id'),
          text.map((t) => t.replace(/"/g, '')),
        ),
        {
          selector: ([k]) => k,
          maxLength: 2,
        },
      )
      .map((list) => list.map(([k, v]) => ` ${k}="${v}"`).join(''));
    // fast-xml-parser also turned the attributes of *_LIST elements into arrays (its isArray sees attribute
    // paths); ours keeps attributes strings, so the comparison leaves attributes off those elements.
    const withAttrs = (t: string, a: string) => (t.endsWith('_LIST') ? t : `${t}${a}`);
    const node: fc.Arbitrary<string> = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.tuple(tag, attrs).map(([t, a]) => `<${withAttrs(t, a)}/>`),
        fc.tuple(tag, attrs, text).map(([t, a, v]) => `<${withAttrs(t, a)}>${v}</${t}>`),
        fc
          .tuple(
            tag,
            fc.string().map((v) => v.replace(/]]>/g, '')),
          )
          .map(([t, v]) => `<${t}><![CDATA[${v}]]></${t}>`),
        fc
          .tuple(tag, attrs, fc.array(tie('node'), { maxLength: 4 }))
          .map(([t, a, kids]) => `<${withAttrs(t, a)}>${kids.join('')}</${t}>`),
      ),
    })).node as fc.Arbitrary<string>;
    fc.assert(
      fc.property(fc.tuple(tag, fc.array(node, { maxLength: 4 })), ([root, kids]) => {
        const doc = `<?xml version="1.0"?>\n<!-- c -->\n<${root}>${kids.join('')}</${root}>\n`;
        expect(parseXml(doc)).toEqual(reference.parse(doc));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes character references and the predefined entities; refuses undeclared entities', () => {
    expect(parseXml('<A>&#65;&#x42;&lt;&amp;&gt;&quot;&apos;&#x1F600;</A>')).toEqual({ A: 'AB<&>"\'😀' });
    expect(parseXml('<A b="&lt;x&#38;"/>')).toEqual({ A: { '@_b': '<x&' } });
    expect(parseXml('<X_LIST a="1"><I>1</I></X_LIST>')).toEqual({ X_LIST: { '@_a': '1', I: ['1'] } });
    expect(() => parseXml('<A>&foo;</A>')).toThrow(/undeclared entity '&foo;'/);
    expect(() => parseXml('<A>a & b</A>')).toThrow(ParseError);
    expect(() => parseXml('<A>&#0;</A>')).toThrow(/not an XML character/);
    expect(() => parseXml('<A>&#xD800;</A>')).toThrow(ParseError);
  });

  it('refuses what is not well-formed, naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['<A></B>', /end tag <\/B> does not match <A>/],
      ['<A><B></A></B>', /does not match/],
      ['<A/><B/>', /second root/],
      ['x<A/>', /text outside the root/],
      ['<A/>x', /text outside the root/],
      ['<A>a]]>b</A>', /']]>'/],
      ['<A b="1" b="2"/>', /duplicate attribute 'b'/],
      ['<A b="<"/>', /'<' in an attribute value/],
      ['<A b=1/>', /not quoted/],
      ['<A b="1"c="2"/>', /malformed start tag/],
      ['<A><!-- a -- b --></A>', /'--' inside a comment/],
      [' <?xml version="1.0"?><A/>', /declaration is not at the start/],
      ['<A><!FOO></A>', /unknown markup/],
      ['<!DOCTYPE A><!DOCTYPE A><A/>', /DOCTYPE after the start/],
      ['<A><![CDATA[x</A>', /CDATA section is cut short/],
      ['<1A/>', /invalid element name/],
      ['', /no root element/],
      ['  <!-- only a comment -->  ', /no root element/],
      ['<A><B>', /element <B> is not closed/],
      ['<A><!ENTITY x "y"></A>', /entity declarations/],
      ['<!DOCTYPE A [<!ELEMENT A ANY>]><A/>', /internal DTD subset/],
    ];
    for (const [doc, message] of cases) {
      expect(() => parseXml(doc), doc).toThrow(ParseError);
      expect(() => parseXml(doc), doc).toThrow(message);
    }
  });

  it('accepts the prolog Qualys sends: BOM, declaration, external DOCTYPE, comments before and after', () => {
    const doc =
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE A SYSTEM "https://x/a.dtd">\n<!-- c -->' +
      '<A><?pi x?><B >1</B ><C\n/></A>\n<!-- trailing -->\n';
    expect(parseXml(doc)).toEqual({ A: { B: '1', C: '' } });
  });

  it('element names that are Object.prototype members stay plain data', () => {
    const doc = parseXml(
      '<A><constructor>1</constructor><toString>2</toString><__proto__>3</__proto__><__proto__>4</__proto__></A>',
    );
    const a = doc.A as Record<string, unknown>;
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(a))).toEqual(
      JSON.parse('{"constructor":"1","toString":"2","__proto__":["3","4"]}'),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
