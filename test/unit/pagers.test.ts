import { fakeClient } from '../support/fake-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { IncompleteError, OriginError, ParseError } from '../../shared/errors';
import {
  edrEvents,
  edrQuery,
  edrSort,
  edrWindowQuery,
  parseEdrCount,
  parseEdrPage,
  type EdrCursor,
} from '../../shared/modules/edr-events';
import { apiTime, MOBILE_LISTING } from '../../shared/modules/mobile-assets';
import { continuation } from '../../shared/modules/xml-truncation';
import { parsePciPage, pciScans, type PciCursor } from '../../shared/modules/pci-scans';
import type { ExportRecord } from '../../shared/modules/types';
import type { QualysClient, QualysRequest, QualysResponse } from '../../shared/qualys/types';

const res = (text: string, headers: Record<string, string> = {}): QualysResponse => ({
  status: 200,
  headers: new Headers(headers),
  url: 'https://gw.example.com/x',
  text,
});
const ev = (id: string, dateTime = '2020-08-17T04:15:06.000+0000') => ({ id, dateTime });

describe('EDR page dialects', () => {
  it('a top-level array or {data}; the continuation id from the body or a header', () => {
    expect(parseEdrPage(res(JSON.stringify([ev('a'), ev('b')])))).toEqual({ data: [ev('a'), ev('b')] });
    expect(parseEdrPage(res(JSON.stringify([ev('a')]), { scrollId: 'h1' })).scrollId).toBe('h1');
    expect(parseEdrPage(res(JSON.stringify([ev('a')]), { 'X-Scroll-Id': 'h2' })).scrollId).toBe('h2');
    expect(parseEdrPage(res(JSON.stringify({ data: [ev('a')], scrollId: 'b1' }))).scrollId).toBe('b1');
    expect(
      parseEdrPage(res(JSON.stringify({ data: [ev('a')], scrollId: 'b1' }), { scrollId: 'b1' })).scrollId,
    ).toBe('b1');
    expect(parseEdrPage(res(JSON.stringify({ data: [] }))).scrollId).toBeUndefined();
  });

  it('refuses what it cannot read, naming it', () => {
    expect(() => parseEdrPage(res('{"events":[]}'))).toThrow(
      /EDR events response does not have the declared shape: data: missing \(expected a list\)/,
    );
    expect(() =>
      parseEdrPage(res(JSON.stringify({ data: [ev('a')], scrollId: 'b' }), { scrollId: 'h' })),
    ).toThrow(/two different continuation ids/);
    // Windowed on eventProcessedTime, every event needs that field.
    expect(() => parseEdrPage(res(JSON.stringify([ev('a')])), 'eventProcessedTime')).toThrow(
      /\[0\]\.eventProcessedTime: missing/,
    );
  });

  it('/count answers {"count": N} (or a bare N); anything else is a ParseError', () => {
    expect(parseEdrCount(res('{"count": 42}'))).toBe(42);
    expect(parseEdrCount(res('7'))).toBe(7);
    for (const bad of ['{"count":"42"}', '{"count":-1}', '{"total":3}', '{"count":1.5}']) {
      expect(() => parseEdrCount(res(bad))).toThrow(ParseError);
    }
  });

  it('queries: an explicit ascending sort on the window field; /count asks about the whole window', () => {
    const c: EdrCursor = {
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
      filter: 'type:MUTEX',
      // A checkpoint of an earlier version: the undocumented spelling, ids rather than fingerprints.
      timeField: 'event.eventProcessedTime',
      after: { dateTime: '2026-01-01T10:00:00.000+0000', ids: ['x'] },
      skip: [],
      recent: [],
      overlapMs: 0,
    };
    expect(edrSort('event.datetime')).toBe('[{"event.datetime":"asc"}]');
    expect(edrSort('event.eventprocesstime')).toBe('[{"event.eventprocesstime":"asc"}]');
    // Sent as Qualys documents the field, whatever the checkpoint spelled.
    expect(edrQuery(c)).toBe(
      "event.eventprocesstime:['2026-01-01T10:00:00.000Z'..'2026-01-02T00:00:00.000Z'] AND (type:MUTEX)",
    );
    expect(edrWindowQuery(c)).toBe(
      "event.eventprocesstime:['2026-01-01T00:00:00.000Z'..'2026-01-02T00:00:00.000Z'] AND (type:MUTEX)",
    );
  });
});

describe('PCI fetchRange', () => {
  const page = (fetchRange: string, n: number) =>
    JSON.stringify({
      data: {
        totalCount: 180,
        fetchRange,
        scanInfoList: Array.from({ length: n }, (_, i) => ({ scanId: i + 1 })),
      },
    });
  it('is inclusive and must agree with the scans returned', () => {
    expect(parsePciPage(res(page('1-5', 5))).range).toEqual({ first: 1, last: 5 });
    expect(parsePciPage(res(page('11-10', 0))).scans).toHaveLength(0);
    expect(() => parsePciPage(res(page('1-10', 5)))).toThrow(/fetchRange '1-10' does not match the 5 scans/);
    // Absent or unreadable: the scans returned decide the next offset.
    expect(parsePciPage(res(page('', 3))).range).toBeUndefined();
  });
});

/** A PCI list the test changes between answers, served through a fake client (newest first, 1-based offsets). */
function scriptedPci(list: number[], onAnswer: (offset: number, answered: number) => void): QualysClient {
  let answered = 0;
  return fakeClient({
    async call<T>(req: QualysRequest, parse: (r: QualysResponse) => T): Promise<T> {
      await Promise.resolve();
      const offset = Number(req.query?.offset);
      const limit = Number(req.query?.limit);
      const scans = list.slice(offset - 1, offset - 1 + limit).map((scanId) => ({ scanId }));
      const body = {
        data: {
          totalCount: list.length,
          fetchRange: `${offset}-${offset + scans.length - 1}`,
          scanInfoList: scans,
        },
      };
      const out = parse(res(JSON.stringify(body)));
      onAnswer(offset, ++answered);
      return out;
    },
  });
}

async function readPci(client: QualysClient, pageSize: number, concurrency = 1) {
  const config = loadConfig({
    QUALYS_GATEWAY_URL: 'https://gw.example.com',
    QUALYS_PCI_PAGE_SIZE: String(pageSize),
    QUALYS_CONCURRENCY: String(concurrency),
  });
  let cursor = pciScans.start({ config, now: new Date(), committed: undefined });
  const written: ExportRecord[] = [];
  for await (const p of pciScans.pages(client, cursor, config)) {
    written.push(...p.records);
    cursor = p.cursor;
  }
  const checks = await pciScans.prove(cursor, { client, config, records: written.length });
  return { ids: written.map((r) => r.scanId as number), cursor: cursor as PciCursor, checks };
}

describe('PCI passes', () => {
  it('a scan added while an already-read one is deleted (same totalCount) is caught by the closing read', async () => {
    const list = [4, 3, 2, 1];
    const client = scriptedPci(list, (offset, n) => {
      if (offset === 1 && n === 1) {
        list.splice(list.indexOf(4), 1); // scan 4 (already read) deleted…
        list.unshift(5); // …and scan 5 created: totalCount stays 4
      }
    });
    const { ids, cursor, checks } = await readPci(client, 2);
    expect(ids.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(cursor).toMatchObject({ totalCount: 4, finalDistinct: 4, pass: 2 });
    expect(checks.every((c) => c.outcome === 'passed')).toBe(true);
    expect(checks[1]?.detail).toMatch(/1 no longer listed/);
  });

  it('a listing that keeps moving throws IncompleteError naming the totals', async () => {
    const list = Array.from({ length: 9 }, (_, i) => 100 - i);
    let next = 200;
    const client = scriptedPci(list, (offset) => {
      if (offset === 1) list.unshift(next++);
    });
    await expect(readPci(client, 4, 2)).rejects.toThrow(IncompleteError);
    await expect(readPci(client, 4, 2)).rejects.toThrow(/kept moving: 5 passes/);
  });

  it('guesses ahead at the learned page length and never yields a wrong guess', async () => {
    const list = Array.from({ length: 23 }, (_, i) => 500 - i);
    const asked: number[] = [];
    const client = scriptedPci(list, (offset) => asked.push(offset));
    const capped: QualysClient = {
      ...client,
      // The API answers at most 3 scans whatever limit says.
      call: (req, parse) =>
        client.call({ ...req, query: { ...req.query, limit: Math.min(3, Number(req.query?.limit)) } }, parse),
    };
    const { ids, checks } = await readPci(capped, 10, 3);
    expect(ids).toEqual(list);
    expect(checks.every((c) => c.outcome === 'passed')).toBe(true);
    // After the first page the guesses follow the 3 scans the API really returns.
    expect(asked.slice(0, 4)).toEqual([1, 4, 7, 10]);
  });
});

describe('truncation URLs: the continuation is rebuilt from our parameters plus id_min, never followed', () => {
  const gw = 'https://gw.example.com';
  const ours = {
    action: 'list',
    truncation_limit: '1000',
    detection_updated_since: '2026-03-01T00:00:00Z',
    detection_updated_before: '2026-03-01T06:00:00Z',
  };
  const next = (url: string, current: string | null = null) =>
    continuation(url, MOBILE_LISTING, ours, gw, current);

  it('on the configured origin and path: only its id_min is taken', () => {
    expect(next(`${gw}/sem/v1/assetList?action=list&id_min=9&truncation_limit=1000`)).toEqual({
      idMin: '9',
      lacking: ['detection_updated_since', 'detection_updated_before'],
    });
  });

  it('parameters of ours the URL lacks are fine (ours are sent), and the same instant may be spelled otherwise', () => {
    expect(next(`${gw}/sem/v1/assetList?id_min=643`).lacking).toEqual(Object.keys(ours));
    expect(
      next(
        `${gw}/sem/v1/assetList?id_min=643&detection_updated_since=2026-03-01T00:00:00.000Z` +
          '&detection_updated_before=2026-03-01%2006:00:00',
      ).lacking,
    ).toEqual(['action', 'truncation_limit']);
  });

  it('a URL naming another host gives only its id_min, re-issued on the configured origin and named', () => {
    for (const host of ['https://qualysapi.qg2.apps.qualys.com', 'https://evil.example.com']) {
      expect(next(`${host}/sem/v1/assetList?id_min=643`)).toMatchObject({ idMin: '643', rehomedFrom: host });
    }
    expect(next(`${gw}/sem/v1/assetList?id_min=643`).rehomedFrom).toBeUndefined();
  });

  it.each([
    ['ftp://gw.example.com/sem/v1/assetList?id_min=1', OriginError, /over ftp:/],
    ['https://user:pw@gw.example.com/sem/v1/assetList?id_min=1', OriginError, /cannot be continued safely/],
    [`${gw}/api/2.0/fo/asset/host/?id_min=1`, OriginError, /only \/sem\/v1\/assetList/],
    ['not a url', OriginError, /malformed/],
    [
      `${gw}/sem/v1/assetList?id_min=9&detection_updated_since=2026-02-01T00:00:00Z`,
      IncompleteError,
      /changes detection_updated_since from 2026-03-01T00:00:00Z to 2026-02-01T00:00:00Z/,
    ],
    [
      `${gw}/sem/v1/assetList?id_min=9&truncation_limit=10`,
      IncompleteError,
      /changes truncation_limit from 1000 to 10/,
    ],
    [
      `${gw}/sem/v1/assetList?id_min=9&includeFields=ID`,
      IncompleteError,
      /adds includeFields=ID, which this run did not ask for/,
    ],
    [`${gw}/sem/v1/assetList?id_min=9&id_min=12`, IncompleteError, /names id_min twice/],
    [`${gw}/sem/v1/assetList?action=list`, ParseError, /no usable id_min/],
    [`${gw}/sem/v1/assetList?id_min=x9`, ParseError, /no usable id_min/],
  ])('refuses %s', (url, type, message) => {
    expect(() => next(url)).toThrow(type);
    expect(() => next(url)).toThrow(message);
  });

  it('id_min must move forward', () => {
    expect(next(`${gw}/sem/v1/assetList?id_min=10`, '9').idMin).toBe('10');
    expect(() => next(`${gw}/sem/v1/assetList?id_min=9`, '9')).toThrow(/does not move forward/);
    expect(() => next(`${gw}/sem/v1/assetList?id_min=8`, '9')).toThrow(IncompleteError);
  });

  it('API times are whole seconds, rounded down', () => {
    expect(apiTime(Date.parse('2026-03-01T05:59:59.999Z'))).toBe('2026-03-01T05:59:59Z');
  });
});

describe('EDR window', () => {
  it('an event outside the requested window (the filter was not applied) fails the run, naming it', async () => {
    const config = loadConfig({ QUALYS_GATEWAY_URL: 'https://gw.example.com', QUALYS_EDR_PAGE_SIZE: '10' });
    const cursor = edrEvents.start({
      config,
      now: new Date('2026-01-02T00:00:00.000Z'),
      committed: undefined,
    });
    const client = fakeClient({
      call: async <T>(_req: QualysRequest, parse: (r: QualysResponse) => T) =>
        parse(res(JSON.stringify({ data: [ev('old', '2025-06-01T00:00:00.000+0000')], scrollId: 's' }))),
    });
    const read = async () => {
      for await (const _page of edrEvents.pages(client, cursor, config)) {
        // consume
      }
    };
    await expect(read()).rejects.toThrow(IncompleteError);
    await expect(read()).rejects.toThrow(
      /event old at 2025-06-01T00:00:00.000\+0000, outside the requested window/,
    );
  });
});
