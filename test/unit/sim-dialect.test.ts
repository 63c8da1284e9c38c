import { describe, expect, it } from 'vitest';
import { parseDialectArg, startSimulator } from '../sim';

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

describe('dialects the simulator cannot speak', () => {
  it('are refused at start and when switched at run time, not served with the scroll id dropped', async () => {
    await expect(startSimulator({ dialect: { edrBody: 'array' } })).rejects.toThrow(/no room for a scrollId/);
    const sim = await startSimulator({});
    try {
      expect(() => sim.setDialect({ edrBody: 'array' })).toThrow(/setDialect: .*no room for a scrollId/);
      expect(sim.dialect().edrBody).not.toBe('array');
      sim.setDialect({ edrBody: 'array', edrContinuation: 'header' });
      expect(sim.dialect().edrBody).toBe('array');
    } finally {
      await sim.close();
    }
  });
});
