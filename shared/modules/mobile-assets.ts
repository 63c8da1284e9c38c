import type { MobileOptions } from '../config';
import { ConfigError, IncompleteError, OriginError, ParseError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { credentialInUrl } from '../net/policy';
import { MOBILE_ASSET_LIST } from '../qualys/envelopes';
import { checkShape } from '../qualys/shapes';
import type { QualysClient, QualysRequest, QualysResponse } from '../qualys/types';
import { copyString, dropBody, letRequestLeave } from './prefetch';
import { endsLikeXml, parseXml, simpleReturnError } from './xml';
import type {
  CommittedState,
  CompletenessCheck,
  Cursor,
  ExportRecord,
  ModuleDef,
  RunKind,
  StartContext,
} from './types';

/**
 * Mobile paging: null url = the first request; otherwise the WARNING/URL truncation link to follow.
 *
 * A run is a `snapshot` (every asset, or every asset with a detection updated since the configured floor) or an
 * `incremental` run: only the assets with a detection updated in [since, before), where `since` is where the
 * previous complete run started minus the overlap and `before` is this run's start. Both are fixed when the run
 * starts, so a resumed or re-read run asks for exactly the same listing.
 */
export interface MobileCursor extends Cursor {
  url: string | null;
  truncationLimit: number;
  /** What the run is (absent in checkpoints of older versions: a snapshot). */
  kind?: RunKind;
  /** When the run started (ISO): where the next increment starts, before the overlap. */
  startedAt?: string;
  /** `detection_updated_since` / `detection_updated_before` of every request of the run (YYYY-MM-DDTHH:MM:SSZ). */
  since?: string;
  before?: string;
  /** Why an incremental deployment ran a snapshot (first run, due, settings changed). */
  snapshotReason?: string;
  /** Settings a later increment must share with this run (else it starts over with a snapshot). */
  floor?: string;
  includeFields?: string;
  overlapMinutes?: number;
  /** Truncation URLs that did not carry the run's filters: they were added back before the call. */
  filtersAdded?: number;
  /** Runs with a filter: what the detections returned say about how the tenant applied it. */
  observed?: { assets: number; outside: number; older: number };
  /** Highest asset ID written so far (decimal text): IDs must strictly increase within and across batches. */
  lastId?: string;
  batches?: number;
  /** Truncation URLs that named another host and were re-issued on the configured origin. */
  rehomed?: number;
  rehomedFrom?: string[];
}

/** The only path a truncation URL may continue on. */
export const MOBILE_PATH = '/sem/v1/assetList';

interface MobilePage {
  assets: ExportRecord[];
  next: string | null;
}

export function parseMobilePage(
  client: Pick<QualysClient, 'assertSameOrigin'>,
  res: QualysResponse,
): MobilePage {
  const doc = parseXml(res.text);
  const apiError = simpleReturnError(doc);
  if (apiError) throw apiError;
  // The declared envelope: RESPONSE and ASSET_LIST once (a repeated one is not "no assets"), every ASSET an ID.
  checkShape(MOBILE_ASSET_LIST, doc);
  const out = doc.ASSET_LIST_VM_DETECTION_OUTPUT as { RESPONSE?: Record<string, unknown> } | undefined;
  const response = out?.RESPONSE;
  if (!response || typeof response !== 'object') {
    throw new ParseError('VMDR Mobile response has no ASSET_LIST_VM_DETECTION_OUTPUT/RESPONSE');
  }
  const list = response.ASSET_LIST;
  let assets: ExportRecord[] = [];
  if (list && typeof list === 'object') {
    const a = (list as { ASSET?: unknown }).ASSET ?? [];
    if (!Array.isArray(a)) throw new ParseError('VMDR Mobile ASSET_LIST is malformed');
    assets = a as ExportRecord[];
  } else if (list !== undefined && list !== '') {
    throw new ParseError('VMDR Mobile ASSET_LIST is malformed');
  }
  for (const asset of assets) {
    if (!asset || typeof asset !== 'object' || typeof asset.ID !== 'string' || !asset.ID) {
      throw new ParseError('VMDR Mobile response has an ASSET without an ID');
    }
  }
  let next: string | null = null;
  const warning = response.WARNING as { CODE?: unknown; URL?: unknown; TEXT?: unknown } | undefined;
  if (warning) {
    if (String(warning.CODE) !== '1980' || typeof warning.URL !== 'string' || !warning.URL) {
      throw new ParseError(
        `VMDR Mobile WARNING without a usable truncation URL (code ${String(warning.CODE)})`,
      );
    }
    // Checked before anything is sent: the bearer token must never leave the configured origin.
    next = client.assertSameOrigin(warning.URL.trim()).href;
  }
  return { assets, next };
}

/**
 * The truncation URL a batch names, found without parsing the batch: the last `<WARNING>` in the body's tail and
 * its `<URL>` (CDATA, or text without markup or entities). Undefined when it is not there or not that simple.
 * Only ever a guess to send the next request early: the pager compares it with what `parseMobilePage` reads
 * from the same response and discards the request on any difference.
 */
export function peekMobileNext(text: string): string | undefined {
  const tail = text.slice(-4096);
  const w = tail.lastIndexOf('<WARNING>');
  if (w < 0) return undefined;
  const m = /<URL>\s*(?:<!\[CDATA\[([^\]]*)\]\]>|([^<&]*))\s*<\/URL>/.exec(tail.slice(w));
  const url = (m?.[1] ?? m?.[2])?.trim();
  // A copy: a substring of the body would keep the whole body alive for as long as the URL is kept.
  return url ? copyString(url) : undefined;
}

/**
 * Where to send the next batch request for a truncation URL. A URL on the configured origin is used as is. A URL
 * naming another host (as Qualys's own add-on assumes can happen: it never follows the URL's host) has its path and
 * query re-issued on the configured origin, so the token never leaves it. A URL that cannot be re-issued safely
 * (not http(s), credentials in it, or another path) is refused.
 */
export function resolveTruncationUrl(
  client: Pick<QualysClient, 'assertSameOrigin'>,
  raw: string,
  gatewayUrl: string,
): { url: URL; rehomedFrom?: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new OriginError('refusing to follow a malformed truncation URL from a VMDR Mobile response');
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password) {
    throw new OriginError(
      `refusing a VMDR Mobile truncation URL over ${u.protocol}//${u.host}: it cannot be re-issued safely; the token was not sent`,
    );
  }
  // A URL is kept in the checkpoint until its batch is read: one holding a credential is never followed or stored.
  const credential = credentialInUrl(u);
  if (credential) {
    throw new OriginError(
      `refusing a VMDR Mobile truncation URL that carries ${credential}: it would be stored in the checkpoint; ` +
        'nothing was sent',
    );
  }
  if (u.pathname.replace(/\/+$/, '') !== MOBILE_PATH) {
    throw new OriginError(
      `refusing a VMDR Mobile truncation URL for ${u.pathname} on ${u.origin}: only ${MOBILE_PATH} continues ` +
        'an asset list; the token was not sent',
    );
  }
  const origin = new URL(gatewayUrl).origin;
  if (u.origin === origin) return { url: client.assertSameOrigin(u.href) };
  const onOrigin = client.assertSameOrigin(`${origin}${u.pathname}${u.search}`);
  return { url: onOrigin, rehomedFrom: u.origin };
}

/** The run's detection filters, as sent on every request of the run (first request and truncation URLs). */
export const MOBILE_FILTERS = ['detection_updated_since', 'detection_updated_before'] as const;

function filtersOf(
  c: MobileCursor,
  m: MobileOptions,
): Record<(typeof MOBILE_FILTERS)[number], string | undefined> {
  // A checkpoint of an older version has no kind: its only filter was the configured floor.
  const since = c.kind === undefined ? m.detectionUpdatedSince : c.since;
  return { detection_updated_since: since, detection_updated_before: c.before };
}

/**
 * Makes a truncation URL carry exactly the run's filters. Qualys's own add-on sends its filters with every batch
 * request; the documented truncation URL sample shows only id_min, action and truncation_limit. A filter the URL
 * lacks is added back (counted); a URL that changes or adds a filter would change what the listing means, so it
 * is refused. Returns how many filters were added.
 */
export function applyRunFilters(
  url: URL,
  want: Partial<Record<(typeof MOBILE_FILTERS)[number], string>>,
): number {
  let added = 0;
  for (const key of MOBILE_FILTERS) {
    const have = url.searchParams.get(key);
    const w = want[key];
    if (w === undefined) {
      if (have !== null) {
        throw new IncompleteError(
          `a VMDR Mobile truncation URL adds ${key}=${have}, which this run did not ask for: following it could ` +
            'leave assets out, so the listing cannot be proven complete',
        );
      }
      continue;
    }
    if (have === null) {
      url.searchParams.set(key, w);
      added++;
    } else if (apiTimeMs(have) !== apiTimeMs(w)) {
      throw new IncompleteError(
        `a VMDR Mobile truncation URL changes ${key} from ${w} to ${have}: the batches would not belong to one listing`,
      );
    }
  }
  return added;
}

/** `YYYY-MM-DDTHH:MM:SSZ` (what the API takes) for an instant, rounded down to the second. */
export function apiTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function apiTimeMs(text: string): number {
  const ms = Date.parse(
    text
      .trim()
      .replace(' ', 'T')
      .replace(/(\d\d:\d\d:\d\d)$/, '$1Z'),
  );
  return Math.floor(ms / 1000) * 1000; // NaN stays NaN
}

/** A detection's LAST_UPDATE_DATETIME (`yyyy-MM-dd HH:mm:ss`, UTC) → epoch ms, NaN when unreadable. */
export function mobileTimeMs(text: unknown): number {
  if (typeof text !== 'string' || !/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d/.test(text.trim())) return NaN;
  return apiTimeMs(text);
}

/**
 * What one asset's detections say about the filter: whether any was updated in [since, before] (both ends
 * inclusive: the API's own bounds are not documented) and how many were updated before `since`.
 */
function observeAsset(
  asset: ExportRecord,
  sinceMs: number,
  beforeMs: number,
): { inside: boolean; older: number } {
  const list = (asset.DETECTION_LIST as { DETECTION?: unknown } | undefined)?.DETECTION;
  let inside = false;
  let older = 0;
  for (const d of Array.isArray(list) ? list : []) {
    const t = mobileTimeMs((d as Record<string, unknown> | null)?.LAST_UPDATE_DATETIME);
    if (Number.isNaN(t)) continue;
    if (t < sinceMs) older++;
    else if (t <= beforeMs) inside = true;
  }
  return { inside, older };
}

const idBig = (id: string) => {
  if (!/^\d{1,30}$/.test(id)) throw new ParseError(`VMDR Mobile asset ID '${id}' is not a decimal number`);
  return BigInt(id);
};

async function* mobilePages(
  client: QualysClient,
  start: MobileCursor,
  config: Parameters<ModuleDef['pages']>[2],
  log: Logger,
) {
  let cursor = start;
  const m = config.modules.mobile;
  const gatewayUrl = config.endpoints.gatewayUrl;
  if (!gatewayUrl) {
    throw new ConfigError('VMDR Mobile lives on the gateway: set QUALYS_PLATFORM or QUALYS_GATEWAY_URL');
  }
  const filters = filtersOf(cursor, m);
  const want = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined));
  const sinceMs = filters.detection_updated_since ? apiTimeMs(filters.detection_updated_since) : NaN;
  const beforeMs = filters.detection_updated_before ? apiTimeMs(filters.detection_updated_before) : Infinity;
  /**
   * Pipelining: the next batch is requested as soon as the raw body of this one names its truncation URL (checked
   * and re-homed exactly as the parse does, so the token never leaves the configured origin), before this batch
   * is parsed and checked; the parse then runs while the next batch is on its way. The request sent ahead is used
   * only when its URL is exactly the one the full parse of the batch found; any difference, or a batch that fails
   * to parse, discards it. A body that does not even end like an XML document is retried by the client at once;
   * a batch that fails the full parse is requested again through the client with the parse inside it, as every
   * batch was before (its usual retries).
   */
  interface Batch extends MobilePage {
    rehomedFrom?: string;
    added: number;
  }
  const parseBatch = (res: QualysResponse): Batch => {
    let rehomedFrom: string | undefined;
    let added = 0;
    // The truncation URL is resolved here, before anything is sent: the parse keeps its {assets, next} contract
    // and only ever sees a resolver that answers with a URL on the configured origin carrying the run's filters.
    const resolver = {
      assertSameOrigin: (u: string) => {
        const r = resolveTruncationUrl(client, u, gatewayUrl);
        rehomedFrom = r.rehomedFrom;
        added = applyRunFilters(r.url, want);
        return r.url;
      },
    };
    const page = parseMobilePage(resolver, res);
    // The API truncates a listing only when more assets remain: a batch reached through a truncation URL that
    // holds none is not "the end" but a body that lost its list (unreadable: asked again).
    if (cursor.url !== null && page.assets.length === 0) {
      throw new ParseError(
        'VMDR Mobile batch after a truncation holds no asset (its ASSET_LIST is missing or empty)',
      );
    }
    return { ...page, rehomedFrom, added };
  };
  const nextGuess = (res: QualysResponse, current: string | null): string | undefined => {
    const raw = peekMobileNext(res.text);
    if (raw === undefined) return undefined;
    try {
      const { url } = resolveTruncationUrl(client, raw, gatewayUrl);
      applyRunFilters(url, want);
      return url.href === current ? undefined : url.href;
    } catch {
      return undefined; // the full parse refuses it, with the reason
    }
  };
  const requestOf = (url: string | null, c: MobileCursor): QualysRequest =>
    url
      ? { url, accept: 'xml', label: 'mobile-assets next batch' }
      : {
          url: MOBILE_PATH,
          accept: 'xml',
          query: {
            action: 'list',
            truncation_limit: c.truncationLimit,
            ...want,
            includeFields: m.includeFields,
          },
          label: 'mobile-assets first batch',
        };
  const fetchRaw = (url: string | null, c: MobileCursor) => {
    const response = client.call(requestOf(url, c), (res) => {
      if (!endsLikeXml(res.text)) throw new ParseError('VMDR Mobile response ends before its document does');
      return res;
    });
    response.catch(() => undefined); // observed when used; one dropped must not be an unhandled rejection
    return { url, response };
  };
  let ahead: ReturnType<typeof fetchRaw> | undefined;
  for (;;) {
    const current = ahead?.url === cursor.url && cursor.url !== null ? ahead : fetchRaw(cursor.url, cursor);
    ahead = undefined;
    const res = await current.response;
    const guess = nextGuess(res, cursor.url);
    if (guess !== undefined) {
      ahead = fetchRaw(guess, cursor);
      await letRequestLeave();
    }
    let page: Batch;
    try {
      page = parseBatch(res);
      dropBody(res);
    } catch (err) {
      dropBody(res);
      ahead = undefined;
      if (!(err instanceof ParseError)) throw err;
      page = await client.call(requestOf(cursor.url, cursor), parseBatch); // as before pipelining
    }
    if (ahead && ahead.url !== page.next) ahead = undefined; // the cheap read was wrong: drop what it sent
    const { rehomedFrom, added } = page;
    if (page.next !== null && page.next === cursor.url) {
      throw new ParseError('VMDR Mobile truncation URL points back to the same batch; refusing to loop');
    }
    // IDs strictly increase within and across batches (the listing is by id_min). The one allowed repeat is the
    // previous batch's last asset at the top of the next one (an id_min that includes it): dropped by id.
    let last = cursor.lastId === undefined ? undefined : idBig(cursor.lastId);
    const records: ExportRecord[] = [];
    page.assets.forEach((asset, i) => {
      const id = idBig(asset.ID as string);
      if (last !== undefined && id <= last) {
        if (i === 0 && id === last) return;
        throw new IncompleteError(
          `VMDR Mobile asset IDs went backwards: ${String(id)} came after ${String(last)} ` +
            `(batch ${(cursor.batches ?? 0) + 1}); the listing cannot be proven complete`,
          {
            checks: [
              {
                name: 'mobile.ids-increasing',
                outcome: 'failed',
                expected: Number(last) + 1,
                actual: Number(id),
                detail: `asset ${String(id)} after ${String(last)}`,
              },
            ],
          },
        );
      }
      last = id;
      records.push(asset);
    });
    if (page.next !== null && records.length === 0) {
      throw new IncompleteError(
        `VMDR Mobile batch ${(cursor.batches ?? 0) + 1} brought no new asset but a truncation URL; refusing to loop`,
      );
    }
    if (rehomedFrom) {
      log.warn(
        'VMDR Mobile truncation URL named another host; re-issued its path and query on the configured origin',
        {
          urlOrigin: rehomedFrom,
          configured: new URL(gatewayUrl).origin,
        },
      );
    }
    if (added) {
      log.warn("VMDR Mobile truncation URL lacked the run's detection filters; added them back", {
        filters: Object.keys(want),
      });
    }
    let observed = cursor.observed;
    if (!Number.isNaN(sinceMs)) {
      observed = { ...(observed ?? { assets: 0, outside: 0, older: 0 }) };
      for (const asset of records) {
        const o = observeAsset(asset, sinceMs, beforeMs);
        observed.assets++;
        if (!o.inside) observed.outside++;
        observed.older += o.older;
      }
    }
    const hosts = new Set(cursor.rehomedFrom ?? []);
    if (rehomedFrom) hosts.add(rehomedFrom);
    cursor = {
      ...cursor,
      url: page.next,
      lastId: last === undefined ? undefined : String(last),
      batches: (cursor.batches ?? 0) + 1,
      rehomed: (cursor.rehomed ?? 0) + (rehomedFrom ? 1 : 0),
      rehomedFrom: [...hosts].slice(0, 10),
      ...(added || cursor.filtersAdded ? { filtersAdded: (cursor.filtersAdded ?? 0) + added } : {}),
      ...(observed ? { observed } : {}),
    };
    const done = page.next === null;
    yield { records, cursor, done };
    if (done) return;
  }
}

/**
 * Where a run starts. Snapshot mode: every run is a snapshot (of the detections updated since the configured floor,
 * when one is set). Incremental mode: the first run, a run after the settings that shape the listing changed
 * (floor, includeFields) and a run `snapshotEveryHours` after the last snapshot are snapshots; any other run is an
 * increment from where the previous complete run started, minus the overlap (never before the floor).
 */
export function mobileStart({ config, now, committed }: StartContext): MobileCursor {
  const m = config.modules.mobile;
  const startedAt = now.toISOString();
  const base: MobileCursor = {
    url: null,
    truncationLimit: m.truncationLimit,
    batches: 0,
    startedAt,
    ...(m.detectionUpdatedSince ? { floor: m.detectionUpdatedSince } : {}),
    ...(m.includeFields ? { includeFields: m.includeFields } : {}),
  };
  const snapshot = (reason?: string): MobileCursor => ({
    ...base,
    kind: 'snapshot',
    ...(m.detectionUpdatedSince ? { since: m.detectionUpdatedSince } : {}),
    ...(reason ? { snapshotReason: reason } : {}),
  });
  if (m.mode === 'snapshot') return snapshot();
  const nextSince = typeof committed?.nextSince === 'string' ? Date.parse(committed.nextSince) : NaN;
  if (Number.isNaN(nextSince)) return snapshot('first run: no complete run to continue from');
  if ((committed?.floor ?? undefined) !== m.detectionUpdatedSince) {
    return snapshot('QUALYS_MOBILE_DETECTION_UPDATED_SINCE changed since the last complete run');
  }
  if ((committed?.includeFields ?? undefined) !== m.includeFields) {
    return snapshot('QUALYS_MOBILE_INCLUDE_FIELDS changed since the last complete run');
  }
  const lastSnapshot =
    typeof committed?.lastSnapshotAt === 'string' ? Date.parse(committed.lastSnapshotAt) : NaN;
  if (
    m.snapshotEveryHours > 0 &&
    (Number.isNaN(lastSnapshot) || now.getTime() - lastSnapshot >= m.snapshotEveryHours * 3600_000)
  ) {
    return snapshot(`the last snapshot started ${m.snapshotEveryHours} or more hours ago`);
  }
  const floorMs = m.detectionUpdatedSince ? Date.parse(m.detectionUpdatedSince) : -Infinity;
  const sinceMs = Math.max(floorMs, Math.min(nextSince, now.getTime()) - m.overlapMinutes * 60_000);
  return {
    ...base,
    kind: 'incremental',
    since: apiTime(sinceMs),
    before: apiTime(now.getTime()),
    overlapMinutes: m.overlapMinutes,
  };
}

export const mobileAssets: ModuleDef = {
  name: 'mobile-assets',
  start: mobileStart,
  pages: (client, cursor, config, log) =>
    mobilePages(client, cursor as MobileCursor, config, log ?? silentLogger),
  kind: (c) => (c as MobileCursor).kind ?? 'snapshot',
  prove: async (final) => {
    const c = final as MobileCursor;
    const checks: CompletenessCheck[] = [
      {
        name: 'mobile.last-batch',
        outcome: c.url === null ? 'passed' : 'failed',
        actual: c.batches,
        detail: `followed truncation URLs through ${c.batches ?? '?'} batches to one without WARNING`,
      },
      {
        name: 'mobile.ids-increasing',
        outcome: 'passed',
        detail: `asset IDs strictly increased within and across batches (last ${c.lastId ?? 'none'})`,
      },
      {
        name: 'mobile.truncation-origin',
        outcome: 'passed',
        actual: c.rehomed ?? 0,
        detail: c.rehomed
          ? `${c.rehomed} truncation URLs named ${(c.rehomedFrom ?? []).join(', ')}; re-issued on the configured origin`
          : 'every truncation URL was on the configured origin',
      },
    ];
    if (c.since) checks.push(windowCheck(c));
    return checks;
  },
  commit: (final, previous): CommittedState => {
    const c = final as MobileCursor;
    // A checkpoint of an older version does not know when its run started: nothing to continue from, so the next
    // incremental run is a snapshot.
    if (!c.startedAt) return {};
    const kind = c.kind ?? 'snapshot';
    const lastSnapshotAt = kind === 'snapshot' ? c.startedAt : previous?.lastSnapshotAt;
    return {
      kind,
      nextSince: c.startedAt,
      ...(typeof lastSnapshotAt === 'string' ? { lastSnapshotAt } : {}),
      ...(c.floor ? { floor: c.floor } : {}),
      ...(c.includeFields ? { includeFields: c.includeFields } : {}),
      completeThrough: c.startedAt,
    };
  },
  describe: (cursor) => {
    const c = cursor as MobileCursor;
    return {
      kind: c.kind ?? 'snapshot',
      truncationLimit: c.truncationLimit,
      detectionUpdatedSince: c.since ?? null,
      detectionUpdatedBefore: c.before ?? null,
      ...(c.kind === 'incremental' ? { overlapMinutes: c.overlapMinutes ?? null } : {}),
      ...(c.snapshotReason ? { snapshotReason: c.snapshotReason } : {}),
    };
  },
  recordId: (r) => String(r.ID),
};

/**
 * What the returned detections say about how the tenant applied the run's filter (recorded, never a failure:
 * no reading of the filter loses an asset the exporter asked for).
 */
function windowCheck(c: MobileCursor): CompletenessCheck {
  const o = c.observed ?? { assets: 0, outside: 0, older: 0 };
  const window = `[${c.since}, ${c.before ?? 'now'})`;
  const added = c.filtersAdded
    ? `; ${c.filtersAdded} truncation URLs lacked the filters and got them back`
    : '; every truncation URL kept the filters';
  if (o.outside > 0) {
    return {
      name: 'mobile.updated-window',
      outcome: 'skipped',
      expected: 0,
      actual: o.outside,
      detail:
        `${o.outside} of ${o.assets} assets had no detection updated in ${window}: the tenant did not filter them ` +
        `by detection_updated_since/before; they are written whole (nothing is lost)${added}`,
    };
  }
  return {
    name: 'mobile.updated-window',
    outcome: 'passed',
    actual: o.assets,
    detail:
      `each of the ${o.assets} assets has a detection updated in ${window}; ` +
      (o.older
        ? `${o.older} detections updated earlier came with them (the tenant returns whole assets)`
        : 'only detections updated in the window came (the tenant returns the changed detections)') +
      added,
  };
}
