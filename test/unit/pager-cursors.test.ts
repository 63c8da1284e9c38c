// Page cursors stay exact when serialised after the pager has moved on, and fetch-ahead stops where the listing ends (issue 14).
import { describe, expect, it } from 'vitest';
import { fakeClient, okResponse } from '../support/fake-client';
import { loadConfig } from '../../shared/config';
import { certviewCertificates } from '../../shared/modules/certview-certificates';
import { pciScans, type PciCursor } from '../../shared/modules/pci-scans';
import type { Cursor, ModuleDef, Page } from '../../shared/modules/types';
import type { QualysClient, QualysRequest, QualysResponse } from '../../shared/qualys/types';

function scriptedClient(answer: (req: QualysRequest) => unknown, asked: QualysRequest[] = []): QualysClient {
  return fakeClient({
    async call<T>(req: QualysRequest, parse: (r: QualysResponse) => T): Promise<T> {
      asked.push(req);
      await new Promise((r) => setTimeout(r, 1));
      return parse(okResponse(JSON.stringify(answer(req))));
    },
    calls: () => asked.length,
  });
}

/**
 * Reads every page, serialising each page's cursor only once the pager has produced the next page (its sets
 * have grown since), as a checkpoint written while the pager runs ahead would.
 */
async function pagesAsEngine(
  module: ModuleDef,
  client: QualysClient,
  cursor: Cursor,
  env: Record<string, string>,
) {
  const config = loadConfig({ QUALYS_GATEWAY_URL: 'https://gw.example.com', ...env });
  const it = module.pages(client, cursor, config)[Symbol.asyncIterator]();
  const pages: Page[] = [];
  const json: Record<string, unknown>[] = [];
  for (let r = await it.next(); !r.done;) {
    const page = r.value;
    pages.push(page);
    r = await it.next(); // the pager moves on first
    json.push(JSON.parse(JSON.stringify(page.cursor)) as Record<string, unknown>);
  }
  return { pages, json };
}

describe('PCI page cursors', () => {
  it('each checkpointed cursor holds exactly the scans seen up to its page, across passes', async () => {
    const list = Array.from({ length: 10 }, (_, i) => 100 - i);
    let inserted = false;
    const client = scriptedClient((req) => {
      const offset = Number(req.query?.offset);
      const limit = Number(req.query?.limit);
      // A scan appears once, after the first page: the first pass moves and a second one follows.
      if (offset === 4 && !inserted) {
        inserted = true;
        list.unshift(200);
      }
      const scans = list.slice(offset - 1, offset - 1 + limit).map((scanId) => ({ scanId }));
      return {
        data: {
          totalCount: list.length,
          fetchRange: `${offset}-${offset + scans.length - 1}`,
          scanInfoList: scans,
        },
      };
    });
    const env = { QUALYS_PCI_PAGE_SIZE: '3', QUALYS_CONCURRENCY: '2' };
    const config = loadConfig({ QUALYS_GATEWAY_URL: 'https://gw.example.com', ...env });
    const start = pciScans.start({ config, now: new Date(), committed: undefined });
    const { pages, json } = await pagesAsEngine(pciScans, client, start, env);
    expect((json.at(-1) as PciCursor).pass).toBe(2);
    const written: number[] = [];
    let pass = 0;
    let passIds: (number | string)[] = [];
    pages.forEach((p, i) => {
      written.push(...p.records.map((r) => r.scanId as number));
      const c = json[i] as PciCursor;
      expect(c.seen).toEqual(written);
      // The page's own pass: its ids so far (a page that opened a new pass starts a new list).
      if ((c.pass ?? 1) !== pass) {
        pass = c.pass ?? 1;
        passIds = [];
      }
      const raw = p.cursor as PciCursor;
      expect(raw.seen).toEqual(c.seen); // the object the engine holds reads the same as its JSON
      // Within a pass each page's list extends the previous page's by that page's scans, no more.
      expect(c.passSeen!.slice(0, passIds.length)).toEqual(passIds);
      expect(c.passSeen!.length - passIds.length).toBeLessThanOrEqual(3);
      passIds = c.passSeen!;
      expect(new Set(passIds).size).toBe(passIds.length);
    });
    expect(new Set(written).size).toBe(11);
    // Resuming from any checkpoint continues from exactly that state.
    const mid = json[2] as PciCursor;
    expect(mid.seen).toEqual(written.slice(0, mid.seen.length));
  });
});

describe('CertView fetch-ahead', () => {
  const listing = (n: number, asked: QualysRequest[]) =>
    scriptedClient((req) => {
      const { pageNumber, pageSize } = req.body as { pageNumber: number; pageSize: number };
      const from = pageNumber * pageSize;
      return Array.from({ length: Math.max(0, Math.min(pageSize, n - from)) }, (_, i) => ({ id: from + i }));
    }, asked);
  const start = () =>
    certviewCertificates.start({
      config: loadConfig({ QUALYS_GATEWAY_URL: 'https://gw.example.com', QUALYS_CERTVIEW_PAGE_SIZE: '10' }),
      now: new Date(),
      committed: undefined,
    });
  const env = { QUALYS_CERTVIEW_PAGE_SIZE: '10', QUALYS_CONCURRENCY: '2' };

  it('after a short page it asks for the one page that proves the end, no more', async () => {
    const asked: QualysRequest[] = [];
    const { pages, json } = await pagesAsEngine(certviewCertificates, listing(45, asked), start(), env);
    expect(pages.flatMap((p) => p.records)).toHaveLength(45);
    // Pages 0..4 (4 short) and the empty page 5: nothing beyond.
    expect(asked.map((r) => (r.body as { pageNumber: number }).pageNumber)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(json.map((c) => (c.seen as unknown[]).length)).toEqual([10, 20, 30, 40, 45, 45]);
    expect(json.at(-1)).toMatchObject({ emptyPage: 5, pageNumber: 6 });
  });

  it('keeps two pages in flight over full pages (a listing that ends on a full page costs one speculative call)', async () => {
    const asked: QualysRequest[] = [];
    await pagesAsEngine(certviewCertificates, listing(40, asked), start(), env);
    expect(asked.map((r) => (r.body as { pageNumber: number }).pageNumber)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
