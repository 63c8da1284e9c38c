import { describe, expect, it } from 'vitest';
import { parseDialectArg } from '../sim';

describe('qexport sim --dialect', () => {
  it('parses every kind of key', () => {
    expect(
      parseDialectArg(
        'edrOrder=ascending,edrBody=array,edrContinuation=header,edrCount=absent,pciFetchRange=short,' +
          'pciInsertAfterFirstPage=3x2,certviewInsertAfterFirstPage=2,certviewVersions=v2.1+v2.2,' +
          'mobileUrlHost=https://qualysapi.qg2.apps.qualys.com,mobileIdMin=last',
      ),
    ).toEqual({
      edrOrder: 'ascending',
      edrBody: 'array',
      edrContinuation: 'header',
      edrCount: 'absent',
      pciFetchRange: 'short',
      pciInsertAfterFirstPage: { count: 3, times: 2 },
      certviewInsertAfterFirstPage: { count: 2, times: 1 },
      certviewVersions: ['v2.1', 'v2.2'],
      mobileUrlHost: 'https://qualysapi.qg2.apps.qualys.com',
      mobileIdMin: 'last',
    });
  });

  it.each([
    ['edrOrder=sideways', /edrOrder is one of/],
    ['colour=blue', /unknown key 'colour'/],
    ['pciInsertAfterFirstPage=many', /COUNT or COUNTxTIMES/],
    ['edrBody=array', /no room for a scrollId/],
    ['edrOrder', /expected key=value/],
  ])('%s → a clear error', (arg, message) => {
    expect(() => parseDialectArg(arg)).toThrow(message);
  });
});
