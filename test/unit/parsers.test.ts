import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError, QexportError } from '../../shared/errors';
import { parseCertviewPage } from '../../shared/modules/certview-certificates';
import { parseEdrPage } from '../../shared/modules/edr-events';
import { parseMobilePage } from '../../shared/modules/mobile-assets';
import { parsePciPage } from '../../shared/modules/pci-scans';
import { parseXml } from '../../shared/modules/xml';
import { mobileAsset, mobileAssetXml } from '../sim/data';

const res = (text: string) => ({
  status: 200,
  headers: new Headers(),
  url: 'https://gw.example.com/x',
  text,
});
const sameOrigin = {
  assertSameOrigin: (u: string) => {
    const url = new URL(u);
    if (url.origin !== 'https://gw.example.com') throw new QexportError('origin', `refusing ${url.origin}`);
    return url;
  },
};
const mobileDoc = (assets: string, warning = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ASSET_LIST_VM_DETECTION_OUTPUT SYSTEM "https://x/asset_list_output.dtd">\n` +
  `<ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2021-10-18T07:58:11.268Z</DATETIME><ASSET_LIST>${assets}</ASSET_LIST>${warning}</RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>`;

/** Every parser ends in a correct parse or a typed error: never a hang, a crash of another kind, or a silent drop. */
const parsers: [string, (text: string) => unknown][] = [
  ['pci', (t) => parsePciPage(res(t))],
  ['certview', (t) => parseCertviewPage(res(t))],
  ['edr', (t) => parseEdrPage(res(t))],
  ['mobile', (t) => parseMobilePage(sameOrigin, res(t))],
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
    expect(() => parseCertviewPage(res('{"data":[]}'))).toThrow(/array/);
    expect(() => parseEdrPage(res('{"data":[{"id":1,"dateTime":"x"}]}'))).toThrow(/string id and dateTime/);
    expect(() => parseEdrPage(res('{"data":[{"id":"1","dateTime":"yesterday"}]}'))).toThrow(
      /unreadable dateTime/,
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
    const page = parseMobilePage(sameOrigin, res(mobileDoc(assets.map(mobileAssetXml).join(''))));
    expect(page.assets).toEqual(assets);
    expect(page.next).toBeNull();
    const one = parseMobilePage(sameOrigin, res(mobileDoc(mobileAssetXml(assets[1]!))));
    expect(Array.isArray(one.assets)).toBe(true);
    expect(one.assets).toHaveLength(1);
  });

  it('follows WARNING 1980 only to the configured origin', () => {
    const w = (u: string) =>
      `<WARNING><CODE>1980</CODE><TEXT>limit</TEXT><URL><![CDATA[${u}]]></URL></WARNING>`;
    expect(
      parseMobilePage(sameOrigin, res(mobileDoc('', w('https://gw.example.com/sem/v1/assetList?id_min=9'))))
        .next,
    ).toContain('id_min=9');
    expect(() => parseMobilePage(sameOrigin, res(mobileDoc('', w('https://evil.example.com/sem'))))).toThrow(
      /refusing/,
    );
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
    const page = parseMobilePage(sameOrigin, res(mobileDoc(mobileAssetXml(asset))));
    expect(
      (page.assets[0]!.DETECTION_LIST as { DETECTION: { RESULTS: string }[] }).DETECTION[0]!.RESULTS,
    ).toHaveLength(2_000_000);
  });

  it('every truncation of a valid document is refused, never half-parsed', () => {
    const doc = mobileDoc([0, 1, 2].map((i) => mobileAssetXml(mobileAsset(2, i))).join(''));
    for (let cut = 1; cut < doc.length; cut += 7) {
      expect(() => parseMobilePage(sameOrigin, res(doc.slice(0, cut)))).toThrow(QexportError);
    }
  });

  it('SIMPLE_RETURN errors carry their code and text; an ASSET without ID is refused', () => {
    expect(() =>
      parseMobilePage(
        sameOrigin,
        res('<SIMPLE_RETURN><RESPONSE><CODE>1901</CODE><TEXT>bad action</TEXT></RESPONSE></SIMPLE_RETURN>'),
      ),
    ).toThrow(/code 1901: bad action/);
    expect(() => parseMobilePage(sameOrigin, res(mobileDoc('<ASSET><IP>1.2.3.4</IP></ASSET>')))).toThrow(
      /without an ID/,
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
          parseMobilePage(sameOrigin, res(mobileDoc(body)));
        } catch (err) {
          expect(err).toBeInstanceOf(QexportError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
