import { ConfigError } from '../errors';
import { ENV, VMDR_API_VERSIONS, VMDR_FLAGS, type AppConfig } from '../config';
import { listingSettings, withTruncationLimit } from '../export/settings';
import { silentLogger } from '../log';
import { VMDR_HOST_DETECTIONS } from '../qualys/envelopes';
import { apiTime, commitPlan, planRun, windowEnd } from './increments';
import type { CompletenessCheck, ModuleDef, RunKind } from './types';
import { INCREMENT_COMMITTED, VMDR_CURSOR } from './state-shapes';
import {
  truncationChecks,
  versionedPages,
  type TruncationListing,
  type VersionedCursor,
} from './xml-truncation';

/**
 * VMDR host detections: Host List Detection on the API server (qualys-vmdr-kb.md §1), as declarations over the XML
 * truncation paginator. One record per HOST with its DETECTION_LIST, as the API shapes it. Incremental runs list
 * the hosts whose VM scan results were processed in [vm_processed_after, vm_processed_before) — each with all its
 * detections that pass the filters — and a snapshot now and then lists every host (an increment never shows a
 * purged host, or one whose detections are all gone).
 */
export const vmdrListing = (version: string, timeoutMs?: number): TruncationListing => ({
  what: 'VMDR host detection',
  noun: 'host',
  check: 'vmdr',
  label: 'vmdr-detections',
  base: 'api',
  path: `/api/${version}/fo/asset/host/vm/detection/`,
  // POST: the parameters (tag selectors, QID lists) can outgrow a URL (414 Request-URI Too Long).
  method: 'POST',
  envelope: VMDR_HOST_DETECTIONS,
  recordPath: ['HOST_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'HOST_LIST', 'HOST'],
  warningPath: ['HOST_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'WARNING'],
  // Repeating elements outside *_LIST elements [code: qualysdk and Elastic normalise them to lists].
  lists: new Set(['TAG', 'QDS_FACTOR', 'ATTRIBUTE', 'CLOUD_TAG']),
  idField: 'ID',
  order: 'ascending',
  timeoutMs,
});

export interface VmdrCursor extends VersionedCursor {
  kind: RunKind;
  startedAt: string;
  /** vm_processed_after (increments) and vm_processed_before of every request (YYYY-MM-DDTHH:MM:SSZ). */
  since?: string;
  before: string;
  overlapMinutes?: number;
  snapshotReason?: string;
  /** The parameters that shape the listing, as one string: a later increment must share them. */
  filters: string;
}

/** What the listing holds, whatever the window and page size: status, flags and extra parameters. */
function filtersOf(config: AppConfig): Record<string, string> {
  const v = config.modules.vmdr;
  return { status: v.status, ...v.flags, ...v.extra };
}

export const vmdrDetections: ModuleDef = {
  name: 'vmdr-detections',
  start: ({ config, now, committed }) => {
    const v = config.modules.vmdr;
    const filters = JSON.stringify(filtersOf(config));
    const plan = planRun({
      incremental: v.mode === 'incremental',
      committed,
      now,
      overlapMinutes: v.overlapMinutes,
      snapshotEveryHours: v.snapshotEveryHours,
      shaping: [
        { name: `${ENV.vmdrStatus} (or a flag or ${ENV.vmdrExtraParams})`, key: 'filters', value: filters },
      ],
    });
    const before = windowEnd(now);
    const since = plan.kind === 'incremental' ? apiTime(plan.sinceMs!) : undefined;
    const [version, ...versions] = v.apiVersion === 'auto' ? [...VMDR_API_VERSIONS] : [v.apiVersion];
    const cursor: VmdrCursor = {
      params: {
        action: 'list',
        output_format: 'XML',
        truncation_limit: String(v.truncationLimit),
        ...filtersOf(config),
        ...(since ? { vm_processed_after: since } : {}),
        vm_processed_before: before,
      },
      idMin: null,
      batches: 0,
      version: version!,
      ...(versions.length ? { versions } : {}),
      kind: plan.kind,
      startedAt: now.toISOString(),
      ...(since ? { since, overlapMinutes: v.overlapMinutes } : {}),
      before,
      ...(plan.reason ? { snapshotReason: plan.reason } : {}),
      filters,
    };
    return cursor;
  },
  pages: (client, cursor, config, log) => {
    if (!config.endpoints.apiUrl) {
      throw new ConfigError(
        `VMDR host detections live on the API server: set ${ENV.platform} or ${ENV.apiUrl}`,
      );
    }
    const timeoutMs = config.modules.vmdr.timeoutMs;
    const start = withTruncationLimit(cursor as VmdrCursor, config.modules.vmdr.truncationLimit);
    return versionedPages(client, (v) => vmdrListing(v, timeoutMs), start, {
      origin: config.endpoints.apiUrl,
      maxRetries: config.http.maxRetries,
      subPageChars: config.output.xmlSubPageChars,
      log: log ?? silentLogger,
      setting: ENV.vmdrApiVersion,
    });
  },
  kind: (c) => (c as VmdrCursor).kind,
  prove: async (final) => {
    const c = final as VmdrCursor;
    const count: CompletenessCheck = {
      name: 'vmdr.count',
      outcome: 'skipped',
      detail:
        'no Qualys API counts host detections with the same filters: Host List counts hosts with or without ' +
        'detections (Host List Detection leaves out hosts without any), and Host List Detection returns no total',
    };
    return [...truncationChecks(vmdrListing(c.version), c), count];
  },
  commit: (final, previous) => {
    const c = final as VmdrCursor;
    // The next increment starts where this run's window ended (minus the overlap, at its start).
    return commitPlan(c.kind, c.before, c.startedAt, previous, { filters: c.filters, version: c.version });
  },
  describe: (cursor) => {
    const c = cursor as VmdrCursor;
    return {
      kind: c.kind,
      apiVersion: c.version,
      truncationLimit: Number(c.params.truncation_limit),
      vmProcessedAfter: c.since ?? null,
      vmProcessedBefore: c.before,
      ...(c.kind === 'incremental' ? { overlapMinutes: c.overlapMinutes ?? null } : {}),
      ...(c.snapshotReason ? { snapshotReason: c.snapshotReason } : {}),
      filters: JSON.parse(c.filters) as Record<string, string>,
    };
  },
  identity: {
    fields: ['ID'],
    unique: true,
    evidence:
      '[code] every HOST has an ID (Elastic XSD, qualysdk) and responses continue by id_min: one line per host, ' +
      'IDs strictly increasing; a host repeated at the top of the next response is dropped only when identical',
    key: (r) => String(r.ID),
  },
  state: { cursor: VMDR_CURSOR, committed: INCREMENT_COMMITTED },
  runSettings: [
    {
      env: ENV.vmdrTruncationLimit,
      value: (c) => String(c.modules.vmdr.truncationLimit),
      onChange: 'apply',
      why: 'responses continue from the last host ID (id_min), whatever their size',
    },
    {
      env: ENV.vmdrStatus,
      value: (c) => c.modules.vmdr.status,
      onChange: 'refuse',
      why: 'it decides which detections are listed',
    },
    ...listingSettings({
      what: 'host detections',
      version: { env: ENV.vmdrApiVersion, value: (c) => c.modules.vmdr.apiVersion },
      flags: VMDR_FLAGS,
      flagValues: (c) => c.modules.vmdr.flags,
      extra: { env: ENV.vmdrExtraParams, value: (c) => c.modules.vmdr.extra },
    }),
  ],
};
