// Page cursors stay small and exact (the ids are in the pages' memos, issue 19), and fetch-ahead stops where the listing ends (issue 14).
import { describe, expect, it } from 'vitest';
import { fakeClient, journalRun, okResponse } from '../support/fake-client';
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
  /** 10 scans; one more appears after the first page, so the first pass moves and a second one follows. */
  function movingList() {
    const list = Array.from({ length: 10 }, (_, i) => 100 - i);
    let inserted = false;
    return scriptedClient((req) => {
      const offset = Number(req.query?.offset);
      const limit = Number(req.query?.limit);
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
  }
  const env = { QUALYS_PCI_PAGE_SIZE: '3', QUALYS_CONCURRENCY: '2' };
  const config = loadConfig({ QUALYS_GATEWAY_URL: 'https://gw.example.com', ...env });

  it("each cursor counts what its page reached, and holds no ids (they are in the pages' memos)", async () => {
    const start = pciScans.start({ config, now: new Date(), committed: undefined });
    const { pages, json } = await pagesAsEngine(pciScans, movingList(), start, env);
    expect((json.at(-1) as PciCursor).pass).toBe(2);
    let written = 0;
    pages.forEach((p, i) => {
      written += p.records.length;
      const c = json[i] as PciCursor;
      expect(c.written).toBe(written);
      expect(Object.keys(c)).not.toContain('seen');
      expect(JSON.stringify(c).length).toBeLessThan(400);
      if (p.records.length) expect(p.memo?.byteLength).toBeGreaterThan(0);
    });
    expect(new Set(pages.flatMap((p) => p.records.map((r) => r.scanId))).size).toBe(11);
  });

  it('resumed from any page with the journal of the pages before it, it writes the rest exactly once', async () => {
    const start = pciScans.start({ config, now: new Date(), committed: undefined });
    const first = await pagesAsEngine(pciScans, movingList(), start, env);
    const all = first.pages.flatMap((p) => p.records.map((r) => r.scanId as number)).sort();
    for (let i = 0; i < first.pages.length - 1; i++) {
      const before = first.pages.slice(0, i + 1);
      const journal = before.flatMap((p) => (p.memo ? [p.memo] : []));
      // The listing as it stands after the insert: resumed reads see the 11 scans.
      const list = [200, ...Array.from({ length: 10 }, (_, k) => 100 - k)];
      const resumedClient = scriptedClient((req) => {
        const offset = Number(req.query?.offset);
        const scans = list.slice(offset - 1, offset + 2).map((scanId) => ({ scanId }));
        return { data: { totalCount: 11, scanInfoList: scans } };
      });
      const rest: number[] = [];
      for await (const p of pciScans.pages(
        resumedClient,
        first.json[i]!,
        config,
        undefined,
        journalRun(journal),
      ))
        rest.push(...p.records.map((r) => r.scanId as number));
      const got = [...before.flatMap((p) => p.records.map((r) => r.scanId as number)), ...rest].sort();
      expect(got, `resumed after page ${i}`).toEqual(all);
    }
  });

  it('a journal that does not match the checkpoint is refused, not guessed around', async () => {
    const start = pciScans.start({ config, now: new Date(), committed: undefined });
    const { pages, json } = await pagesAsEngine(pciScans, movingList(), start, env);
    const journal = pages.slice(0, 3).flatMap((p) => (p.memo ? [p.memo] : []));
    const run = pciScans.pages(movingList(), json[2]!, config, undefined, journalRun(journal.slice(1)));
    await expect(run[Symbol.asyncIterator]().next()).rejects.toThrow(
      /journal of the pci-scans run in progress holds \d+ scans written .* the checkpoint says/,
    );
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
    expect(json.map((c) => c.distinct)).toEqual([10, 20, 30, 40, 45, 45]);
    expect(json.at(-1)).toMatchObject({ emptyPage: 5, pageNumber: 6 });
  });

  it('keeps two pages in flight over full pages (a listing that ends on a full page costs one speculative call)', async () => {
    const asked: QualysRequest[] = [];
    await pagesAsEngine(certviewCertificates, listing(40, asked), start(), env);
    expect(asked.map((r) => (r.body as { pageNumber: number }).pageNumber)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
