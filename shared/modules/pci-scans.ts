import { parseJsonBody } from './json';
import { ParseError } from '../errors';
import type { QualysResponse } from '../qualys/types';
import { prefetchOrdered } from './prefetch';
import type { Cursor, ExportRecord, ModuleDef } from './types';

/** Where PCI paging stands: next 1-based offset, page size, and the scanIds already written in this run. */
export interface PciCursor extends Cursor {
  offset: number;
  limit: number;
  /** Dedup set: PCI lists are newest-first, so scans arriving mid-run shift older ones to later offsets. */
  seen: number[];
  totalCount?: number;
}

interface PciPage {
  totalCount: number;
  scans: ExportRecord[];
}

export function parsePciPage(res: QualysResponse): PciPage {
  const body = parseJsonBody(res.text, 'PCI scan list');
  const data = (body as { data?: { totalCount?: unknown; scanInfoList?: unknown } } | null)?.data;
  if (
    !data ||
    typeof data.totalCount !== 'number' ||
    !Number.isInteger(data.totalCount) ||
    data.totalCount < 0
  ) {
    throw new ParseError('PCI scan list has no numeric data.totalCount');
  }
  const list = data.scanInfoList ?? [];
  if (!Array.isArray(list)) throw new ParseError('PCI scan list data.scanInfoList is not an array');
  for (const s of list) {
    if (!s || typeof s !== 'object' || typeof (s as { scanId?: unknown }).scanId !== 'number') {
      throw new ParseError('PCI scan list has an entry without a numeric scanId');
    }
  }
  return { totalCount: data.totalCount, scans: list as ExportRecord[] };
}

export const pciScans: ModuleDef = {
  name: 'pci-scans',
  start: ({ config }) => ({ offset: 1, limit: config.modules.pci.pageSize, seen: [] }) satisfies PciCursor,
  async *pages(client, raw, config) {
    const cursor = raw as PciCursor;
    const seen = new Set(cursor.seen);
    const limit = cursor.limit;
    const offsetOf = (k: number) => cursor.offset + k * limit;
    let total = cursor.totalCount;
    const pages = prefetchOrdered({
      start: 0,
      width: config.http.concurrency,
      fetchAt: (k) =>
        client
          .call(
            {
              url: '/pci/scan/list',
              base: 'pci',
              query: { offset: offsetOf(k), limit },
              label: `pci-scans offset ${offsetOf(k)}`,
            },
            parsePciPage,
          )
          .then((page) => {
            // Learn the total as soon as any page lands, so further offsets can be requested at once.
            total = Math.max(total ?? 0, page.totalCount);
            return page;
          }),
      mayFetch: (k) => total !== undefined && offsetOf(k) <= total,
      isLast: (page, k) => page.scans.length === 0 || offsetOf(k) + limit > page.totalCount,
    });
    for await (const { k, result } of pages) {
      total = Math.max(total ?? 0, result.totalCount);
      const records = result.scans.filter((s) => {
        const id = s.scanId as number;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      });
      const nextOffset = offsetOf(k) + limit;
      const done = result.scans.length === 0 || nextOffset > result.totalCount;
      const next: PciCursor = { offset: nextOffset, limit, seen: [...seen], totalCount: result.totalCount };
      yield { records, cursor: next, done };
    }
  },
  kind: () => 'snapshot',
  prove: async (final) => {
    const c = final as PciCursor;
    const total = c.totalCount ?? 0;
    return [
      {
        name: 'pci.totalCount',
        outcome: c.seen.length === total ? 'passed' : 'failed',
        expected: total,
        actual: c.seen.length,
        detail: 'distinct scans written vs the final totalCount',
      },
    ];
  },
  commit: () => ({}),
  describe: (c) => ({ pageSize: (c as PciCursor).limit }),
  recordId: (r) => String(r.scanId),
};
