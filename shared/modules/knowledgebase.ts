import { ConfigError } from '../errors';
import { ENV, KB_API_VERSIONS, KB_FLAGS, type AppConfig } from '../config';
import { listingSettings } from '../export/settings';
import { silentLogger } from '../log';
import { KB_VULN_LIST } from '../qualys/envelopes';
import { apiTime, commitPlan, planRun } from './increments';
import type { ExportRecord, ModuleDef, RunKind } from './types';
import { INCREMENT_COMMITTED, KB_CURSOR } from './state-shapes';
import {
  apiInstant,
  truncationChecks,
  versionedPages,
  type TruncationListing,
  type VersionedCursor,
} from './xml-truncation';

/**
 * The KnowledgeBase: every QID with its details (details=All), as declarations over the XML truncation paginator
 * (qualys-vmdr-kb.md §2). The first run (and one every QUALYS_KB_SNAPSHOT_EVERY_HOURS) reads it whole; the others
 * read what changed since the newest LAST_SERVICE_MODIFICATION_DATETIME seen, minus an overlap — a time of Qualys's
 * own clock, so the exporter's clock plays no part. Whether the KB truncates, and in what order VULNs come, is not
 * documented: a WARNING is followed if one comes, and the order is verified while it holds (`unknown`).
 */
export const kbListing = (version: string, timeoutMs?: number): TruncationListing => ({
  what: 'KnowledgeBase',
  noun: 'vulnerability',
  check: 'kb',
  label: 'knowledgebase',
  base: 'api',
  path: `/api/${version}/fo/knowledge_base/vuln/`,
  method: 'POST',
  envelope: KB_VULN_LIST,
  recordPath: ['KNOWLEDGE_BASE_VULN_LIST_OUTPUT', 'RESPONSE', 'VULN_LIST', 'VULN'],
  warningPath: ['KNOWLEDGE_BASE_VULN_LIST_OUTPUT', 'RESPONSE', 'WARNING'],
  // Repeating elements outside *_LIST elements [code Elastic XSD].
  lists: new Set(['EXPLT_SRC', 'MW_SRC', 'THREAT_INTEL', 'SUPPORTED_MODULE', 'PCI_REASON']),
  idField: 'QID',
  order: 'unknown',
  timeoutMs,
});

export interface KbCursor extends VersionedCursor {
  kind: RunKind;
  startedAt: string;
  /** last_modified_after of every request (increments). */
  since?: string;
  overlapMinutes?: number;
  snapshotReason?: string;
  filters: string;
  /** The newest LAST_SERVICE_MODIFICATION_DATETIME seen (ISO), where the next increment starts. */
  newest?: string;
}

function filtersOf(config: AppConfig): Record<string, string> {
  const k = config.modules.kb;
  return { details: 'All', ...k.flags, ...k.extra };
}

/** The newest modification time among the records (YYYY-MM-DDTHH:MM:SSZ, Qualys's clock). */
function observe(records: ExportRecord[], c: KbCursor): KbCursor {
  let newest = c.newest ? Date.parse(c.newest) : -Infinity;
  for (const r of records) {
    const t = r.LAST_SERVICE_MODIFICATION_DATETIME;
    const ms = typeof t === 'string' ? apiInstant(t) : NaN;
    if (ms > newest) newest = ms;
  }
  return Number.isFinite(newest) ? { ...c, newest: apiTime(newest) } : c;
}

export const knowledgebase: ModuleDef = {
  name: 'knowledgebase',
  start: ({ config, now, committed }) => {
    const k = config.modules.kb;
    const filters = JSON.stringify(filtersOf(config));
    const plan = planRun({
      incremental: true,
      committed,
      now,
      overlapMinutes: k.overlapMinutes,
      snapshotEveryHours: k.snapshotEveryHours,
      shaping: [{ name: `a KnowledgeBase flag or ${ENV.kbExtraParams}`, key: 'filters', value: filters }],
    });
    const since = plan.kind === 'incremental' ? apiTime(plan.sinceMs!) : undefined;
    const [version, ...versions] = k.apiVersion === 'auto' ? [...KB_API_VERSIONS] : [k.apiVersion];
    const cursor: KbCursor = {
      params: { action: 'list', ...filtersOf(config), ...(since ? { last_modified_after: since } : {}) },
      idMin: null,
      batches: 0,
      version: version!,
      ...(versions.length ? { versions } : {}),
      kind: plan.kind,
      startedAt: now.toISOString(),
      ...(since ? { since, overlapMinutes: k.overlapMinutes } : {}),
      ...(plan.reason ? { snapshotReason: plan.reason } : {}),
      filters,
    };
    return cursor;
  },
  pages: (client, cursor, config, log) => {
    if (!config.endpoints.apiUrl) {
      throw new ConfigError(
        `the KnowledgeBase lives on the API server: set ${ENV.platform} or ${ENV.apiUrl}`,
      );
    }
    const timeoutMs = config.modules.kb.timeoutMs;
    return versionedPages(client, (v) => kbListing(v, timeoutMs), cursor as KbCursor, {
      origin: config.endpoints.apiUrl,
      maxRetries: config.http.maxRetries,
      subPageChars: config.output.xmlSubPageChars,
      log: log ?? silentLogger,
      observe,
      setting: ENV.kbApiVersion,
    });
  },
  kind: (c) => (c as KbCursor).kind,
  prove: async (final) => {
    const c = final as KbCursor;
    return truncationChecks(kbListing(c.version), c);
  },
  commit: (final, previous) => {
    const c = final as KbCursor;
    // An increment that found nothing new leaves the next one where the previous one pointed.
    const started = apiTime(Date.parse(c.startedAt));
    const next = c.newest ?? (typeof previous?.nextSince === 'string' ? previous.nextSince : started);
    const capped = Date.parse(next) > Date.parse(started) ? started : next;
    return commitPlan(c.kind, capped, c.startedAt, previous, { filters: c.filters, version: c.version });
  },
  describe: (cursor) => {
    const c = cursor as KbCursor;
    return {
      kind: c.kind,
      apiVersion: c.version,
      lastModifiedAfter: c.since ?? null,
      ...(c.kind === 'incremental' ? { overlapMinutes: c.overlapMinutes ?? null } : {}),
      ...(c.snapshotReason ? { snapshotReason: c.snapshotReason } : {}),
      filters: JSON.parse(c.filters) as Record<string, string>,
    };
  },
  identity: {
    fields: ['QID'],
    unique: true,
    evidence: '[doc] every VULN has a QID, one per vulnerability (KnowledgeBase API guide; Elastic XSD)',
    key: (r) => String(r.QID),
  },
  state: { cursor: KB_CURSOR, committed: INCREMENT_COMMITTED },
  runSettings: listingSettings({
    what: 'KnowledgeBase vulnerabilities',
    version: { env: ENV.kbApiVersion, value: (c) => c.modules.kb.apiVersion },
    flags: KB_FLAGS,
    flagValues: (c) => c.modules.kb.flags,
    extra: { env: ENV.kbExtraParams, value: (c) => c.modules.kb.extra },
  }),
};
