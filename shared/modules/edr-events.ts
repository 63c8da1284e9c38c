import { EDR_RUN_SETTINGS, EDR_STATE } from './edr-state';
import { copyString, dropBody, letRequestLeave } from './prefetch';
import {
  contentHash,
  decodeFingerprints,
  emptySpill,
  encodeFingerprints,
  FingerprintSet,
  isSpill,
  keyHash,
  keyOnly,
  loadSpilledFingerprints,
  spillFingerprints,
  type Fingerprint,
  type SpilledFingerprints,
} from './fingerprints';
import { ConfigError, IncompleteError, ParseError, QexportError, QualysHttpError } from '../errors';
import { EDR_COUNT, edrEvents as edrEventsShape, SCROLL_ID } from '../qualys/envelopes';
import { differences, readJson } from '../qualys/shapes';
import type { QualysClient, QualysRequest, QualysResponse } from '../qualys/types';
import { NO_CLOCK_READING } from '../qualys/clock';
import { edrTimeFieldOf, type AppConfig, type EdrState, type EdrTimeField } from '../config';
import { referenceTime, type ReferenceTime } from '../export/window';
import type {
  CommittedState,
  CompletenessCheck,
  Cursor,
  ExportRecord,
  ModuleDef,
  Page,
  RunContext,
  StartContext,
  TimeWindow,
} from './types';

/**
 * Fingerprints of events (16 bytes each, see ./fingerprints.ts): a few kept in the checkpoint itself, the rest
 * in objects beside the state file (`spilled`). Older checkpoints hold plain id lists instead (read as id-only
 * entries: any event with such an id matches, as those versions decided by id alone).
 */
export interface FingerprintList {
  /** base64 of 16-byte fingerprints not yet spilled. */
  inline: string;
  spilled?: SpilledFingerprints;
}

/**
 * EDR paging position. The scroll id is short-lived, so the cursor keeps the window and the last instant reached
 * (with fingerprints of the events read at that instant); a resumed run reopens the scroll from there.
 *
 * The pager asks for events in ascending order of the window's time field (`sort`) and checks that order event by
 * event, as Singer taps check a stream they declare sorted: the first event older than the one before it stops
 * the run. Nothing is ever dropped because of where it falls in the order. What identifies an event is its `id`
 * and its content together (see `identity` below): an event is not written when the same id with the same content
 * was read already in this window (a repeat: in a verified ascending listing every repeat falls in the same
 * instant as the first, since the time is part of the content) or written by the previous run in the overlap.
 */
export interface EdrCursor extends Cursor {
  /** Window on the time field, ISO UTC: from inclusive, to exclusive. */
  from: string;
  to: string;
  filter?: string;
  /** QQL field the window and the sort apply to (absent in older checkpoints: event.datetime). */
  timeField?: string;
  /** The `state` parameter sent with the listing and the count (absent in older checkpoints: none was sent). */
  state?: EdrState;
  /** Last instant reached (the event's own text for the time field) and the events read at exactly that instant. */
  after: { dateTime: string; seen?: FingerprintList; ids?: string[] } | null;
  /** Events the previous run read in its overlap: not written again (older checkpoints: an id list). */
  skip: FingerprintList | string[];
  /** Events read in the last `overlapMs` of this window (committed for the next run; older: an id list). */
  recent: FingerprintList | string[];
  overlapMs: number;
  /** Distinct events read in the window so far (written, or not written as written by the previous run). */
  read?: number;
  /** Events not written or written despite sharing an id, by reason (see prove). */
  identity?: { repeats: number; sharedIds: number; previousRun: number };
  /**
   * What `GET /ioc/events/count` answered for the window, asked right after the scroll ended: the count, or the
   * HTTP status that says the tenant does not offer it (404/405). Absent until the window is read.
   */
  windowCount?: { count: number } | { unavailable: number };
  /** Where the window's end came from: our clock, Qualys's (Date headers) and the indexing lag. */
  clock?: ReferenceTime;
  /** Serial of the next spill of a large boundary set (each spill gets a new name). */
  spills?: number;
}

/**
 * Fingerprints kept in the checkpoint before they go to an object beside the state file: 512 × 16 bytes is
 * 11 KB of base64, so the recent list and a boundary set together stay far below a 64 KB checkpoint.
 */
export const INLINE_FINGERPRINTS = 512;
/** Pages in a row that bring nothing new before the scroll is declared stuck. */
const MAX_STALLED_PAGES = 3;

/** The record field that carries each QQL time field. */
export const EDR_RECORD_FIELD: Record<EdrTimeField, 'dateTime' | 'eventProcessedTime'> = {
  'event.datetime': 'dateTime',
  'event.eventprocesstime': 'eventProcessedTime',
};

/** '2020-08-17T04:15:06.000+0000' → epoch ms. */
export function edrTimeMs(dateTime: string): number {
  const iso = dateTime.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new ParseError(`EDR event has an unreadable time '${dateTime}'`);
  return ms;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The cursor's time field, spelled as documented (older checkpoints: absent, or event.eventProcessedTime). */
function fieldOf(c: Pick<EdrCursor, 'timeField'>): EdrTimeField {
  const f = c.timeField === undefined ? 'event.datetime' : edrTimeFieldOf(c.timeField);
  if (!f) throw new QexportError('state', `EDR checkpoint names an unknown time field '${c.timeField}'`);
  return f;
}

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

/** The `state` query parameter of every listing and count request of a window (the same on both). */
export function edrStateParam(c: Pick<EdrCursor, 'state'>): { state?: string } {
  return c.state === undefined || c.state === 'omit' ? {} : { state: c.state };
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

/** What Qualys's answer to a filter it refuses means, for the message of the failed run. */
function refusedFilter(err: unknown, cursor: EdrCursor): unknown {
  if (!(err instanceof QualysHttpError) || err.status !== 400) return err;
  return new QualysHttpError(
    `${err.message}. Qualys refused the EDR query ${edrWindowQuery(cursor)}: the time field is spelled as Qualys ` +
      `documents it (${fieldOf(cursor)}, QUALYS_EDR_TIME_FIELD) and the rest is QUALYS_EDR_FILTER; nothing was ` +
      'read as complete. A tenant that does not know that field cannot be windowed on it: try ' +
      'QUALYS_EDR_TIME_FIELD=event.datetime, or correct QUALYS_EDR_FILTER',
    { status: err.status, url: err.url, cause: err },
  );
}

/**
 * Asks `/ioc/events/count` about the whole window, with the listing's filter and `state`. 404/405: the tenant does
 * not offer it. Any other failure propagates (a deadline pauses the run like any page; a persistent error fails it).
 */
async function countWindow(
  client: QualysClient,
  cursor: EdrCursor,
): Promise<{ count: number } | { unavailable: number }> {
  try {
    const count = await client.call(
      {
        url: '/ioc/events/count',
        query: { filter: edrWindowQuery(cursor), ...edrStateParam(cursor) },
        label: 'edr-events count',
      },
      parseEdrCount,
    );
    return { count };
  } catch (err) {
    if (err instanceof QualysHttpError && (err.status === 404 || err.status === 405)) {
      return { unavailable: err.status };
    }
    throw refusedFilter(err, cursor);
  }
}

/**
 * A scroll continuation is not safe to repeat: if a response is lost after the server advanced the scroll, a
 * retry with the same id would skip a page. So a continuation is sent once, and on any failure other than
 * auth, origin or deadline errors the scroll is reopened from the last instant reached (an idempotent
 * request, retried normally).
 */
const reopenAfter = (err: unknown) => err instanceof QualysHttpError || err instanceof ParseError;

/** A fingerprint list from a checkpoint or a committed state: validated, never guessed around. */
function readList(v: unknown, what: string): FingerprintList {
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === 'string'))
      throw new QexportError('state', `${what} is not a list of ids`);
    return { inline: encodeFingerprints(v.map((id: string) => keyOnly(id))) };
  }
  const l = v as FingerprintList | null | undefined;
  if (l === undefined || l === null) return { inline: '' };
  if (
    typeof l !== 'object' ||
    typeof l.inline !== 'string' ||
    (l.spilled !== undefined && !isSpill(l.spilled))
  ) {
    throw new QexportError('state', `${what} is not a fingerprint list ({inline, spilled?})`);
  }
  return l;
}

/** Fingerprints a list holds. */
const listSize = (l: FingerprintList) => Buffer.byteLength(l.inline, 'base64') / 16 + (l.spilled?.count ?? 0);

/** Every fingerprint of a list, into `into` (spilled ones read from the run's scratch). */
async function loadList(
  list: FingerprintList,
  into: { add(fp: Fingerprint): void },
  run: RunContext | undefined,
  what: string,
): Promise<void> {
  for (const fp of decodeFingerprints(list.inline, what)) into.add(fp);
  if (list.spilled && list.spilled.segments > 0) {
    if (!run)
      throw new QexportError('state', `${what} is spilled, but this pager has no run scratch to read it`);
    await loadSpilledFingerprints(run.scratch, list.spilled, into);
  }
}

/** One event read at the current instant: its id hash, and its content hash once it was needed. */
interface InstantEntry {
  content?: [number, number];
  /** The event, until its content hash is computed. */
  event?: ExportRecord;
  /** Read before the scroll was (re)opened: seeing it again is the reopen, not a repeat. */
  carried: boolean;
}

/**
 * The events read at the last instant reached, by id: what a reopened scroll (which starts at that instant)
 * serves again, and where every repeat of an event falls in an ascending listing. Content hashes are computed only
 * when an id comes twice, or when the set goes into a checkpoint. Memory: the largest instant.
 */
class Instant {
  private byKey = new Map<string, InstantEntry[]>();

  clear(): void {
    this.byKey.clear();
  }

  /** Everything read so far counts as read before the scroll that follows. */
  carryOver(): void {
    for (const list of this.byKey.values()) for (const e of list) e.carried = true;
  }

  load(fps: readonly Fingerprint[]): void {
    for (const fp of fps) {
      const k = `${fp[0]}.${fp[1]}`;
      const e: InstantEntry = { content: [fp[2], fp[3]], carried: true };
      const list = this.byKey.get(k);
      if (list) list.push(e);
      else this.byKey.set(k, [e]);
    }
  }

  /**
   * 'reread': read before the reopen; 'repeat': this scroll served it already (same id, same content); 'shared':
   * new content for an id read at this instant; 'new'.
   */
  see(key: [number, number], ev: ExportRecord): 'reread' | 'repeat' | 'shared' | 'new' {
    const k = `${key[0]}.${key[1]}`;
    const list = this.byKey.get(k);
    if (!list) {
      this.byKey.set(k, [{ event: ev, carried: false }]);
      return 'new';
    }
    const c = contentHash(ev);
    for (const e of list) {
      const ec = contentOf(e);
      // An id-only entry of an older checkpoint matches any content.
      if ((ec[0] === c[0] && ec[1] === c[1]) || (ec[0] === 0xffffffff && ec[1] === 0xffffffff)) {
        return e.carried ? 'reread' : 'repeat';
      }
    }
    list.push({ content: c, carried: false });
    return 'shared';
  }

  fingerprints(): Fingerprint[] {
    const out: Fingerprint[] = [];
    for (const [k, list] of this.byKey) {
      const [a, b] = k.split('.').map(Number) as [number, number];
      for (const e of list) out.push([a, b, ...contentOf(e)]);
    }
    return out;
  }
}

function contentOf(e: InstantEntry): [number, number] {
  if (!e.content) {
    e.content = contentHash(e.event);
    e.event = undefined;
  }
  return e.content;
}

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

async function* edrPages(
  client: QualysClient,
  start: EdrCursor,
  config: AppConfig,
  run: RunContext | undefined,
): AsyncGenerator<Page> {
  let cursor = start;
  const field = fieldOf(cursor);
  const key = EDR_RECORD_FIELD[field];
  const sort = edrSort(field);
  const pageSize = config.modules.edr.pageSize;
  const fromMs = Date.parse(cursor.from);
  const toMs = Date.parse(cursor.to);
  // Events in the window's last overlapMs: the next window reads them again, and must know them.
  const inTail = (ms: number) => cursor.overlapMs > 0 && ms >= toMs - cursor.overlapMs;

  // The previous run's overlap events, and the events at the instant this cursor reached.
  const skipList = readList(cursor.skip, 'EDR checkpoint skip');
  const skip = new FingerprintSet(listSize(skipList));
  try {
    await loadList(skipList, skip, run, 'EDR checkpoint skip');
  } catch (err) {
    if (!(err instanceof QexportError) || err.code !== 'state') throw err;
    throw new QexportError(
      'state',
      `${err.message}. These are the events the previous run wrote in its overlap, which this window reads again; ` +
        'without them they would be written twice. Restore the object, or start over with `qexport state reset ' +
        'edr-events --yes --all` (the next window then starts from the initial look-back)',
      { cause: err },
    );
  }
  const instant = new Instant();
  if (cursor.after) {
    const seen: Fingerprint[] = [];
    const list = readList(cursor.after.seen ?? cursor.after.ids, 'EDR checkpoint boundary');
    await loadList(list, { add: (fp) => seen.push(fp) }, run, 'EDR checkpoint boundary');
    instant.load(seen);
  }
  // This run's overlap events not yet spilled (older checkpoints: an id list, carried over as id-only entries).
  const recentList = readList(cursor.recent, 'EDR checkpoint recent');
  let recentSpill = recentList.spilled;
  let recentBuffer: Fingerprint[] = decodeFingerprints(recentList.inline, 'EDR checkpoint recent');

  let scrollId: string | undefined;
  let stalled = 0;
  let ahead: Ahead | undefined;
  let afterTime = cursor.after?.dateTime;
  let afterMs = afterTime === undefined ? -Infinity : edrTimeMs(afterTime);
  let read = cursor.read ?? 0;
  const counts = { repeats: 0, sharedIds: 0, previousRun: 0, ...cursor.identity };
  let spills = cursor.spills ?? 0;
  const continuation = (id: string): Ahead => {
    const response = client.call(
      { url: '/ioc/events/scroll', query: { scrollId: id }, label: 'edr-events scroll', maxRetries: 0 },
      (res) => res,
    );
    response.catch(() => undefined); // observed when used; one discarded must not be an unhandled rejection
    return { id, response };
  };

  /** Spills what must not stay in the checkpoint; the fingerprint lists the next cursor names. */
  async function lists(done: boolean): Promise<Pick<EdrCursor, 'after' | 'recent' | 'spills'>> {
    if (run && recentBuffer.length && (done || recentBuffer.length > INLINE_FINGERPRINTS)) {
      recentSpill = await spillFingerprints(
        run.scratch,
        recentSpill ?? emptySpill(run.runId, 'recent'),
        recentBuffer,
      );
      recentBuffer = [];
    }
    const recent: FingerprintList = {
      inline: encodeFingerprints(recentBuffer),
      ...(recentSpill ? { spilled: recentSpill } : {}),
    };
    if (afterTime === undefined) return { after: null, recent, spills };
    const seen = instant.fingerprints();
    if (run && seen.length > INLINE_FINGERPRINTS) {
      // More events share this instant than the checkpoint keeps inline: a new object each time, so the one the
      // stored checkpoint names is never overwritten.
      const spilled = await spillFingerprints(run.scratch, emptySpill(run.runId, `after-${spills}`), seen);
      spills++;
      return { after: { dateTime: afterTime, seen: { inline: '', spilled } }, recent, spills };
    }
    return { after: { dateTime: afterTime, seen: { inline: encodeFingerprints(seen) } }, recent, spills };
  }

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
      // A (re)opened scroll starts at the last instant reached: what was read there is read again, not repeated.
      instant.carryOver();
      try {
        page = await client.call(
          {
            url: '/ioc/events/scroll',
            query: { filter: edrQuery(cursor), sort, pageSize, ...edrStateParam(cursor) },
            label: 'edr-events scroll open',
          },
          (res) => parseEdrPage(res, key),
        );
      } catch (err) {
        throw refusedFilter(err, cursor);
      }
    }
    scrollId = page.scrollId;

    const readBefore = read;
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
      if (ms > afterMs) {
        afterMs = ms;
        afterTime = t;
        instant.clear();
      }
      const k = keyHash(id);
      const seen = instant.see(k, ev);
      if (seen === 'reread') continue;
      if (seen === 'repeat') {
        counts.repeats++;
        continue;
      }
      if (seen === 'shared') counts.sharedIds++;
      read++;
      let content: [number, number] | undefined;
      if (skip.size && skip.hasKey([...k, 0, 0])) {
        content = contentHash(ev);
        if (skip.match([...k, ...content]) === 'same') {
          counts.previousRun++;
          if (inTail(ms)) recentBuffer.push([...k, ...content]);
          continue;
        }
        if (seen !== 'shared') counts.sharedIds++;
      }
      if (inTail(ms)) recentBuffer.push([...k, ...(content ?? contentHash(ev))]);
      records.push(ev);
    }
    const progressed = read !== readBefore;
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
    const state = { ...(await lists(done)), read, identity: { ...counts } };
    // The window's count is asked as soon as the scroll ends, here rather than in prove(): if it meets the
    // invocation's deadline the run pauses before this page, and the next invocation reopens from the boundary.
    const windowCount = done ? await countWindow(client, { ...cursor, ...state }) : undefined;
    cursor = { ...cursor, ...state, ...(windowCount ? { windowCount } : {}) };
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
  const field = committedField(committed);
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
    state: edr.state,
    after: null,
    skip: { inline: '' },
    recent: { inline: '' },
    overlapMs: 0,
    read: 0,
  };
}

/** The time field the committed state's windows were on, spelled as documented. */
function committedField(committed: CommittedState | undefined): EdrTimeField {
  const f = committed?.timeField;
  return (typeof f === 'string' && edrTimeFieldOf(f)) || 'event.datetime';
}

/** Where a new scheduled window starts and ends. */
export function edrStart({ config, now, committed, reference }: StartContext): EdrCursor {
  const edr = config.modules.edr;
  const overlapMs = edr.overlapMinutes * 60_000;
  // The window ends at the earlier of our clock and Qualys's, minus the indexing lag (shared/export/window.ts).
  const clock = reference ?? referenceTime(now, NO_CLOCK_READING, edr.indexingLagSeconds * 1000);
  const toMs = Date.parse(clock.end);
  const sameField = committedField(committed) === edr.timeField;
  const prevEnd =
    typeof committed?.windowEnd === 'string' && sameField ? Date.parse(committed.windowEnd) : NaN;
  const fromMs = Number.isNaN(prevEnd)
    ? toMs - edr.initialLookbackHours * 3600_000
    : Math.min(prevEnd, toMs) - overlapMs;
  // The previous run's overlap: its fingerprints (spilled beside the state file), or an older state's id list.
  const skip =
    committed?.overlap !== undefined
      ? readList(committed.overlap, 'committed EDR overlap')
      : readList(committed?.recentIds, 'committed EDR recentIds');
  return {
    from: iso(fromMs),
    to: iso(toMs),
    filter: edr.filter,
    timeField: edr.timeField,
    state: edr.state,
    after: null,
    skip,
    recent: { inline: '' },
    overlapMs,
    read: 0,
    clock,
  };
}

export const edrEvents: ModuleDef = {
  name: 'edr-events',
  state: EDR_STATE,
  runSettings: EDR_RUN_SETTINGS,
  start: edrStart,
  startBackfill,
  pages: (client, cursor, config, _log, run) => edrPages(client, cursor as EdrCursor, config, run),
  kind: () => 'incremental',
  window: {
    lagMs: (config) => config.modules.edr.indexingLagSeconds * 1000,
    overlapMs: (config) => config.modules.edr.overlapMinutes * 60_000,
    // A count of the last second on our clock: cheap, and its answer (whatever the status) carries the Date.
    probe: (config, now): QualysRequest => {
      const edr = config.modules.edr;
      const range = `${edr.timeField}:['${iso(now.getTime() - 1000)}'..'${now.toISOString()}']`;
      return {
        url: '/ioc/events/count',
        query: { filter: range, ...edrStateParam(edr) },
        label: 'edr-events server time probe',
      };
    },
  },
  prove: async (final, ctx) => {
    const c = final as EdrCursor;
    const read = c.read ?? 0;
    const id = { repeats: 0, sharedIds: 0, previousRun: 0, ...c.identity };
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
          `/ioc/events/count for ${fieldOf(c)} ${c.from}..${c.to}${c.state && c.state !== 'omit' ? ` (state=${c.state})` : ''} ` +
          `vs distinct events read (${ctx.records} written by this run, ${id.previousRun} written by the previous ` +
          'run in the overlap)',
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
    checks.push(
      {
        name: 'edr.repeats',
        outcome: 'passed',
        actual: id.repeats,
        detail:
          'events served again in this window with the same id and the same content: not written again (a repeat ' +
          'falls in the same instant as the first in the verified order)',
      },
      {
        name: 'edr.shared-ids',
        outcome: 'passed',
        actual: id.sharedIds,
        detail:
          "events whose id another event of different content has (at the same instant, or in the previous run's " +
          'overlap): each written, none dropped for its id alone',
      },
      {
        name: 'edr.previous-run',
        outcome: 'passed',
        actual: id.previousRun,
        detail:
          'events of the overlap that the previous run wrote (same id, same content): not written again',
      },
    );
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
      overlap: readList(c.recent, 'EDR final cursor recent'),
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
      state: e.state ?? null,
      overlapMinutes: e.overlapMs / 60_000,
      ...(e.clock ? { clock: e.clock } : {}),
    };
  },
  identity: {
    fields: ['id'],
    unique: false,
    evidence:
      '[recorded] bodies show two id forms, a per-day F_<uuid>_D-M-YYYY and F_<agentId>_<n> beside a timeSeriesId; ' +
      'that id alone names one event is documented nowhere, so an event is the same only with the same id and content',
    key: (r) => String(r.id),
  },
};
