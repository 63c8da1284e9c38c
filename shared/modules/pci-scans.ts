import { IncompleteError, ParseError } from '../errors';
import { PCI_SCAN_LIST } from '../qualys/envelopes';
import { readJson } from '../qualys/shapes';
import type { QualysClient, QualysResponse } from '../qualys/types';
import { lazySetPrefix } from './lazy';
import { letRequestLeave } from './prefetch';
import type { CompletenessCheck, Cursor, ExportRecord, ModuleDef, Page } from './types';

/**
 * Where PCI paging stands. The list is read in passes from offset 1; a pass proves the listing only when every
 * page of it was answered under one `totalCount`, it read that many distinct scans, and (when it took more than
 * one page) a closing re-read of offset 1 shows the same total and no scan it has not seen. Otherwise the listing
 * moved while it was read and another pass follows; scans already written are never written again (dedup by
 * scanId), so a re-read costs API calls, not correctness.
 */
export interface PciCursor extends Cursor {
  /** Next 1-based offset of the current pass (1 while closing). */
  offset: number;
  limit: number;
  /** Records per page the API actually returns (learned: it may answer fewer than `limit`). */
  step?: number;
  /** scanIds written in this run (all passes); beyond 2^53 as decimal text (see scanKey). */
  seen: ScanKey[];
  /** Pass number, from 1. */
  pass?: number;
  /** totalCount of the current pass's first page. */
  passTotal?: number;
  /** scanIds read in the current pass (written now or earlier). */
  passSeen?: ScanKey[];
  passPages?: number;
  /** A page of the current pass saw another totalCount than its first. */
  passMoved?: boolean;
  /** Every offset of the pass was read; offset 1 is being re-read to close it. */
  closing?: boolean;
  /** totalCounts the run has seen, in order of first sight (for the failure message; bounded). */
  totals?: number[];
  /** Set when a pass proved the listing: its totalCount and the distinct scans it read. */
  totalCount?: number;
  finalDistinct?: number;
}

/** Passes one invocation may read before it gives up on a listing that keeps moving. */
export const MAX_PCI_PASSES = 5;

interface PciPage {
  totalCount: number;
  scans: ExportRecord[];
  /** From `fetchRange` ("1-5", inclusive) when present and readable. */
  range?: { first: number; last: number };
}

/** A scanId as a set key and in checkpoints: the number, or its decimal text beyond 2^53 (kept whole). */
export type ScanKey = number | string;
export const scanKey = (record: ExportRecord): ScanKey => {
  const id = record.scanId as number | bigint;
  return typeof id === 'bigint' ? id.toString() : id;
};

export function parsePciPage(res: QualysResponse): PciPage {
  const { data } = readJson<{
    data: { totalCount: number; scanInfoList?: ExportRecord[]; fetchRange?: string };
  }>(res.text, PCI_SCAN_LIST);
  const list = data.scanInfoList ?? [];
  const m = data.fetchRange ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(data.fetchRange) : null;
  const range = m ? { first: Number(m[1]), last: Number(m[2]) } : undefined;
  // fetchRange is inclusive: "1-5" is five scans, "11-10" none. When it is given it must agree with the list.
  if (range && range.last - range.first + 1 !== list.length) {
    throw new ParseError(
      `PCI scan list fetchRange '${data.fetchRange}' does not match the ${list.length} scans returned`,
    );
  }
  return { totalCount: data.totalCount, scans: list, range };
}

async function* pciPages(client: QualysClient, start: PciCursor, width: number): AsyncGenerator<Page> {
  const c: PciCursor = { pass: 1, passSeen: [], passPages: 0, totals: [], ...start };
  // Append-only (a new pass gets a new set): a page's cursor takes the first N of each, lazily (see lazy.ts).
  const seen = new Set(c.seen);
  // In the first pass every scan read is written, so the pass's set is the run's set, in the same order: one set
  // serves both (a set operation less per scan) until a second pass starts its own.
  const firstPass = (c.pass ?? 1) === 1 && c.passSeen!.length === seen.size;
  let passSeen = firstPass ? seen : new Set(c.passSeen);
  const totals = c.totals!.slice();
  let passes = 0;

  // Fetch-ahead: pages are requested where the next ones should start if the API keeps answering `step`
  // records; a page that ends elsewhere discards the guesses (never yielded) and the right offset is requested.
  const inflight = new Map<number, Promise<PciPage>>();
  const fetchAt = (offset: number) => {
    let p = inflight.get(offset);
    if (!p) {
      p = client.call(
        {
          url: '/pci/scan/list',
          base: 'pci',
          query: { offset, limit: c.limit },
          label: `pci-scans offset ${offset}`,
        },
        parsePciPage,
      );
      p.catch(() => undefined); // observed when consumed; a discarded guess must not be an unhandled rejection
      inflight.set(offset, p);
    }
    return p;
  };
  const knownTotal = () => (totals.length ? Math.max(...totals) : undefined);
  const speculate = (from: number) => {
    const step = c.step ?? c.limit;
    const keep = new Set<number>();
    for (let j = 0; j < Math.max(1, width); j++) keep.add(from + j * step);
    for (const o of inflight.keys()) if (!keep.has(o)) inflight.delete(o);
    const total = knownTotal();
    if (total === undefined) return; // nothing to guess before the first page
    for (let j = 1; j < width && inflight.size < width; j++) {
      const o = from + j * step;
      if (o > total) break;
      fetchAt(o);
    }
  };

  try {
    for (;;) {
      const offset = c.closing ? 1 : c.offset;
      const pending = fetchAt(offset);
      // No guessing while closing: the common outcome is that the pass stands and the run is done.
      if (!c.closing) speculate(offset);
      const page = await pending;
      inflight.delete(offset);
      if (!totals.includes(page.totalCount) && totals.length < 100) totals.push(page.totalCount);

      if (c.closing) {
        const unseen = page.scans.some((s) => !passSeen.has(scanKey(s)));
        if (page.totalCount === c.passTotal && !unseen) {
          const done: PciCursor = {
            ...c,
            closing: false,
            totals: totals.slice(),
            totalCount: c.passTotal,
            finalDistinct: passSeen.size,
            passSeen: [...passSeen],
            seen: [...seen],
          };
          yield { records: [], cursor: done, done: true, total: page.totalCount };
          return;
        }
        // The listing moved after the pass read it: this page opens the next pass.
        c.closing = false;
        nextPass();
      }

      if (c.passPages === 0) c.passTotal = page.totalCount;
      else if (page.totalCount !== c.passTotal) c.passMoved = true;
      c.passPages = (c.passPages ?? 0) + 1;
      const records: ExportRecord[] = [];
      for (const s of page.scans) {
        const id = scanKey(s);
        if (passSeen !== seen) passSeen.add(id);
        if (!seen.has(id)) {
          seen.add(id);
          records.push(s);
        }
      }
      // The next offset follows what was actually returned: the API may answer fewer than `limit`.
      const next = offset + page.scans.length;
      const endOfPass = page.scans.length === 0 || next > page.totalCount;
      if (!endOfPass && page.scans.length > 0) c.step = page.scans.length;
      c.offset = next;

      let done = false;
      if (endOfPass) {
        const stable = !c.passMoved && passSeen.size === c.passTotal;
        if (stable && c.passPages === 1) {
          // One page is one answer: nothing can have moved within it.
          c.totalCount = c.passTotal;
          c.finalDistinct = passSeen.size;
          done = true;
        } else if (stable) {
          c.closing = true;
        } else {
          nextPass();
          c.offset = 1;
        }
      }
      // The sets keep growing after this page (the pager goes on while its consumer holds the page): the cursor
      // keeps their sizes now and copies them only if it is read (checkpointed): O(page) per page, not O(run).
      const cursor: PciCursor = { ...c, totals: totals.slice() };
      lazySetPrefix(cursor, 'seen', seen);
      lazySetPrefix(cursor, 'passSeen', passSeen);
      // Keep `width` requests in flight while the consumer writes this page (the loop's top would do it only when
      // asked for the next page).
      if (!done && !c.closing) {
        fetchAt(c.offset);
        speculate(c.offset);
        await letRequestLeave();
      }
      // The API's own total, for progress (the engine shows records of total and an ETA).
      yield { records, cursor, done, total: page.totalCount };
      if (done) return;
    }
  } finally {
    inflight.clear();
  }

  /** The pass just read did not prove the listing: start another from offset 1, within this invocation's budget. */
  function nextPass() {
    passes++;
    if (passes >= MAX_PCI_PASSES) {
      throw new IncompleteError(
        `PCI scan list kept moving: ${passes} passes in this invocation did not see one stable listing ` +
          `(totalCounts seen: ${totals.join(', ')}; last pass read ${passSeen.size} distinct scans of ` +
          `${c.passTotal}); run again when fewer scans are being created`,
        {
          checks: [
            {
              name: 'pci.stable-total',
              outcome: 'failed',
              expected: c.passTotal,
              actual: passSeen.size,
              detail: 'no pass saw one totalCount and that many distinct scans',
            },
          ],
        },
      );
    }
    c.pass = (c.pass ?? 1) + 1;
    c.passPages = 0;
    c.passMoved = false;
    c.passTotal = undefined;
    passSeen = new Set();
    // Pages requested during the old pass are not answers about the new one.
    inflight.clear();
  }
}

export const pciScans: ModuleDef = {
  name: 'pci-scans',
  start: ({ config }) =>
    ({
      offset: 1,
      limit: config.modules.pci.pageSize,
      seen: [],
      pass: 1,
      passSeen: [],
      passPages: 0,
      totals: [],
    }) satisfies PciCursor,
  pages: (client, cursor, config) => pciPages(client, cursor as PciCursor, config.http.concurrency),
  kind: () => 'snapshot',
  prove: async (final, ctx) => {
    const c = final as PciCursor;
    const written = c.seen.length;
    const checks: CompletenessCheck[] = [
      {
        name: 'pci.totalCount',
        outcome:
          c.totalCount !== undefined && c.finalDistinct === c.totalCount && written >= c.totalCount
            ? 'passed'
            : 'failed',
        expected: c.totalCount,
        actual: c.finalDistinct,
        detail:
          c.totalCount === undefined
            ? 'no pass of the scan list saw one stable totalCount'
            : `distinct scans in the last pass (all written) vs its stable totalCount; pass ${c.pass ?? 1}, ` +
              `totalCounts seen ${(c.totals ?? []).join(', ')}`,
      },
      {
        name: 'pci.distinct-written',
        outcome: ctx.records === written ? 'passed' : 'failed',
        expected: written,
        actual: ctx.records,
        detail: `records written vs distinct scanIds (${written - (c.finalDistinct ?? 0)} no longer listed at the end)`,
      },
    ];
    return checks;
  },
  commit: () => ({}),
  describe: (c) => ({ pageSize: (c as PciCursor).limit }),
  recordId: (r) => String(r.scanId),
};
