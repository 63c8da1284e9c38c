import { parseJsonBody } from './json';
import { ParseError, QualysHttpError } from '../errors';
import type { QualysClient, QualysResponse } from '../qualys/types';
import type { AppConfig } from '../config';
import type { CommittedState, Cursor, ExportRecord, ModuleDef, Page } from './types';

/**
 * EDR paging position. The scroll id is short-lived, so the cursor keeps the window and the last dateTime
 * reached (with the ids already written at that instant); a resumed run reopens the scroll from there.
 */
export interface EdrCursor extends Cursor {
  /** Window, ISO UTC: from inclusive, to exclusive. */
  from: string;
  to: string;
  filter?: string;
  after: { dateTime: string; ids: string[] } | null;
  /** Ids the previous run wrote in the overlap: dropped if seen again. */
  skip: string[];
  /** Ids seen in the last `overlapMinutes` of this window (committed for the next run). */
  recent: string[];
  overlapMs: number;
}

/** Bound on the ids kept for cross-run dedup (documented; beyond it a re-seen event may be written again). */
export const MAX_RECENT_IDS = 200_000;

/** '2020-08-17T04:15:06.000+0000' → epoch ms. */
export function edrTimeMs(dateTime: string): number {
  const iso = dateTime.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new ParseError(`EDR event has an unreadable dateTime '${dateTime}'`);
  return ms;
}

const iso = (ms: number) => new Date(ms).toISOString();
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/;

export function edrQuery(cursor: EdrCursor): string {
  const from = cursor.after ? iso(edrTimeMs(cursor.after.dateTime)) : cursor.from;
  const range = `event.datetime:['${from}'..'${cursor.to}']`;
  return cursor.filter ? `${range} AND (${cursor.filter})` : range;
}

interface EdrPage {
  data: ExportRecord[];
  scrollId?: string;
}

export function parseEdrPage(res: QualysResponse): EdrPage {
  const body = parseJsonBody(res.text, 'EDR events response');
  const b = body as { data?: unknown; scrollId?: unknown } | null;
  if (!b || !Array.isArray(b.data)) throw new ParseError('EDR events response has no data array');
  for (const e of b.data) {
    const ev = e as { id?: unknown; dateTime?: unknown } | null;
    if (!ev || typeof ev.id !== 'string' || typeof ev.dateTime !== 'string' || !DATE_TIME.test(ev.dateTime)) {
      throw new ParseError(
        ev && typeof ev.dateTime === 'string' && typeof ev.id === 'string'
          ? `EDR event has an unreadable dateTime '${ev.dateTime}'`
          : 'EDR events response has an event without a string id and dateTime',
      );
    }
  }
  if (b.scrollId !== undefined && b.scrollId !== null && typeof b.scrollId !== 'string') {
    throw new ParseError('EDR events response has a non-string scrollId');
  }
  return { data: b.data as ExportRecord[], scrollId: (b.scrollId as string | null) ?? undefined };
}

/**
 * A scroll continuation is not safe to repeat: if a response is lost after the server advanced the scroll, a
 * retry with the same id would skip a page. So a continuation is sent once, and on any failure other than
 * auth, origin or deadline errors the scroll is reopened from the last dateTime reached (an idempotent
 * request, retried normally).
 */
const reopenAfter = (err: unknown) => err instanceof QualysHttpError || err instanceof ParseError;

async function* edrPages(client: QualysClient, start: EdrCursor, config: AppConfig): AsyncGenerator<Page> {
  let cursor = start;
  const skip = new Set(cursor.skip);
  const toMs = Date.parse(cursor.to);
  const recentFrom = toMs - cursor.overlapMs;
  let scrollId: string | undefined;
  for (;;) {
    let page: EdrPage;
    if (scrollId) {
      try {
        page = await client.call(
          { url: '/ioc/events/scroll', query: { scrollId }, label: 'edr-events scroll', maxRetries: 0 },
          parseEdrPage,
        );
      } catch (err) {
        if (!reopenAfter(err)) throw err;
        scrollId = undefined; // reopen from the last dateTime reached
        continue;
      }
    } else {
      page = await client.call(
        {
          url: '/ioc/events/scroll',
          query: { filter: edrQuery(cursor), pageSize: config.modules.edr.pageSize },
          label: 'edr-events scroll open',
        },
        parseEdrPage,
      );
    }
    scrollId = page.scrollId;

    // Boundary: the last dateTime reached and the ids already seen at exactly that instant.
    let afterTime = cursor.after?.dateTime;
    let afterMs = afterTime === undefined ? -Infinity : edrTimeMs(afterTime);
    const atBoundary = new Set(cursor.after?.ids ?? []);
    const recent = cursor.recent.slice();
    const records: ExportRecord[] = [];
    let progressed = false;
    for (const ev of page.data) {
      const id = ev.id as string;
      const ms = edrTimeMs(ev.dateTime as string);
      const seenInRun = ms < afterMs || (ms === afterMs && atBoundary.has(id));
      if (seenInRun) continue;
      progressed = true;
      if (ms > afterMs) {
        afterMs = ms;
        afterTime = ev.dateTime as string;
        atBoundary.clear();
      }
      atBoundary.add(id);
      if (ms >= recentFrom && recent.length < MAX_RECENT_IDS) recent.push(id);
      if (!skip.has(id)) records.push(ev);
    }
    const done = page.data.length === 0;
    // A reopened scroll starts at the boundary instant and may return only events already written (more of
    // them than a page share one dateTime): keep scrolling instead of yielding a page without progress,
    // so every invocation moves forward. (The scroll id is never taken from a checkpoint: the server's
    // scroll may be ahead of the last stored page.)
    if (!done && !progressed) continue;
    const after = afterTime === undefined ? null : { dateTime: afterTime, ids: [...atBoundary] };
    cursor = { ...cursor, after, recent };
    yield { records, cursor, done };
    if (done) return;
  }
}

export const edrEvents: ModuleDef = {
  name: 'edr-events',
  start: ({ config, now, committed }) => {
    const edr = config.modules.edr;
    const overlapMs = edr.overlapMinutes * 60_000;
    const toMs = now.getTime();
    const prevEnd = typeof committed?.windowEnd === 'string' ? Date.parse(committed.windowEnd) : NaN;
    const fromMs = Number.isNaN(prevEnd)
      ? toMs - edr.initialLookbackHours * 3600_000
      : Math.min(prevEnd, toMs) - overlapMs;
    const skip = Array.isArray(committed?.recentIds) ? (committed.recentIds as string[]) : [];
    return {
      from: iso(fromMs),
      to: iso(toMs),
      filter: edr.filter,
      after: null,
      skip,
      recent: [],
      overlapMs,
    } satisfies EdrCursor;
  },
  pages: (client, cursor, config) => edrPages(client, cursor as EdrCursor, config),
  kind: () => 'incremental',
  prove: async () => [{ name: 'edr.scroll-end', outcome: 'passed', detail: 'scrolled to an empty page' }],
  commit: (final): CommittedState => {
    const c = final as EdrCursor;
    return { windowEnd: c.to, recentIds: c.recent, completeThrough: c.to };
  },
  describe: (c) => {
    const e = c as EdrCursor;
    return { from: e.from, to: e.to, filter: e.filter ?? null, overlapMinutes: e.overlapMs / 60_000 };
  },
  recordId: (r) => String(r.id),
};
