import { EDR_RUN_SETTINGS, EDR_STATE } from './edr-state';
import { copyString, dropBody, letRequestLeave } from './prefetch';
import { ConfigError, IncompleteError, ParseError, QualysHttpError } from '../errors';
import { EDR_COUNT, edrEvents as edrEventsShape, SCROLL_ID } from '../qualys/envelopes';
import { differences, readJson } from '../qualys/shapes';
import type { QualysClient, QualysResponse } from '../qualys/types';
import type { AppConfig, EdrTimeField } from '../config';
import type {
  CommittedState,
  CompletenessCheck,
  Cursor,
  ExportRecord,
  ModuleDef,
  Page,
  StartContext,
  TimeWindow,
} from './types';

/**
 * EDR paging position. The scroll id is short-lived, so the cursor keeps the window and the last instant reached
 * (with the ids already read at that instant); a resumed run reopens the scroll from there.
 *
 * The pager asks for events in ascending order of the window's time field (`sort`) and checks that order event by
 * event, as Singer taps check a stream they declare sorted: the first event older than the one before it stops
 * the run. Nothing is ever dropped because of where it falls in the order; the only events not written are ids
 * already read at the boundary instant and ids the previous run wrote in the overlap.
 */
export interface EdrCursor extends Cursor {
  /** Window on the time field, ISO UTC: from inclusive, to exclusive. */
  from: string;
  to: string;
  filter?: string;
  /** QQL field the window and the sort apply to (absent in older checkpoints: event.datetime). */
  timeField?: EdrTimeField;
  /** Last instant reached (the event's own text for the time field) and the ids read at exactly that instant. */
  after: { dateTime: string; ids: string[] } | null;
  /** Ids the previous run wrote in the overlap: dropped if seen again. */
  skip: string[];
  /** Ids seen in the last `overlapMs` of this window (committed for the next run). */
  recent: string[];
  overlapMs: number;
  /** Distinct events read in the window so far (written, or dropped as written by the previous run). */
  read?: number;
  /**
   * What `GET /ioc/events/count` answered for the window, asked right after the scroll ended: the count, or the
   * HTTP status that says the tenant does not offer it (404/405). Absent until the window is read.
   */
  windowCount?: { count: number } | { unavailable: number };
}

/** Bound on the ids kept for cross-run dedup (documented; beyond it a re-seen event may be written again). */
export const MAX_RECENT_IDS = 200_000;
/** Pages in a row that bring nothing new before the scroll is declared stuck. */
const MAX_STALLED_PAGES = 3;

/** The record field that carries each QQL time field. */
export const EDR_RECORD_FIELD: Record<EdrTimeField, 'dateTime' | 'eventProcessedTime'> = {
  'event.datetime': 'dateTime',
  'event.eventProcessedTime': 'eventProcessedTime',
};

/** '2020-08-17T04:15:06.000+0000' → epoch ms. */
export function edrTimeMs(dateTime: string): number {
  const iso = dateTime.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new ParseError(`EDR event has an unreadable time '${dateTime}'`);
  return ms;
}

const iso = (ms: number) => new Date(ms).toISOString();
const fieldOf = (c: EdrCursor): EdrTimeField => c.timeField ?? 'event.datetime';

/** The QQL of the scroll: the window from the last instant reached, ANDed with the configured filter. */
export function edrQuery(cursor: EdrCursor): string {
  const from = cursor.after ? iso(edrTimeMs(cursor.after.dateTime)) : cursor.from;
  const range = `${fieldOf(cursor)}:['${from}'..'${cursor.to}']`;
  return cursor.filter ? `${range} AND (${cursor.filter})` : range;
}

/** The QQL of the whole window (what `/ioc/events/count` is asked about). */
export function edrWindowQuery(cursor: EdrCursor): string {
  return edrQuery({ ...cursor, after: null });
}

/** The explicit sort every scroll is opened with: ascending on the window's time field. */
export function edrSort(field: EdrTimeField): string {
  return JSON.stringify([{ [field]: 'asc' }]);
}

interface EdrPage {
  data: ExportRecord[];
  scrollId?: string;
}

/** Response headers that may carry the scroll continuation id when the body does not ([ours]: not published). */
export const EDR_CONTINUATION_HEADERS = ['scrollid', 'x-scroll-id'] as const;

/** The declared envelope of an events page, per time field (events must carry theirs). */
const PAGE_SHAPES = {
  dateTime: edrEventsShape('dateTime'),
  eventProcessedTime: edrEventsShape('eventProcessedTime'),
} as const;

/**
 * An EDR events page: a top-level JSON array or `{"data":[…], "scrollId"?}` (the declared envelope: every event
 * with a string `id` and a readable time in `timeKey`); the continuation id from the body's `scrollId` or a
 * response header.
 */
export function parseEdrPage(
  res: QualysResponse,
  timeKey: 'dateTime' | 'eventProcessedTime' = 'dateTime',
): EdrPage {
  const body = readJson<ExportRecord[] | { data: ExportRecord[]; scrollId?: string | null }>(
    res.text,
    PAGE_SHAPES[timeKey],
  );
  const data = Array.isArray(body) ? body : body.data;
  const bodyId = Array.isArray(body) ? undefined : (body.scrollId ?? undefined);
  const headerId = headerScrollId(res);
  if (bodyId && headerId && headerId !== bodyId) {
    throw new ParseError('EDR events response names two different continuation ids (body and header)');
  }
  return { data, scrollId: bodyId || headerId || undefined };
}

const EMPTY_HEAD = /^\s*(?:\[\s*\]|\{\s*"data"\s*:\s*\[\s*\])/;
const ID_AT_END = /"scrollId"\s*:\s*"([^"\\]+)"\s*\}\s*$/;
const ID_AT_START = /^\s*\{\s*"scrollId"\s*:\s*"([^"\\]+)"\s*,/;

/**
 * The continuation id a page names, found without parsing the page: a top-level `"scrollId"` as the body's last
 * or first member, or a continuation header. Undefined when the page looks empty (the end) or the id is not
 * where this looks. Only ever a guess to send the next request early: the pager compares it with what
 * `parseEdrPage` reads from the same response and discards the request on any difference.
 */
export function peekEdrNextId(res: QualysResponse): string | undefined {
  const text = res.text;
  if (EMPTY_HEAD.test(text.slice(0, 64))) return undefined;
  const inBody = ID_AT_END.exec(text.slice(-512))?.[1] ?? ID_AT_START.exec(text.slice(0, 512))?.[1];
  // A copy: a substring of the body would keep the whole body alive for as long as the id is kept.
  if (inBody) return copyString(inBody);
  return headerScrollId(res);
}

/**
 * The continuation id of the first continuation header the response carries, if any; it is held to the same
 * declared shape as the body's (a repeated header arrives joined by ', ' and is refused).
 */
function headerScrollId(res: QualysResponse): string | undefined {
  for (const name of EDR_CONTINUATION_HEADERS) {
    const v = res.headers.get(name)?.trim();
    if (!v) continue;
    const diff = differences(SCROLL_ID, v);
    if (diff.length) throw new ParseError(`EDR events response header ${name}: ${diff.join('; ')}`);
    return v;
  }
  return undefined;
}

/** `{"count": N}` (or a bare N) → N. */
export function parseEdrCount(res: QualysResponse): number {
  const body = readJson<number | { count: number }>(res.text, EDR_COUNT);
  return typeof body === 'number' ? body : body.count;
}

/**
 * Asks `/ioc/events/count` about the whole window. 404/405: the tenant does not offer it. Any other failure
 * propagates (a deadline pauses the run like any page; a persistent error fails it).
 */
async function countWindow(
  client: QualysClient,
  cursor: EdrCursor,
): Promise<{ count: number } | { unavailable: number }> {
  try {
    const count = await client.call(
      { url: '/ioc/events/count', query: { filter: edrWindowQuery(cursor) }, label: 'edr-events count' },
      parseEdrCount,
    );
    return { count };
  } catch (err) {
    if (err instanceof QualysHttpError && (err.status === 404 || err.status === 405)) {
      return { unavailable: err.status };
    }
    throw err;
  }
}

/**
 * A scroll continuation is not safe to repeat: if a response is lost after the server advanced the scroll, a
 * retry with the same id would skip a page. So a continuation is sent once, and on any failure other than
 * auth, origin or deadline errors the scroll is reopened from the last instant reached (an idempotent
 * request, retried normally).
 */
const reopenAfter = (err: unknown) => err instanceof QualysHttpError || err instanceof ParseError;

/**
 * Pipelining: the next continuation request leaves as soon as its id is known — from the raw body (see
 * `peekEdrNextId`) before the page is parsed and checked, or right after the checks for an opened scroll — so
 * parsing, checking, serialising and compressing a page overlap the next page's round trip. The request fetched
 * ahead is used only when its id is exactly the one the full parse of the page found; any difference, or a page
 * that fails to parse, discards it and reopens the scroll from the last instant reached (the safe path a failed
 * continuation always takes). Pages are still handled one at a time, in order.
 */
interface Ahead {
  id: string;
  response: Promise<QualysResponse>;
}

async function* edrPages(client: QualysClient, start: EdrCursor, config: AppConfig): AsyncGenerator<Page> {
  let cursor = start;
  const field = fieldOf(cursor);
  const key = EDR_RECORD_FIELD[field];
  const sort = edrSort(field);
  const pageSize = config.modules.edr.pageSize;
  const skip = new Set(cursor.skip);
  const fromMs = Date.parse(cursor.from);
  const toMs = Date.parse(cursor.to);
  const recentFrom = toMs - cursor.overlapMs;
  let scrollId: string | undefined;
  let stalled = 0;
  let ahead: Ahead | undefined;
  const continuation = (id: string): Ahead => {
    const response = client.call(
      { url: '/ioc/events/scroll', query: { scrollId: id }, label: 'edr-events scroll', maxRetries: 0 },
      (res) => res,
    );
    response.catch(() => undefined); // observed when used; one discarded must not be an unhandled rejection
    return { id, response };
  };
  for (;;) {
    let page: EdrPage;
    const opened = scrollId === undefined;
    if (scrollId !== undefined) {
      const current = ahead?.id === scrollId ? ahead : continuation(scrollId);
      ahead = undefined;
      try {
        const res = await current.response;
        const guess = peekEdrNextId(res);
        if (guess !== undefined) {
          ahead = continuation(guess);
          await letRequestLeave();
        }
        try {
          page = parseEdrPage(res, key);
        } finally {
          dropBody(res);
        }
      } catch (err) {
        ahead = undefined; // sent on the word of a page that cannot be read (or never sent)
        if (!reopenAfter(err)) throw err;
        scrollId = undefined; // reopen from the last instant reached
        continue;
      }
      if (ahead && (page.scrollId !== ahead.id || page.data.length === 0)) {
        // The cheap read and the parse disagree: drop the request sent ahead and reopen from the boundary.
        ahead = undefined;
        page.scrollId = undefined;
      }
    } else {
      page = await client.call(
        {
          url: '/ioc/events/scroll',
          query: { filter: edrQuery(cursor), sort, pageSize },
          label: 'edr-events scroll open',
        },
        (res) => parseEdrPage(res, key),
      );
    }
    scrollId = page.scrollId;

    // Boundary: the last instant reached and the ids already read at exactly that instant.
    let afterTime = cursor.after?.dateTime;
    let afterMs = afterTime === undefined ? -Infinity : edrTimeMs(afterTime);
    const atBoundary = new Set(cursor.after?.ids ?? []);
    let recent = cursor.recent;
    let read = cursor.read ?? 0;
    const records: ExportRecord[] = [];
    for (const ev of page.data) {
      const id = ev.id as string;
      const t = ev[key] as string;
      const ms = edrTimeMs(t);
      if (ms < afterMs) {
        throw new IncompleteError(
          `EDR events are not in the ascending ${field} order the exporter asked for (sort=${sort}): event ${id} ` +
            `at ${t} came after ${afterTime}. The window ${cursor.from}..${cursor.to} cannot be proven complete; ` +
            'this tenant seems to ignore the sort parameter',
          {
            checks: [
              { name: 'edr.order', outcome: 'failed', detail: `event ${id} at ${t} came after ${afterTime}` },
            ],
          },
        );
      }
      if (ms < fromMs || ms > toMs) {
        throw new IncompleteError(
          `EDR returned event ${id} at ${t}, outside the requested window ${cursor.from}..${cursor.to} on ` +
            `${field}: the filter was not applied as sent, so the window cannot be proven complete`,
          { checks: [{ name: 'edr.window', outcome: 'failed', detail: `event ${id} at ${t}` }] },
        );
      }
      if (ms === afterMs && atBoundary.has(id)) continue; // read already (a reopened scroll starts at this instant)
      if (ms > afterMs) {
        afterMs = ms;
        afterTime = t;
        atBoundary.clear();
      }
      atBoundary.add(id);
      read++;
      if (ms >= recentFrom && recent.length < MAX_RECENT_IDS) {
        if (recent === cursor.recent) recent = recent.slice();
        recent.push(id);
      }
      if (!skip.has(id)) records.push(ev);
    }
    const progressed = read !== (cursor.read ?? 0);
    let done = page.data.length === 0;
    if (!done && !progressed) {
      // Only events read already: a reopened scroll starts at the boundary instant.
      if (scrollId !== undefined) {
        if (++stalled > MAX_STALLED_PAGES) {
          throw new IncompleteError(
            `EDR scroll returned ${stalled} pages in a row with no new event (at ${afterTime}); it is not advancing`,
          );
        }
        continue;
      }
      if (opened && page.data.length < pageSize) {
        // A fresh scroll from the boundary returned less than the page asked for, all of it the instant already
        // read: the window holds nothing more (the API gives no continuation id, or gave none on its last page).
        done = true;
      } else if (opened) {
        throw new IncompleteError(
          `more EDR events share the instant ${afterTime} than one page holds and the API returned no ` +
            'continuation id, so the rest of that instant cannot be reached; raise QUALYS_EDR_PAGE_SIZE',
        );
      } else {
        continue; // a continuation page with nothing new and no next id: reopen from the boundary
      }
    }
    stalled = 0;
    const after = afterTime === undefined ? null : { dateTime: afterTime, ids: [...atBoundary] };
    // The window's count is asked as soon as the scroll ends, here rather than in prove(): if it meets the
    // invocation's deadline the run pauses before this page, and the next invocation reopens from the boundary.
    const windowCount = done ? await countWindow(client, { ...cursor, after, recent, read }) : undefined;
    cursor = { ...cursor, after, recent, read, ...(windowCount ? { windowCount } : {}) };
    // The next page is requested before this one is handed over (an opened scroll, or an id not found cheaply).
    if (!done && scrollId !== undefined && !ahead) {
      ahead = continuation(scrollId);
      await letRequestLeave();
    }
    // A page without progress (only the end of the window) still yields: it carries done.
    yield { records, cursor, done };
    if (done) return;
  }
}

/**
 * A backfill reads exactly `window` and must not overlap what is covered already, or the same events would be
 * written by two runs: it must end where scheduled coverage starts (`coveredFrom`, the first scheduled window's
 * start; before any scheduled run, where the first run's look-back will start) and miss every earlier backfill.
 */
function startBackfill({ config, now, committed }: StartContext, window: TimeWindow): EdrCursor {
  const edr = config.modules.edr;
  const fromMs = Date.parse(window.from);
  const toMs = Date.parse(window.to);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs) || fromMs >= toMs) {
    throw new ConfigError(
      `backfill window ${window.from} .. ${window.to} must be two ISO times, from before to`,
    );
  }
  if (toMs > now.getTime()) throw new ConfigError(`backfill window ends in the future (${window.to})`);
  const field = (committed?.timeField as string | undefined) ?? 'event.datetime';
  const windowEnd = typeof committed?.windowEnd === 'string' ? Date.parse(committed.windowEnd) : NaN;
  if (!Number.isNaN(windowEnd) && field !== edr.timeField) {
    throw new ConfigError(
      `scheduled EDR runs window on ${field}, this backfill would use ${edr.timeField}: set QUALYS_EDR_TIME_FIELD=${field}`,
    );
  }
  // Scheduled coverage starts at the first window's start (unknown for states written before it was recorded:
  // then everything up to the scheduled window counts as covered).
  const scheduledFrom = Number.isNaN(windowEnd)
    ? now.getTime() - edr.initialLookbackHours * 3600_000
    : typeof committed?.coveredFrom === 'string'
      ? Date.parse(committed.coveredFrom)
      : -Infinity;
  if (toMs > scheduledFrom) {
    throw new ConfigError(
      `backfill window ${window.from} .. ${window.to} overlaps what scheduled runs cover ` +
        `(${Number.isFinite(scheduledFrom) ? new Date(scheduledFrom).toISOString() : 'everything'} onwards): ` +
        'a backfill must end where that coverage starts',
    );
  }
  const earlier = Array.isArray(committed?.backfills) ? (committed.backfills as TimeWindow[]) : [];
  const clash = earlier.find((b) => Date.parse(b.from) < toMs && fromMs < Date.parse(b.to));
  if (clash) {
    throw new ConfigError(
      `backfill window ${window.from} .. ${window.to} overlaps the earlier backfill ${clash.from} .. ${clash.to}`,
    );
  }
  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    filter: edr.filter,
    timeField: edr.timeField,
    after: null,
    skip: [],
    recent: [],
    overlapMs: 0,
    read: 0,
  };
}

export const edrEvents: ModuleDef = {
  name: 'edr-events',
  state: EDR_STATE,
  runSettings: EDR_RUN_SETTINGS,
  start: ({ config, now, committed }) => {
    const edr = config.modules.edr;
    const overlapMs = edr.overlapMinutes * 60_000;
    const toMs = now.getTime();
    const sameField = (committed?.timeField ?? 'event.datetime') === edr.timeField;
    const prevEnd =
      typeof committed?.windowEnd === 'string' && sameField ? Date.parse(committed.windowEnd) : NaN;
    const fromMs = Number.isNaN(prevEnd)
      ? toMs - edr.initialLookbackHours * 3600_000
      : Math.min(prevEnd, toMs) - overlapMs;
    const skip = Array.isArray(committed?.recentIds) ? (committed.recentIds as string[]) : [];
    return {
      from: iso(fromMs),
      to: iso(toMs),
      filter: edr.filter,
      timeField: edr.timeField,
      after: null,
      skip,
      recent: [],
      overlapMs,
      read: 0,
    } satisfies EdrCursor;
  },
  startBackfill,
  pages: (client, cursor, config) => edrPages(client, cursor as EdrCursor, config),
  kind: () => 'incremental',
  prove: async (final, ctx) => {
    const c = final as EdrCursor;
    const read = c.read ?? 0;
    const checks: CompletenessCheck[] = [
      {
        name: 'edr.order',
        outcome: 'passed',
        actual: read,
        detail: `every event came in ascending ${fieldOf(c)} order (checked one by one) up to an empty page`,
      },
    ];
    const wc = c.windowCount;
    if (wc && 'count' in wc) {
      checks.push({
        name: 'edr.count-endpoint',
        outcome: wc.count === read ? 'passed' : 'failed',
        expected: wc.count,
        actual: read,
        detail:
          `/ioc/events/count for ${fieldOf(c)} ${c.from}..${c.to} vs distinct events read ` +
          `(${ctx.records} written by this run, the rest written by the previous run in the overlap)`,
      });
    } else if (wc) {
      checks.push({
        name: 'edr.count-endpoint',
        outcome: 'skipped',
        actual: read,
        detail:
          `GET /ioc/events/count answered HTTP ${wc.unavailable}: this tenant does not offer it; the window rests on ` +
          'the verified order and the scroll reaching an empty page',
      });
    } else {
      checks.push({
        name: 'edr.count-endpoint',
        outcome: 'failed',
        actual: read,
        detail: 'the window was not counted when its scroll ended (a checkpoint from an older version?)',
      });
    }
    return checks;
  },
  commit: (final, previous): CommittedState => {
    const c = final as EdrCursor;
    // Where scheduled coverage starts (kept from the first scheduled run; a backfill must end before it).
    // A state from before this was recorded has a windowEnd but no coveredFrom: leave it unknown (backfills are
    // then refused) rather than claim coverage starts later than it does.
    const coveredFrom =
      typeof previous?.coveredFrom === 'string'
        ? previous.coveredFrom
        : previous?.windowEnd === undefined
          ? c.from
          : undefined;
    return {
      windowEnd: c.to,
      timeField: fieldOf(c),
      recentIds: c.recent,
      completeThrough: c.to,
      ...(coveredFrom ? { coveredFrom } : {}),
    };
  },
  describe: (c) => {
    const e = c as EdrCursor;
    return {
      from: e.from,
      to: e.to,
      timeField: fieldOf(e),
      filter: e.filter ?? null,
      overlapMinutes: e.overlapMs / 60_000,
    };
  },
  recordId: (r) => String(r.id),
};
