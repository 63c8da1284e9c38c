import { IncompleteError, ParseError } from '../errors';
import { PCI_SCAN_LIST } from '../qualys/envelopes';
import type { QualysClient, QualysResponse } from '../qualys/types';
import { idKey, KeySet, WordWriter, wordsOf, type Key64 } from './idset';
import { letRequestLeave } from './prefetch';
import { bool, int, list, obj, opt, readJson } from '../qualys/shapes';
import { COUNT, journalMismatch } from '../export/state-shape';
import {
  takeJournal,
  type CompletenessCheck,
  type Cursor,
  type ExportRecord,
  type ModuleDef,
  type Page,
  type RunContext,
} from './types';

/**
 * Where PCI paging stands. The list is read in passes from offset 1; a pass proves the listing only when every
 * page of it was answered under one `totalCount`, it read that many distinct scans, and (when it took more than
 * one page) a closing re-read of offset 1 shows the same total and no scan it has not seen. Otherwise the listing
 * moved while it was read and another pass follows; scans already written are never written again (dedup by
 * scanId), so a re-read costs API calls, not correctness.
 *
 * The scanIds themselves are not in the cursor: each page's `memo` (see journalEntry) holds the ids it added, and a
 * resumed run rebuilds its sets from the run's journal. The sets hold each numeric scanId exactly (its float64 bits,
 * see idset.ts), 16 bytes or less per scan; a scanId that is not an integer is fingerprinted, and two sharing a
 * fingerprint would read as one scan, so the pass would count one short of totalCount and fail loudly.
 */
export interface PciCursor extends Cursor {
  /** Next 1-based offset of the current pass (1 while closing). */
  offset: number;
  limit: number;
  /** Records per page the API actually returns (learned: it may answer fewer than `limit`). */
  step?: number;
  /** Distinct scans written in this run (all passes); their ids are in the run's journal. */
  written?: number;
  /** Pass number, from 1. */
  pass?: number;
  /** totalCount of the current pass's first page. */
  passTotal?: number;
  /** Distinct scans read in the current pass (written now or earlier). */
  passRead?: number;
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

/**
 * A page's journal entry, uint32 words: the pass it belongs to, how many scans it wrote, how many it read that the
 * pass had not read (written in an earlier pass), then those scanIds' keys (two words each), written ones first.
 */
function journalEntry(pass: number, written: WordWriter, readOnly: WordWriter): Uint8Array {
  const w = new WordWriter();
  w.push(pass);
  w.push(written.length / 2);
  w.push(readOnly.length / 2);
  w.append(written);
  w.append(readOnly);
  return w.bytes();
}

/**
 * The run's sets rebuilt from its journal: every scan written (all passes), and the scans the current pass read.
 * The counts must be those the checkpoint recorded, or the journal is not this checkpoint's: refused.
 */
function replay(c: PciCursor, journal: readonly Uint8Array[]): { seen: KeySet; passSeen: KeySet } {
  const pass = c.pass ?? 1;
  const seen = new KeySet(c.written ?? 0);
  // In the first pass every scan read is written: one set serves both until a second pass starts its own.
  const passSeen = pass === 1 ? seen : new KeySet(c.passRead ?? 0);
  const k: Key64 = { hi: 0, lo: 0 };
  for (const bytes of journal) {
    const w = wordsOf(bytes);
    for (let i = 0; i < w.length;) {
      const entryPass = w[i]!;
      const nw = w[i + 1]!;
      const nr = w[i + 2]!;
      i += 3;
      const end = i + 2 * (nw + nr);
      if (end > w.length) throw new RangeError('a journal entry runs past the end of its segment');
      for (let j = 0; i < end; j++, i += 2) {
        k.hi = w[i]!;
        k.lo = w[i + 1]!;
        if (j < nw) seen.add(k);
        if (entryPass === pass && passSeen !== seen) passSeen.add(k);
      }
    }
  }
  if (seen.size !== (c.written ?? 0) || passSeen.size !== (c.passRead ?? 0)) {
    throw journalMismatch(
      'pci-scans',
      `holds ${seen.size} scans written and ${passSeen.size} read in pass ${pass}; the checkpoint says ` +
        `${c.written ?? 0} and ${c.passRead ?? 0}`,
    );
  }
  return { seen, passSeen };
}

async function* pciPages(
  client: QualysClient,
  start: PciCursor,
  width: number,
  run?: RunContext,
): AsyncGenerator<Page> {
  // Checkpoints of older versions listed the ids in the cursor; the engine reads such runs again from the start.
  const {
    seen: _ids,
    passSeen: _passIds,
    ...from
  } = start as PciCursor & { seen?: unknown; passSeen?: unknown };
  const c: PciCursor = { pass: 1, passPages: 0, totals: [], written: 0, passRead: 0, ...from };
  // Taken, not kept: once rebuilt into the sets the journal's bytes can go.
  const sets = replay(c, takeJournal(run));
  const seen = sets.seen;
  let passSeen = sets.passSeen;
  const key: Key64 = { hi: 0, lo: 0 };
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
        const unseen = page.scans.some((s) => !passSeen.has(idKey(s.scanId, key)));
        if (page.totalCount === c.passTotal && !unseen) {
          const done: PciCursor = {
            ...c,
            closing: false,
            totals: totals.slice(),
            totalCount: c.passTotal,
            finalDistinct: passSeen.size,
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
      const pagePass = c.pass ?? 1;
      const records: ExportRecord[] = [];
      const written = new WordWriter();
      const readOnly = new WordWriter();
      for (const s of page.scans) {
        idKey(s.scanId, key);
        const newInPass = passSeen !== seen && passSeen.add(key);
        if (seen.add(key)) {
          written.pushKey(key);
          records.push(s);
        } else if (newInPass) readOnly.pushKey(key);
      }
      const memo = written.length || readOnly.length ? journalEntry(pagePass, written, readOnly) : undefined;
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
      // The cursor keeps the sets' sizes at this page; the ids are in the page's memo.
      c.written = seen.size;
      c.passRead = passSeen.size;
      const cursor: PciCursor = { ...c, totals: totals.slice() };
      // Keep `width` requests in flight while the consumer writes this page (the loop's top would do it only when
      // asked for the next page).
      if (!done && !c.closing) {
        fetchAt(c.offset);
        speculate(c.offset);
        await letRequestLeave();
      }
      // The API's own total, for progress (the engine shows records of total and an ETA).
      yield { records, cursor, done, total: page.totalCount, ...(memo ? { memo } : {}) };
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
    passSeen = new KeySet();
    c.passRead = 0;
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
      written: 0,
      pass: 1,
      passRead: 0,
      passPages: 0,
      totals: [],
    }) satisfies PciCursor,
  // The page size is the configured one, also for a resumed run (see runSettings).
  pages: (client, cursor, config, _log, run) =>
    pciPages(
      client,
      { ...(cursor as PciCursor), limit: config.modules.pci.pageSize },
      config.http.concurrency,
      run,
    ),
  runSettings: [
    {
      env: 'QUALYS_PCI_PAGE_SIZE',
      value: (c) => String(c.modules.pci.pageSize),
      onChange: 'apply',
      why: 'offsets follow the scans each page returned and the proof counts scans, not pages',
    },
  ],
  kind: () => 'snapshot',
  prove: async (final, ctx) => {
    const c = final as PciCursor;
    const written = c.written ?? 0;
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
  identity: {
    fields: ['scanId'],
    unique: true,
    evidence: '[doc] every sample scan has a numeric scanId, one per scan; the pager dedups re-reads by it',
    key: (r) => String(r.scanId),
  },
  state: {
    cursor: obj({
      offset: int({ min: 1 }),
      limit: int({ min: 1 }),
      step: opt(int({ min: 1 })),
      written: opt(COUNT),
      pass: opt(int({ min: 1 })),
      passTotal: opt(COUNT),
      passRead: opt(COUNT),
      passPages: opt(COUNT),
      passMoved: opt(bool()),
      closing: opt(bool()),
      totals: opt(list(COUNT)),
      totalCount: opt(COUNT),
      finalDistinct: opt(COUNT),
    }),
    committed: obj({}),
  },
};
