import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../shared/errors';
import { parseXml } from '../../shared/modules/xml';
import {
  CERTVIEW_CERTIFICATES,
  EDR_COUNT,
  edrEvents,
  MOBILE_ASSET_LIST,
  PCI_SCAN_LIST,
} from '../../shared/qualys/envelopes';
import {
  checkShape,
  differences,
  id,
  int,
  list,
  matches,
  obj,
  oneOf,
  opt,
  str,
} from '../../shared/qualys/shapes';

const mobile = (response: string) =>
  parseXml(`<ASSET_LIST_VM_DETECTION_OUTPUT>${response}</ASSET_LIST_VM_DETECTION_OUTPUT>`);

describe('declared shapes', () => {
  it('names the path, what was expected and what came', () => {
    const s = obj({ data: obj({ totalCount: int({ min: 0 }), list: list(obj({ id: id() })) }) });
    expect(differences(s, { data: { totalCount: '3', list: [{ id: 1 }, {}] } })).toEqual([
      'data.totalCount: expected an integer ≥ 0, got a string',
      'data.list[1].id: missing (expected an id (a non-empty string or an integer))',
    ]);
    expect(differences(s, { data: { totalCount: 3, list: [{ id: 'a' }, { id: 2n }] } })).toEqual([]);
  });

  it('never reads a missing list as an empty one, nor a repeated singleton as one', () => {
    const s = obj({ items: list(str()), one: opt(str()) });
    expect(differences(s, {})).toEqual(['items: missing (expected a list)']);
    expect(differences(s, { items: [], one: ['a', 'b'] })).toEqual(['one: came 2 times, expected once']);
  });

  it('refuses unsafe integers unless read as bigint, and negative counts', () => {
    expect(differences(int(), 2 ** 53 + 2)).toEqual(['(body): expected an integer, got an unsafe integer']);
    expect(differences(int(), 2n ** 64n)).toEqual([]);
    expect(differences(int({ min: 0 }), -1)).toHaveLength(1);
  });

  it('oneOf accepts any matching option and otherwise names the whole', () => {
    const s = oneOf('a count', int({ min: 0 }), obj({ count: int({ min: 0 }) }));
    expect(differences(s, 4)).toEqual([]);
    expect(differences(s, { count: 4 })).toEqual([]);
    // An object meets the one object option: its differences say more than "not a count".
    expect(differences(s, { total: 4 })).toEqual(['count: missing (expected an integer ≥ 0)']);
    expect(differences(s, 'four')).toEqual(['(body): expected a count, got a string']);
  });

  it('checkShape throws a ParseError naming the endpoint', () => {
    expect(() => checkShape(EDR_COUNT, { cnt: 1 })).toThrow(ParseError);
    expect(() => checkShape(EDR_COUNT, { cnt: 1 })).toThrow(
      /^EDR events count does not have the declared shape/,
    );
  });
});

describe('endpoint envelopes', () => {
  it('PCI: a page naming scans must carry them', () => {
    const page = (data: Record<string, unknown>) => ({ responseApiVersion: 'V1', data });
    expect(() =>
      checkShape(
        PCI_SCAN_LIST,
        page({ totalCount: 2, fetchRange: '1-2', scanInfoList: [{ scanId: 1 }, { scanId: 2 }] }),
      ),
    ).not.toThrow();
    expect(() => checkShape(PCI_SCAN_LIST, page({ totalCount: 2, fetchRange: '1-2' }))).toThrow(
      /scanInfoList: missing while fetchRange '1-2' names scans/,
    );
    expect(() => checkShape(PCI_SCAN_LIST, page({ totalCount: 0, fetchRange: '1-0' }))).not.toThrow();
    expect(() => checkShape(PCI_SCAN_LIST, { data: { totalCount: 'many' } })).toThrow(/totalCount/);
  });

  it('EDR: array or {data}, every event with a string id and a readable time', () => {
    const s = edrEvents('dateTime');
    const ev = { id: 'a', dateTime: '2020-08-17T04:15:06.000+0000' };
    expect(() => checkShape(s, [ev])).not.toThrow();
    expect(() => checkShape(s, { data: [ev], scrollId: 'x' })).not.toThrow();
    expect(() => checkShape(s, { data: [{ ...ev, dateTime: 'yesterday' }] })).toThrow(ParseError);
    expect(() => checkShape(s, { events: [ev] })).toThrow(ParseError);
  });

  it('Mobile: a repeated RESPONSE or ASSET_LIST is refused, not read as "no assets"', () => {
    const ok =
      '<RESPONSE><DATETIME>x</DATETIME><ASSET_LIST><ASSET><ID>1</ID></ASSET></ASSET_LIST></RESPONSE>';
    expect(() => checkShape(MOBILE_ASSET_LIST, mobile(ok))).not.toThrow();
    expect(() => checkShape(MOBILE_ASSET_LIST, mobile(ok + ok))).toThrow(/RESPONSE: came 2 times/);
    const twoLists =
      '<RESPONSE><ASSET_LIST><ASSET><ID>1</ID></ASSET></ASSET_LIST><ASSET_LIST><ASSET><ID>2</ID></ASSET></ASSET_LIST></RESPONSE>';
    expect(() => checkShape(MOBILE_ASSET_LIST, mobile(twoLists))).toThrow(/ASSET_LIST: came 2 times/);
    expect(() => checkShape(MOBILE_ASSET_LIST, mobile('<RESPONSE><ASSET_LIST/></RESPONSE>'))).not.toThrow();
    expect(() =>
      checkShape(
        MOBILE_ASSET_LIST,
        mobile('<RESPONSE><ASSET_LIST><ASSET><IP>1</IP></ASSET></ASSET_LIST></RESPONSE>'),
      ),
    ).toThrow(/ASSET\[0\]\.ID: missing/);
    expect(() => checkShape(MOBILE_ASSET_LIST, parseXml('<OTHER><RESPONSE/></OTHER>'))).toThrow(
      /ASSET_LIST_VM_DETECTION_OUTPUT: missing/,
    );
  });
});

describe('the compiled check', () => {
  const ENVELOPES = [
    PCI_SCAN_LIST,
    EDR_COUNT,
    edrEvents('dateTime'),
    MOBILE_ASSET_LIST,
    CERTVIEW_CERTIFICATES,
  ];
  // Values near the envelopes: their own field names, lists of records, big integers, repeats.
  const near = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(
        '',
        ' ',
        'x',
        '2020-08-17T04:15:06.000+0000',
        '1-10',
        0,
        -1,
        1.5,
        2 ** 53 + 2,
        7n,
        true,
        null,
      ),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(
        fc.constantFrom(
          'data',
          'totalCount',
          'scanInfoList',
          'fetchRange',
          'scanId',
          'id',
          'dateTime',
          'count',
          'scrollId',
          'ASSET_LIST_VM_DETECTION_OUTPUT',
          'RESPONSE',
          'ASSET_LIST',
          'ASSET',
          'ID',
          'WARNING',
          'URL',
        ),
        tie('value'),
        { maxKeys: 4 },
      ),
    ),
  })).value;

  it('agrees with the walk that names differences, on every value', () => {
    fc.assert(
      fc.property(near, (v) => {
        for (const e of ENVELOPES) expect(matches(e.body)(v)).toBe(differences(e.body, v).length === 0);
      }),
      { numRuns: 2000 },
    );
  });
});
