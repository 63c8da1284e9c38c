// Pipelined pages (issue 14 item 4): the next request leaves on a cheap read of the raw body, and is used only
// when the full parse of the same page agrees; otherwise it is dropped and the module's safe path is taken.
import { describe, expect, it } from 'vitest';
import { fakeClient, okResponse } from '../support/fake-client';
import { loadConfig } from '../../shared/config';
import { edrEvents, peekEdrNextId } from '../../shared/modules/edr-events';
import { mobileAssets } from '../../shared/modules/mobile-assets';
import type { ExportRecord, ModuleDef } from '../../shared/modules/types';
import type { QualysClient, QualysRequest, QualysResponse } from '../../shared/qualys/types';

const GW = 'https://gw.example.com';
const res = (text: string, headers: Record<string, string> = {}) => okResponse(text, headers, `${GW}/x`);

/** Serves `answer(req)` after a tick and records what was asked, in order. */
function scriptedClient(
  answer: (req: QualysRequest) => QualysResponse,
  asked: QualysRequest[],
): QualysClient {
  return fakeClient({
    async call<T>(req: QualysRequest, parse: (r: QualysResponse) => T): Promise<T> {
      asked.push(req);
      await new Promise((r) => setTimeout(r, 1));
      return parse(answer(req));
    },
    assertSameOrigin: (u) => {
      const url = new URL(u);
      if (url.origin !== GW) throw new Error(`off origin: ${url.origin}`);
      return url;
    },
    calls: () => asked.length,
  });
}

async function readAll(module: ModuleDef, client: QualysClient, env: Record<string, string>) {
  const config = loadConfig({ QUALYS_GATEWAY_URL: GW, ...env });
  const cursor = module.start({ config, now: new Date('2026-01-02T00:00:00.000Z'), committed: undefined });
  const it = module.pages(client, cursor, config)[Symbol.asyncIterator]();
  const records: ExportRecord[] = [];
  let last;
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    records.push(...r.value.records);
    last = r.value;
  }
  return { records, last: last! };
}

describe('cheap reads of the next cursor', () => {
  it('EDR: a top-level scrollId at the end or the start of the body, else a header; nothing for an empty page', () => {
    expect(peekEdrNextId(res('{"data":[{"id":"a"}],"scrollId":"s1"}'))).toBe('s1');
    expect(peekEdrNextId(res('{"scrollId":"s2","data":[{"id":"a"}]}'))).toBe('s2');
    expect(peekEdrNextId(res('[{"id":"a"}]', { 'X-Scroll-Id': 'h' }))).toBe('h');
    expect(peekEdrNextId(res('{"data":[],"scrollId":"s3"}'))).toBeUndefined();
    expect(peekEdrNextId(res('[]', { scrollId: 'h' }))).toBeUndefined();
    // Not where it looks, or not plain: no guess (the page is parsed before the next request leaves).
    expect(peekEdrNextId(res('{"data":[{"id":"a","scrollId":"x"}]}'))).toBeUndefined();
    expect(peekEdrNextId(res('{"data":[{"id":"a"}],"scrollId":"a\\"b"}'))).toBeUndefined();
  });
});

describe('EDR: a request sent on a wrong cheap read is dropped; the scroll reopens from the boundary', () => {
  const events = Array.from({ length: 6 }, (_, i) => ({
    id: `e${i}`,
    dateTime: `2026-01-01T0${i}:00:00.000+0000`,
  }));
  /** Pages of 2. The page after the first names its id twice: the cheap read sees "decoy", JSON.parse "s2". */
  function serve(asked: QualysRequest[]) {
    const scrolls = new Map<string, number>();
    return scriptedClient((req) => {
      if (req.url === '/ioc/events/count') return res(`{"count":${events.length}}`);
      const id = req.query?.scrollId as string | undefined;
      let at: number;
      if (id === undefined) {
        const from = /\['([^']+)'/.exec(String(req.query?.filter))![1]!;
        at = events.findIndex((e) => Date.parse(e.dateTime.replace('+0000', 'Z')) >= Date.parse(from));
        if (at < 0) at = events.length;
      } else if (scrolls.has(id)) at = scrolls.get(id)!;
      else return { ...res('{"error":"no such scroll"}'), status: 400 };
      const data = events.slice(at, at + 2);
      if (!data.length) return res('{"data":[]}');
      const next = id === 's1' ? 's2' : `s${at / 2 + 1}`;
      scrolls.set(next, at + 2);
      if (id === 's1')
        return res(`{"scrollId":"decoy","data":${JSON.stringify(data)},"scrollId":"s2","n":1}`);
      return res(JSON.stringify({ data, scrollId: next }));
    }, asked);
  }

  it('every event exactly once; the decoy request was sent and its answer never used', async () => {
    const asked: QualysRequest[] = [];
    const client = serve(asked);
    const wrapped: QualysClient = {
      ...client,
      // A 400 for an unknown scroll, as the API answers one.
      call: async (req, parse) => {
        const out = await client.call(req, (r) => r);
        if (out.status === 400) throw Object.assign(new Error('HTTP 400'), { status: 400 });
        return parse(out);
      },
    };
    const { records, last } = await readAll(edrEvents, wrapped, {
      QUALYS_EDR_PAGE_SIZE: '2',
      QUALYS_EDR_INITIAL_LOOKBACK_HOURS: '48',
    });
    expect(records.map((r) => r.id)).toEqual(events.map((e) => e.id));
    const scrollIds = asked
      .filter((r) => r.url === '/ioc/events/scroll')
      .map((r) => (r.query?.scrollId as string | undefined) ?? 'open');
    expect(scrollIds).toContain('decoy');
    // After the disagreement the scroll was reopened (a second open), never continued with s2.
    expect(scrollIds.filter((x) => x === 'open').length).toBe(2);
    expect(scrollIds).not.toContain('s2');
    expect(last.done).toBe(true);
  });
});

describe('Mobile: the next request leaves when the body has named it, read in order (no guessing)', () => {
  const asset = (id: number, extra = '') => `<ASSET><ID>${id}</ID>${extra}</ASSET>`;
  const doc = (assets: string, warning = '') =>
    `<?xml version="1.0"?><ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><ASSET_LIST>${assets}</ASSET_LIST>${warning}</RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>`;
  const url = (idMin: number) => `${GW}/sem/v1/assetList?action=list&truncation_limit=2&id_min=${idMin}`;
  const warning = (u: string) =>
    `<WARNING><CODE>1980</CODE><TEXT>more</TEXT><URL><![CDATA[${u}]]></URL></WARNING>`;

  it('a WARNING inside the last asset is part of that asset: the listing ends, nothing more is asked', async () => {
    const asked: QualysRequest[] = [];
    const client = scriptedClient((req) => {
      const idMin = Number((req.query?.id_min as string | undefined) ?? 0);
      if (idMin === 0) return res(doc(asset(1) + asset(2), warning(url(3))));
      if (idMin === 3) return res(doc(asset(3) + asset(4, `<NOTE>${warning(url(99))}</NOTE>`)));
      return res(doc(asset(99)));
    }, asked);
    const { records, last } = await readAll(mobileAssets, client, { QUALYS_MOBILE_TRUNCATION_LIMIT: '2' });
    expect(records.map((r) => r.ID)).toEqual(['1', '2', '3', '4']);
    expect(last.done).toBe(true);
    // The body is read in order, so the WARNING inside an asset is never taken for the response's own.
    expect(asked.map((r) => (r.query?.id_min as string | undefined) ?? null)).toEqual([null, '3']);
  });

  it('the next batch is asked for before the current one is handed over (one batch ahead, no more)', async () => {
    const asked: QualysRequest[] = [];
    const n = 5;
    const client = scriptedClient((req) => {
      const k = Number((req.query?.id_min as string | undefined) ?? 0);
      return res(doc(asset(2 * k + 1) + asset(2 * k + 2), k + 1 < n ? warning(url(k + 1)) : ''));
    }, asked);
    const config = loadConfig({ QUALYS_GATEWAY_URL: GW, QUALYS_MOBILE_TRUNCATION_LIMIT: '2' });
    const cursor = mobileAssets.start({ config, now: new Date(), committed: undefined });
    const pages = mobileAssets.pages(client, cursor, config)[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.value.records).toHaveLength(2);
    expect(asked).toHaveLength(2); // batch 1 handed over, batch 2 already asked for
    await new Promise((r) => setTimeout(r, 20));
    expect(asked).toHaveLength(2); // and nothing further while the consumer holds batch 1
    let count = 2;
    for (let r = await pages.next(); !r.done; r = await pages.next()) count += r.value.records.length;
    expect(count).toBe(2 * n);
    expect(asked).toHaveLength(n);
  });
});
