/**
 * The XML truncation paginator: one implementation for every Qualys XML listing that pages by `id_min` and a
 * `WARNING` (code 1980) truncation URL — VMDR Mobile assets, VMDR host detections, the KnowledgeBase. A module
 * declares a TruncationListing (endpoint, envelope shape, record element and identity, order) and its own request
 * parameters, fixed when its run starts and carried in the cursor; this file does the rest:
 *
 * - Bodies are read as streams (client.openStream) and split into records as they arrive (./xml-stream.ts); each
 *   record is parsed by the strict reader and checked against its declared shape; the envelope around them is
 *   checked when the body ends. Records are handed to the engine in sub-pages (about `subPageChars` of XML each)
 *   whose cursors are valid resume points, so a checkpoint may fall inside a response, and a body that fails
 *   mid-way is read again from the last record handed over, not from its start.
 * - The continuation is rebuilt, never trusted: the next request is our own parameters plus the `id_min` the
 *   truncation URL names, sent to the configured origin. A URL naming another host is not followed: its id_min is
 *   re-issued on the configured origin (as Qualys's own add-on does; counted, logged and named in the proof), so the
 *   token never leaves it. A URL on another path, with credentials, or adding or changing any parameter other than
 *   `id_min` is refused with an error naming it (a parameter of ours it merely lacks is fine: ours are sent).
 *   `id_min` must move forward. No URL is ever stored: cursors hold our parameters and an id.
 * - Order: ids strictly increase within and across responses (`ascending`, as id_min paging itself assumes), or
 *   the order is not known (`unknown`, the KB): verified while it holds; a listing that turns out unordered is
 *   still read whole (resumes then skip by position, checked by a hash of the ids skipped), and refused only where
 *   the run already relied on the order (it continued by id_min).
 * - A record whose id repeats the last one written, at the top of the next response (an `id_min` that includes
 *   it), is dropped when its content is identical; with different content the run fails and is read again
 *   (docs/api-assumptions.md: the two copies cannot both be right, and merging them would guess at semantics
 *   nobody documents).
 */
import { createHash } from 'node:crypto';
import {
  ConfigError,
  IncompleteError,
  OriginError,
  ParseError,
  QualysHttpError,
  StreamError,
} from '../errors';
import type { Logger } from '../log';
import { checkShape, type EndpointShape } from '../qualys/shapes';
import type { QualysClient, QualysRequest, QualysStream, QualysTarget } from '../qualys/types';
import { letRequestLeave } from './prefetch';
import type { CompletenessCheck, Cursor, ExportRecord, Page } from './types';
import { parseXml, simpleReturnError } from './xml';
import { readRecord, RecordSplitter, splitEnvelope } from './xml-stream';

export interface TruncationListing {
  /** Names the listing in messages: 'VMDR Mobile', 'VMDR host detection', 'KnowledgeBase'. */
  what: string;
  /** What one record is, in messages: 'asset', 'host', 'vulnerability'. */
  noun: string;
  /** Prefix of its completeness check names: 'vmdr' → 'vmdr.last-batch'. */
  check: string;
  /** Request label prefix: 'vmdr-detections'. */
  label: string;
  /** The configured origin the listing lives on, and its path (the only path a truncation URL may name). */
  base: QualysTarget;
  path: string;
  method: 'GET' | 'POST';
  /** The whole response as it would parse (records included), in the vocabulary of shared/qualys/shapes.ts. */
  envelope: EndpointShape;
  /** Element names from the root to one record: ['HOST_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'HOST_LIST', 'HOST']. */
  recordPath: readonly string[];
  /** Element names from the root to the WARNING: ['…_OUTPUT', 'RESPONSE', 'WARNING']. */
  warningPath: readonly string[];
  /** Repeating elements outside `*_LIST` elements, made arrays even when one comes (TAG, QDS_FACTOR, …). */
  lists?: ReadonlySet<string>;
  /** The record's identity: a decimal id element ('ID', 'QID'). */
  idField: string;
  /** What the run may assume about the order of ids (see the file comment). */
  order: 'ascending' | 'unknown';
  /** Per-request timeout (ms) when the listing needs longer than the client's default. */
  timeoutMs?: number;
}

/**
 * The paginator's part of a cursor (a module's cursor extends it with what its run is: kind, window, …). Plain
 * JSON: our parameters and ids, never a URL.
 */
export interface TruncationCursor extends Cursor {
  /** Our request parameters, fixed at run start (action, truncation_limit, filters …), without id_min. */
  params: Record<string, string>;
  /** `id_min` of the next request; null: the first request, which sends none. */
  idMin: string | null;
  /** The listing has ended (a response without WARNING was read to its end). */
  done?: boolean;
  /** Responses read to their end. */
  batches: number;
  /** Highest id handed over so far (decimal text). */
  lastId?: string;
  /** Digest of the last record handed over: a repeat of its id at the top of the next response is compared to it. */
  lastDigest?: string;
  /** The cursor points inside a response (resume at idMin, or, unordered, skip `skip` records after idMin). */
  mid?: boolean;
  /** Unordered listings: records of the current response already handed over, and a hash of their ids. */
  skip?: number;
  chain?: string;
  /** The ids turned out not to be in order (order 'unknown' only). */
  unordered?: boolean;
  /** The run continued by id_min (a truncation URL, or a resume inside a response): it relies on the order. */
  relied?: boolean;
  /** Records dropped as identical repeats of the record before them. */
  repeats?: number;
  /** Truncation URLs that lacked some of our parameters (ours were sent), and which parameters. */
  lacking?: number;
  lackingKeys?: string[];
  /** Truncation URLs that named another origin (only their id_min was taken; ours was called), and which origins. */
  rehomed?: number;
  rehomedFrom?: string[];
}

export interface TruncationOptions<C extends TruncationCursor> {
  /** The configured origin of `listing.base` (a truncation URL must name it). */
  origin: string;
  /** How often a body that fails mid-way (or cannot be read) is read again before the run fails. */
  maxRetries: number;
  /** About this many characters of XML per sub-page handed to the engine. */
  subPageChars: number;
  log: Logger;
  /** A module's own bookkeeping over the records of a sub-page (e.g. what they say about a filter). */
  observe?: (records: ExportRecord[], cursor: C) => C;
  /** Message when the listing's origin is not configured. */
}

// ------------------------------------------------------------------------------------------ ids

const DECIMAL = /^\d{1,30}$/;

/** Compares two decimal ids without converting them (ids beyond 2^53 keep every digit). */
export function compareIds(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
}

/** The id after `id` (decimal text). */
export function nextId(id: string): string {
  return (BigInt(id) + 1n).toString();
}

const digest = (r: ExportRecord) => createHash('sha1').update(JSON.stringify(r)).digest('base64url');

/** FNV-1a over the ids handed over, as a short hex string. */
function chainStep(chain: string, id: string): string {
  let h = Number.parseInt(chain || '811c9dc5', 16);
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ 0x2c, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// ------------------------------------------------------------------------------------------ continuation

/** `YYYY-MM-DDTHH:MM:SSZ` and the spellings the API uses for the same instant → epoch ms (whole seconds); NaN otherwise. */
export function apiInstant(text: string): number {
  if (!/^\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(text.trim())) return NaN;
  let t = text.trim().replace(' ', 'T');
  if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t)) t += 'Z';
  const ms = Date.parse(t);
  return Math.floor(ms / 1000) * 1000;
}

/** The same parameter value: equal text, or the same instant however it is spelled. */
function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  const x = apiInstant(a);
  return !Number.isNaN(x) && x === apiInstant(b);
}

/** Where a listing goes on: the next `id_min`, our parameters the URL lacked, and the other origin it named. */
export interface Continuation {
  idMin: string;
  lacking: string[];
  rehomedFrom?: string;
}

/**
 * The next request's `id_min`, from a truncation URL: checked against our path and parameters, never followed (the
 * next request goes to the configured origin whatever host the URL names).
 */
export function continuation(
  raw: string,
  listing: Pick<TruncationListing, 'what' | 'path'>,
  ours: Record<string, string>,
  origin: string,
  current: string | null,
): Continuation {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new OriginError(
      `refusing a malformed truncation URL from the ${listing.what} response; nothing was sent`,
    );
  }
  const where = `${u.protocol}//${u.host}`;
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password) {
    throw new OriginError(
      `refusing a ${listing.what} truncation URL over ${where}: it cannot be continued safely; the token was not sent`,
    );
  }
  const trim = (p: string) => p.replace(/\/+$/, '');
  if (trim(u.pathname) !== trim(listing.path)) {
    throw new OriginError(
      `refusing a ${listing.what} truncation URL for ${u.pathname} on ${u.origin}: only ${listing.path} continues ` +
        'this listing; the token was not sent',
    );
  }
  const configured = new URL(origin).origin;
  const seen = new Set<string>();
  let idMin: string | undefined;
  for (const [k, v] of u.searchParams) {
    if (seen.has(k)) {
      throw new IncompleteError(
        `a ${listing.what} truncation URL names ${k} twice: it cannot be continued safely`,
      );
    }
    seen.add(k);
    if (k === 'id_min') {
      idMin = v.trim();
      continue;
    }
    const want = ours[k];
    if (want === undefined) {
      throw new IncompleteError(
        `a ${listing.what} truncation URL adds ${k}=${v}, which this run did not ask for: following it could change ` +
          'what the listing holds, so it cannot be proven complete',
      );
    }
    if (!sameValue(v, want)) {
      throw new IncompleteError(
        `a ${listing.what} truncation URL changes ${k} from ${want} to ${v}: the batches would not belong to one listing`,
      );
    }
  }
  if (idMin === undefined || !DECIMAL.test(idMin)) {
    throw new ParseError(
      `${listing.what} WARNING URL has no usable id_min (${idMin === undefined ? 'none' : `'${idMin}'`})`,
    );
  }
  if (current !== null && compareIds(idMin, current) <= 0) {
    throw new IncompleteError(
      `a ${listing.what} truncation URL does not move forward (id_min ${idMin} after a request from ${current}); refusing to loop`,
    );
  }
  return {
    idMin,
    lacking: Object.keys(ours).filter((k) => !seen.has(k)),
    ...(u.origin !== configured ? { rehomedFrom: u.origin } : {}),
  };
}

// ------------------------------------------------------------------------------------------ pages

const SPLIT = new WeakMap<TruncationListing, ReturnType<typeof splitEnvelope>>();
function shapesOf(listing: TruncationListing) {
  let s = SPLIT.get(listing);
  if (!s) SPLIT.set(listing, (s = splitEnvelope(listing.envelope, listing.recordPath)));
  return s;
}

function at(doc: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = doc;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

export function truncationRequest(listing: TruncationListing, c: TruncationCursor): QualysRequest {
  const params = { ...c.params, ...(c.idMin !== null ? { id_min: c.idMin } : {}) };
  const label = `${listing.label} ${c.batches ? `batch ${c.batches + 1}` : 'first batch'}`;
  const common = {
    url: listing.path,
    base: listing.base,
    accept: 'xml' as const,
    label,
    timeoutMs: listing.timeoutMs,
  };
  return listing.method === 'POST'
    ? { ...common, method: 'POST', form: params }
    : { ...common, query: params };
}

/** A response's envelope once its records are out: parsed strictly, a SIMPLE_RETURN thrown as its error, checked. */
function readEnvelope(envelope: EndpointShape, text: string): Record<string, unknown> {
  const doc = parseXml(text);
  const apiError = simpleReturnError(doc);
  if (apiError) throw apiError;
  return checkShape(envelope, doc);
}

/** Where the listing goes on after a response: undefined at its end, else the id_min a WARNING hands over. */
function nextRequest(
  listing: TruncationListing,
  doc: Record<string, unknown>,
  request: TruncationCursor,
  origin: string,
  unordered: boolean,
): Continuation | undefined {
  const warning = at(doc, listing.warningPath) as { CODE?: unknown; URL?: unknown } | undefined;
  if (warning === undefined) return undefined;
  if (typeof warning.URL !== 'string' || !warning.URL.trim()) {
    throw new ParseError(
      `${listing.what} WARNING without a truncation URL (code ${String(warning.CODE ?? 'none')})`,
    );
  }
  if (unordered) {
    throw new IncompleteError(
      `${listing.what} was truncated (WARNING ${String(warning.CODE ?? '')}) while its ${listing.idField}s are ` +
        'not in order: continuing by id_min could skip some, so the listing cannot be proven complete',
    );
  }
  return continuation(warning.URL, listing, request.params, origin, request.idMin);
}

/**
 * A whole body read exactly as the paginator reads a stream (record by record, then the envelope): its records
 * and where the listing goes on. For tests and fuzzing of the endpoint's declared shape.
 */
export function readTruncationBody(
  listing: TruncationListing,
  text: string,
  request: Pick<TruncationCursor, 'params' | 'idMin'>,
  origin: string,
): { records: ExportRecord[]; next?: Continuation } {
  const { envelope, record } = shapesOf(listing);
  const name = listing.recordPath[listing.recordPath.length - 1]!;
  const splitter = new RecordSplitter(listing.recordPath, `${listing.what} response`);
  const records: ExportRecord[] = [];
  splitter.push(text);
  for (let t = splitter.take(); t !== undefined; t = splitter.take()) {
    records.push(readRecord(t, name, record, listing.what, listing.lists));
  }
  const doc = readEnvelope(envelope, splitter.end());
  const cursor = { ...request, batches: 0 } as TruncationCursor;
  return { records, next: nextRequest(listing, doc, cursor, origin, false) };
}

/**
 * Reads `src` ahead of its consumer, up to about `max` characters: the connection keeps being drained while the
 * records already received are parsed and written, so a server that produces its page as it sends it never waits
 * for our processing (and our processing never waits for its next chunk when one is already here). An error of the
 * source reaches the consumer after the chunks before it.
 */
export async function* readAhead(src: AsyncIterable<string>, max: number): AsyncGenerator<string> {
  const it = src[Symbol.asyncIterator]();
  const queue: string[] = [];
  let queued = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let pumping = false;
  let wake: (() => void) | undefined;
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (!ended && queued < max) {
        const r = await it.next();
        if (r.done) ended = true;
        else {
          queue.push(r.value);
          queued += r.value.length;
        }
        wake?.();
      }
    } catch (error) {
      failure = { error };
      ended = true;
    } finally {
      pumping = false;
      wake?.();
    }
  };
  try {
    for (;;) {
      void pump();
      const chunk = queue.shift();
      if (chunk !== undefined) {
        queued -= chunk.length;
        yield chunk;
        continue;
      }
      if (ended) {
        if (failure) throw failure.error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    ended = true;
  }
}

/** How much of a body is read ahead of the parse (characters). */
const READ_AHEAD_CHARS = 4 * 1024 * 1024;

/** Transient failures of a body: read it again from the last record handed over. */
const transient = (err: unknown) => err instanceof StreamError || err instanceof ParseError;

export async function* truncationPages<C extends TruncationCursor>(
  client: QualysClient,
  listing: TruncationListing,
  start: C,
  opts: TruncationOptions<C>,
): AsyncGenerator<Page> {
  const { envelope, record: recordShape } = shapesOf(listing);
  const name = listing.recordPath[listing.recordPath.length - 1]!;
  /** The cursor of the last page handed over: where a failed stretch of a response reads on from. */
  let cursor: C = start;
  if (cursor.done) return;
  let failures = 0;
  let stream: QualysStream | undefined;
  let ahead: Promise<QualysStream> | undefined;
  let warnedUnordered = false;
  const idOf = (r: ExportRecord): string => {
    const id = r[listing.idField];
    if (typeof id !== 'string' || !DECIMAL.test(id.trim())) {
      throw new ParseError(
        `${listing.what}: a <${name}> has no decimal ${listing.idField} ('${String(id)}')`,
      );
    }
    return id.trim();
  };
  const backwards = (id: string, after: string, batch: number) =>
    new IncompleteError(
      `${listing.what}: ${listing.noun} ${listing.idField}s went backwards: ${id} came after ${after} (batch ${batch}); ` +
        'the listing cannot be proven complete',
      {
        checks: [
          {
            name: `${listing.check}.ids-increasing`,
            outcome: 'failed',
            detail: `${listing.idField} ${id} after ${after}`,
          },
        ],
      },
    );
  /** The last transient failure of a response, once the retries are spent: the same kind, saying so. */
  const givingUp = (err: unknown, attempts: number) => {
    const message = `${listing.label}: giving up after ${attempts} attempts at ${listing.path}: ${(err as Error).message}`;
    return err instanceof StreamError
      ? new StreamError(message, { cause: err })
      : new ParseError(message, { cause: err });
  };
  try {
    for (;;) {
      // A resume inside a response by id relies on the order from here on.
      const request: C = cursor.mid && !cursor.unordered ? { ...cursor, relied: true } : cursor;
      stream = await (ahead ?? client.openStream(truncationRequest(listing, request)));
      ahead = undefined;
      const splitter = new RecordSplitter(listing.recordPath, `${listing.what} response`);
      /** Unordered resume: the records of this response already handed over come again first. */
      const skipTotal = request.unordered && request.mid ? (request.skip ?? 0) : 0;
      let respCount = 0;
      let respChain = '';
      let state: C = request;
      let batch: ExportRecord[] = [];
      let chars = 0;
      let last: ExportRecord | undefined;
      /** The cursor after the records handed over so far in this response. */
      const midCursor = (): C => {
        const lastDigest = last ? digest(last) : state.lastDigest;
        return state.unordered
          ? { ...state, lastDigest, idMin: request.idMin, mid: true, skip: respCount, chain: respChain }
          : {
              ...state,
              lastDigest,
              idMin: state.lastId !== undefined ? nextId(state.lastId) : request.idMin,
              mid: true,
              skip: undefined,
              chain: undefined,
            };
      };
      let envText: string;
      try {
        for await (const chunk of readAhead(stream.chunks, READ_AHEAD_CHARS)) {
          splitter.push(chunk);
          for (let text = splitter.take(); text !== undefined; text = splitter.take()) {
            const rec = readRecord(text, name, recordShape, listing.what, listing.lists);
            const id = idOf(rec);
            const position = respCount++;
            respChain = chainStep(respChain, id);
            if (position < skipTotal) {
              if (position === skipTotal - 1 && respChain !== request.chain) {
                throw new IncompleteError(
                  `${listing.what}: the response read again after a resume did not start with the same ` +
                    `${skipTotal} records (its order is not stable); the run is read again`,
                  { reread: true },
                );
              }
              continue;
            }
            // The record just handed over, again right after itself (in any order): an identical copy is the same
            // record served twice and is dropped; a different one cannot be written beside it, so the run is read
            // again. (At the top of a response the previous response's last record is checked below.)
            if (last !== undefined && compareIds(id, idOf(last)) === 0) {
              if (digest(rec) === digest(last)) {
                state = { ...state, repeats: (state.repeats ?? 0) + 1 };
                continue;
              }
              throw new IncompleteError(
                `${listing.what}: ${listing.idField} ${id} came twice in a row in batch ${state.batches + 1} with ` +
                  'different content; the two copies cannot both be written, so the run is read again',
                {
                  reread: true,
                  checks: [
                    {
                      name: `${listing.check}.repeat-identical`,
                      outcome: 'failed',
                      detail: `${listing.idField} ${id}`,
                    },
                  ],
                },
              );
            }
            if (state.lastId !== undefined && !state.unordered) {
              const cmp = compareIds(id, state.lastId);
              if (cmp === 0 && position === 0) {
                if (digest(rec) === state.lastDigest) {
                  state = { ...state, repeats: (state.repeats ?? 0) + 1 };
                  continue;
                }
                throw new IncompleteError(
                  `${listing.what}: ${listing.idField} ${id} came again at the top of batch ${state.batches + 1} ` +
                    'with different content (a record split across responses, or changed between them); the two ' +
                    'copies cannot both be written, so the run is read again',
                  {
                    reread: true,
                    checks: [
                      {
                        name: `${listing.check}.repeat-identical`,
                        outcome: 'failed',
                        detail: `${listing.idField} ${id}`,
                      },
                    ],
                  },
                );
              }
              if (cmp <= 0) {
                if (listing.order === 'ascending') throw backwards(id, state.lastId, state.batches + 1);
                if (state.relied || request.mid) {
                  throw new IncompleteError(
                    `${listing.what}: ${listing.noun} ${listing.idField}s are not in order (${id} after ${state.lastId}) and the run ` +
                      'already continued by id_min, which may have skipped some; the run is read again',
                    { reread: true },
                  );
                }
                state = { ...state, unordered: true };
                if (!warnedUnordered) {
                  warnedUnordered = true;
                  opts.log.warn(
                    `${listing.what} are not in ${listing.idField} order; read whole, resumed by position`,
                    {
                      id,
                      after: state.lastId,
                    },
                  );
                }
              }
            }
            const highest = state.lastId === undefined || compareIds(id, state.lastId) > 0;
            if (highest) state = { ...state, lastId: id };
            batch.push(rec);
            last = rec;
            chars += text.length;
            if (chars >= opts.subPageChars) {
              let out = midCursor();
              if (opts.observe) out = opts.observe(batch, out);
              // Keep what the module observed; the paginator's own fields stay as this response has them.
              state = {
                ...out,
                idMin: request.idMin,
                mid: request.mid,
                skip: request.skip,
                chain: request.chain,
              };
              yield { records: batch, cursor: out, done: false };
              cursor = out;
              batch = [];
              chars = 0;
              failures = 0;
            }
          }
        }
        if (respCount < skipTotal) {
          throw new IncompleteError(
            `${listing.what}: the response read again after a resume had fewer than the ${skipTotal} records ` +
              'already written; the run is read again',
            { reread: true },
          );
        }
        envText = splitter.end();
      } catch (err) {
        stream.cancel();
        if (!transient(err)) throw err;
        if (failures >= opts.maxRetries) throw givingUp(err, failures + 1);
        failures++;
        opts.log.warn(
          `${listing.what}: a response failed mid-way; reading on from the last record handed over`,
          {
            error: (err as Error).message,
            attempt: failures,
          },
        );
        continue; // from `cursor`: the records of the failed stretch were not handed over
      }
      let doc: Record<string, unknown>;
      try {
        doc = readEnvelope(envelope, envText);
      } catch (err) {
        if (!transient(err)) throw err;
        if (failures >= opts.maxRetries) throw givingUp(err, failures + 1);
        failures++;
        opts.log.warn(`${listing.what}: a response's envelope could not be read; reading it again`, {
          error: (err as Error).message,
          attempt: failures,
        });
        continue;
      }
      const next = nextRequest(listing, doc, request, opts.origin, state.unordered === true);
      // The API truncates only while records remain, and a continuation lists the records after the last one: a
      // response with a WARNING, or reached by a truncation URL, that holds none lost its list. Unreadable (read
      // again), never "the end" (a resume inside a response may rightly find nothing left: not checked there).
      if (respCount === 0 && (next !== undefined || (request.idMin !== null && !request.mid))) {
        const err = new ParseError(
          `${listing.what}: a response ${next ? 'with a truncation WARNING' : 'reached by a truncation URL'} holds ` +
            `no ${listing.noun} (its list is missing or empty)`,
        );
        if (failures >= opts.maxRetries) throw givingUp(err, failures + 1);
        failures++;
        opts.log.warn(`${listing.what}: a response without records where records must be; reading it again`, {
          attempt: failures,
        });
        continue;
      }
      let out = {
        ...state,
        lastDigest: last ? digest(last) : state.lastDigest,
        batches: state.batches + 1,
        mid: undefined,
        skip: undefined,
        chain: undefined,
        idMin: next ? next.idMin : request.idMin,
        done: next === undefined,
        ...(next ? { relied: true } : {}),
        ...(next?.lacking.length
          ? {
              lacking: (state.lacking ?? 0) + 1,
              lackingKeys: [...new Set([...(state.lackingKeys ?? []), ...next.lacking])],
            }
          : {}),
        ...(next?.rehomedFrom
          ? {
              rehomed: (state.rehomed ?? 0) + 1,
              // Bounded: a listing that names a new host on every response keeps the first few.
              rehomedFrom: [...new Set([...(state.rehomedFrom ?? []), next.rehomedFrom])].slice(0, 5),
            }
          : {}),
      } as C;
      if (opts.observe) out = opts.observe(batch, out);
      if (next) {
        if (next.lacking.length && !state.lacking) {
          opts.log.warn(`${listing.what} truncation URL lacked parameters of this run; ours were sent`, {
            parameters: next.lacking,
          });
        }
        if (next.rehomedFrom && !(state.rehomedFrom ?? []).includes(next.rehomedFrom)) {
          opts.log.warn(
            `${listing.what} truncation URL named another host; its id_min was re-issued on the configured origin`,
            { urlOrigin: next.rehomedFrom, configured: new URL(opts.origin).origin },
          );
        }
        // The next request leaves before this sub-page is handed over: the engine writes it meanwhile.
        ahead = client.openStream(truncationRequest(listing, out));
        ahead.catch(() => undefined);
        await letRequestLeave();
      }
      cursor = out;
      failures = 0;
      yield { records: batch, cursor: out, done: !next };
      if (!next) return;
    }
  } finally {
    stream?.cancel();
    if (ahead) void ahead.then((s) => s.cancel()).catch(() => undefined);
  }
}

// ------------------------------------------------------------------------------------------ proof

/** The completeness checks every truncation listing proves, from its final cursor. */
export function truncationChecks(listing: TruncationListing, c: TruncationCursor): CompletenessCheck[] {
  const checks: CompletenessCheck[] = [
    {
      name: `${listing.check}.last-batch`,
      outcome: c.done ? 'passed' : 'failed',
      actual: c.batches,
      detail: `read ${c.batches} responses, the last one to its end without WARNING`,
    },
    c.unordered
      ? {
          name: `${listing.check}.ids-increasing`,
          outcome: 'skipped',
          detail:
            `${listing.what} came unordered (the API documents no order); the listing was read in one response, ` +
            'never continued by id_min, so nothing depends on the order',
        }
      : {
          name: `${listing.check}.ids-increasing`,
          outcome: 'passed',
          detail: `${listing.idField}s strictly increased within and across responses (last ${c.lastId ?? 'none'})`,
        },
    {
      name: `${listing.check}.continuations`,
      outcome: 'passed',
      actual: c.lacking ?? 0,
      detail:
        `every truncation URL was on the listing's path and changed nothing but id_min` +
        (c.rehomed
          ? `; ${c.rehomed} named another host (${(c.rehomedFrom ?? []).join(', ')}): re-issued on the configured origin`
          : '') +
        (c.lacking ? `; ${c.lacking} lacked ${(c.lackingKeys ?? []).join(', ')} (ours were sent)` : '') +
        (c.repeats ? `; ${c.repeats} identical repeats of the previous record dropped` : ''),
    },
  ];
  return checks;
}

// ------------------------------------------------------------------------------------------ API versions

/** A cursor of a listing whose path carries an API version (`/api/<version>/…`). */
export interface VersionedCursor extends TruncationCursor {
  /** The version this run calls. */
  version: string;
  /** `auto`: older versions still to try if this one answers 404 to the run's first request. */
  versions?: string[];
}

/**
 * Pages of a versioned listing. With `auto`, the run's first request goes to the newest version; a 404 before
 * anything was read moves on to the next older one (the cursor records the version found, so a resumed run stays
 * on it). A 404 with no version left is a ConfigError naming the setting.
 */
export async function* versionedPages<C extends VersionedCursor>(
  client: QualysClient,
  listingFor: (version: string) => TruncationListing,
  start: C,
  opts: TruncationOptions<C> & { setting: string },
): AsyncGenerator<Page> {
  let c = start;
  for (;;) {
    const listing = listingFor(c.version);
    let yielded = false;
    try {
      for await (const page of truncationPages(client, listing, c, opts)) {
        yielded = true;
        yield page;
      }
      return;
    } catch (err) {
      const notServed = err instanceof QualysHttpError && err.status === 404;
      if (!notServed || yielded || c.batches > 0 || c.mid) throw err;
      const [next, ...rest] = c.versions ?? [];
      if (next === undefined) {
        throw new ConfigError(
          `the API server does not serve ${listing.what} at ${listing.path} (404): set ${opts.setting} to a version it ` +
            'serves (or auto)',
        );
      }
      opts.log.warn(`${listing.what}: API version ${c.version} is not served (404); trying ${next}`, {
        path: listing.path,
      });
      c = { ...c, version: next, versions: rest };
    }
  }
}
