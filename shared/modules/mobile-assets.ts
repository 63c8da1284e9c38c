import { ENV, type AppConfig, type MobileOptions } from '../config';
import { referenceTime, type ReferenceTime } from '../export/window';
import { NO_CLOCK_READING } from '../qualys/clock';
import type { QualysRequest } from '../qualys/types';
import { ConfigError } from '../errors';
import { silentLogger } from '../log';
import { MOBILE_ASSET_LIST } from '../qualys/envelopes';
import { withTruncationLimit } from '../export/settings';
import { apiTime, commitPlan, planRun, windowEnd } from './increments';
import { MOBILE_COMMITTED, MOBILE_STATE_CURSOR } from './state-shapes';
import type {
  CommittedState,
  CompletenessCheck,
  ExportRecord,
  ModuleDef,
  RunKind,
  StartContext,
} from './types';
import {
  apiInstant,
  truncationChecks,
  truncationPages,
  type TruncationCursor,
  type TruncationListing,
} from './xml-truncation';

/**
 * VMDR Mobile asset list, as declarations over the XML truncation paginator (./xml-truncation.ts).
 *
 * A run is a `snapshot` (every asset, or every asset with a detection updated since the configured floor) or an
 * `incremental` run: only the assets with a detection updated in [since, before), where `since` is where the
 * previous complete run started minus the overlap and `before` is this run's start. Both are fixed when the run
 * starts, in the cursor's parameters, so a resumed or re-read run asks for exactly the same listing.
 */
export const MOBILE_PATH = '/sem/v1/assetList';

export const MOBILE_LISTING: TruncationListing = {
  what: 'VMDR Mobile',
  noun: 'asset',
  check: 'mobile',
  label: 'mobile-assets',
  base: 'gateway',
  path: MOBILE_PATH,
  method: 'GET',
  envelope: MOBILE_ASSET_LIST,
  recordPath: ['ASSET_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'ASSET_LIST', 'ASSET'],
  warningPath: ['ASSET_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'WARNING'],
  idField: 'ID',
  order: 'ascending',
};

export interface MobileCursor extends TruncationCursor {
  truncationLimit: number;
  /** What the run is (absent in checkpoints of older versions: a snapshot). */
  kind?: RunKind;
  /** When the run started (ISO). */
  startedAt?: string;
  /**
   * The instant the run's listing stands for: the earlier of our clock and Qualys's at the start, minus the
   * indexing lag (shared/export/window.ts). An increment's `detection_updated_before`, and where the next
   * increment starts (before the overlap). Absent in older checkpoints: `startedAt` served.
   */
  clock?: ReferenceTime;
  /** `detection_updated_since` / `detection_updated_before` of every request of the run (YYYY-MM-DDTHH:MM:SSZ). */
  since?: string;
  before?: string;
  /** Why an incremental deployment ran a snapshot (first run, due, settings changed). */
  snapshotReason?: string;
  /** Settings a later increment must share with this run (else it starts over with a snapshot). */
  floor?: string;
  includeFields?: string;
  overlapMinutes?: number;
  /** Runs with a filter: what the detections returned say about how the tenant applied it. */
  observed?: { assets: number; outside: number; older: number };
}

/** The run's detection filters, as sent on every request of the run. */
export const MOBILE_FILTERS = ['detection_updated_since', 'detection_updated_before'] as const;

/** Our parameters for a run: fixed at its start, sent with every request (a truncation URL only moves id_min). */
function mobileParams(c: { truncationLimit: number; since?: string; before?: string }, m: MobileOptions) {
  return {
    action: 'list',
    truncation_limit: String(c.truncationLimit),
    ...(c.since ? { detection_updated_since: c.since } : {}),
    ...(c.before ? { detection_updated_before: c.before } : {}),
    ...(m.includeFields ? { includeFields: m.includeFields } : {}),
  };
}

/**
 * A checkpoint written by a version that stored the truncation URL itself: the same listing in today's terms (our
 * parameters, and the id_min that URL named).
 */
function upgrade(c: MobileCursor & { url?: string | null }, m: MobileOptions): MobileCursor {
  if (c.params) return c;
  const { url, ...rest } = c;
  const since = c.kind === undefined ? m.detectionUpdatedSince : c.since;
  const idMin = url ? new URL(url).searchParams.get('id_min') : null;
  return {
    ...rest,
    since,
    params: mobileParams({ ...c, since }, m),
    idMin: idMin !== null && /^\d+$/.test(idMin) ? idMin : null,
    batches: c.batches ?? 0,
    done: url === null && (c.batches ?? 0) > 0,
  };
}

export { apiTime };

/** A detection's LAST_UPDATE_DATETIME (`yyyy-MM-dd HH:mm:ss`, UTC) → epoch ms, NaN when unreadable. */
export function mobileTimeMs(text: unknown): number {
  if (typeof text !== 'string' || !/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d/.test(text.trim())) return NaN;
  return apiInstant(text);
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

/** What a sub-page's assets say about the run's filter (runs with a `detection_updated_since` only). */
function observe(records: ExportRecord[], c: MobileCursor): MobileCursor {
  if (!c.since) return c;
  const sinceMs = apiInstant(c.since);
  const beforeMs = c.before ? apiInstant(c.before) : Infinity;
  if (Number.isNaN(sinceMs) || !records.length) return c;
  const observed = { ...(c.observed ?? { assets: 0, outside: 0, older: 0 }) };
  for (const asset of records) {
    const o = observeAsset(asset, sinceMs, beforeMs);
    observed.assets++;
    if (!o.inside) observed.outside++;
    observed.older += o.older;
  }
  return { ...c, observed };
}

/**
 * Where a run starts. Snapshot mode: every run is a snapshot (of the detections updated since the configured floor,
 * when one is set). Incremental mode: the first run, a run after the settings that shape the listing changed
 * (floor, includeFields) and a run `snapshotEveryHours` after the last snapshot are snapshots; any other run is an
 * increment from where the previous complete run started, minus the overlap (never before the floor).
 */
export function mobileStart({ config, now, committed, reference }: StartContext): MobileCursor {
  const m = config.modules.mobile;
  // An increment ends at the earlier of our clock and Qualys's, minus the indexing lag (shared/export/window.ts).
  const clock = reference ?? referenceTime(now, NO_CLOCK_READING, m.indexingLagSeconds * 1000);
  const end = new Date(Date.parse(clock.end));
  const plan = planRun({
    incremental: m.mode === 'incremental',
    committed,
    now,
    end,
    overlapMinutes: m.overlapMinutes,
    snapshotEveryHours: m.snapshotEveryHours,
    shaping: [
      { name: ENV.mobileDetectionUpdatedSince, key: 'floor', value: m.detectionUpdatedSince },
      { name: ENV.mobileIncludeFields, key: 'includeFields', value: m.includeFields },
    ],
    floorMs: m.detectionUpdatedSince ? Date.parse(m.detectionUpdatedSince) : undefined,
  });
  const window =
    plan.kind === 'incremental'
      ? { since: apiTime(plan.sinceMs!), before: windowEnd(end), overlapMinutes: m.overlapMinutes }
      : { ...(m.detectionUpdatedSince ? { since: m.detectionUpdatedSince } : {}) };
  const c = { truncationLimit: m.truncationLimit, ...window };
  return {
    ...c,
    params: mobileParams(c, m),
    idMin: null,
    batches: 0,
    startedAt: now.toISOString(),
    clock,
    kind: plan.kind,
    ...(plan.reason ? { snapshotReason: plan.reason } : {}),
    ...(m.detectionUpdatedSince ? { floor: m.detectionUpdatedSince } : {}),
    ...(m.includeFields ? { includeFields: m.includeFields } : {}),
  };
}

/**
 * Incremental mode: a batch of one asset updated in the last second (usually none), whose answer's Date header
 * tells Qualys's clock before `detection_updated_before` is fixed. Snapshot mode needs no reference: no request.
 */
function mobileProbe(config: AppConfig, now: Date): QualysRequest | undefined {
  if (config.modules.mobile.mode !== 'incremental') return undefined;
  return {
    url: MOBILE_LISTING.path,
    accept: 'xml',
    query: {
      action: 'list',
      truncation_limit: 1,
      detection_updated_since: apiTime(now.getTime() - 1000),
      detection_updated_before: apiTime(now.getTime()),
    },
    label: 'mobile-assets server time probe',
  };
}

export const mobileAssets: ModuleDef = {
  name: 'mobile-assets',
  start: mobileStart,
  pages: (client, cursor, config, log) => {
    const gatewayUrl = config.endpoints.gatewayUrl;
    if (!gatewayUrl) {
      throw new ConfigError('VMDR Mobile lives on the gateway: set QUALYS_PLATFORM or QUALYS_GATEWAY_URL');
    }
    const m = config.modules.mobile;
    const start = withTruncationLimit(upgrade(cursor as MobileCursor, m), m.truncationLimit);
    return truncationPages(client, MOBILE_LISTING, start, {
      origin: gatewayUrl,
      maxRetries: config.http.maxRetries,
      subPageChars: config.output.xmlSubPageChars,
      log: log ?? silentLogger,
      observe,
    });
  },
  kind: (c) => (c as MobileCursor).kind ?? 'snapshot',
  prove: async (final) => {
    const c = final as MobileCursor;
    const checks = truncationChecks(MOBILE_LISTING, c);
    if (c.since) checks.push(windowCheck(c));
    return checks;
  },
  commit: (final, previous): CommittedState => {
    const c = final as MobileCursor;
    // A checkpoint of an older version does not know when its run started: nothing to continue from, so the next
    // incremental run is a snapshot.
    if (!c.startedAt) return {};
    // The instant the listing stands for: where the next increment starts (older checkpoints: the run's start).
    const asOf = c.clock?.end ?? c.startedAt;
    return commitPlan(c.kind ?? 'snapshot', asOf, asOf, previous, {
      floor: c.floor,
      includeFields: c.includeFields,
    });
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
      ...(c.clock ? { clock: c.clock } : {}),
    };
  },
  window: {
    lagMs: (config) => config.modules.mobile.indexingLagSeconds * 1000,
    overlapMs: (config) => config.modules.mobile.overlapMinutes * 60_000,
    probe: mobileProbe,
  },
  identity: {
    fields: ['ID'],
    unique: true,
    evidence: '[doc] each ASSET has a decimal ID and batches are by id_min: IDs must strictly increase',
    key: (r) => String(r.ID),
  },
  state: { cursor: MOBILE_STATE_CURSOR, committed: MOBILE_COMMITTED },
  runSettings: [
    {
      env: ENV.mobileTruncationLimit,
      value: (c) => String(c.modules.mobile.truncationLimit),
      onChange: 'apply',
      why: 'batches continue from the last asset ID (id_min), whatever their size',
    },
    {
      env: ENV.mobileDetectionUpdatedSince,
      value: (c) => c.modules.mobile.detectionUpdatedSince,
      onChange: 'refuse',
      why: 'it decides which assets are listed',
    },
    {
      env: ENV.mobileIncludeFields,
      value: (c) => c.modules.mobile.includeFields,
      onChange: 'refuse',
      why: "it decides the fields of each asset: one run's records would not all have the same",
    },
  ],
};

/**
 * What the returned detections say about how the tenant applied the run's filter (recorded, never a failure:
 * no reading of the filter loses an asset the exporter asked for).
 */
function windowCheck(c: MobileCursor): CompletenessCheck {
  const o = c.observed ?? { assets: 0, outside: 0, older: 0 };
  const window = `[${c.since}, ${c.before ?? 'now'})`;
  const lacked = (c.lackingKeys ?? []).some((k) => (MOBILE_FILTERS as readonly string[]).includes(k));
  const added = lacked
    ? `; ${c.lacking} truncation URLs lacked the filters and got them back`
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
