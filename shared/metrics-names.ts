/** CloudWatch metric names: written by the functions (EMF), read by the CDK alarms and dashboard. */
export const METRIC_NAMESPACE = 'QualysExport';

export const EXPORT_METRICS = {
  records: 'Records',
  pages: 'Pages',
  apiCalls: 'ApiCalls',
  retries: 'Retries',
  durationMs: 'DurationMs',
  runsCompleted: 'RunsCompleted',
  runsFailed: 'RunsFailed',
  /** An invocation found another owner's unexpired lease and wrote nothing. */
  runsBusy: 'RunsBusy',
  /** A run ended failed because a completeness check failed (after its re-reads). */
  completenessFailures: 'CompletenessFailures',
  /** Now − end of the last complete EDR window, or age of the last complete snapshot. */
  freshnessSeconds: 'FreshnessSeconds',
  /** Records with fields the declared schema does not know (counted by the run, listed in its manifest). */
  schemaDriftRecords: 'SchemaDriftRecords',
  /** Qualys's clock minus the exporter's, from the Date headers (modules whose windows end at "now"). */
  clockSkewSeconds: 'ClockSkewSeconds',
  /** 1 when that skew exceeds the module's overlap of consecutive windows, else 0 (alarm ClockSkew). */
  clockSkewBeyondOverlap: 'ClockSkewBeyondOverlap',
} as const;

/**
 * The modules whose windows end at "now" (ModuleDef.window): they report the clock skew metrics, and the stack
 * alarms on ClockSkewBeyondOverlap for them (test/unit/metrics.test.ts keeps this list equal to the modules').
 */
export const CLOCK_SKEW_MODULES = ['edr-events', 'mobile-assets'] as const;

export const TOKEN_METRICS = {
  tokenAgeSeconds: 'TokenAgeSeconds',
  refreshes: 'TokenRefreshes',
  refreshFailures: 'TokenRefreshFailures',
} as const;

/** Dimension names. */
export const DIM_MODULE = 'Module';
export const DIM_FUNCTION = 'Function';
export const TOKEN_REFRESH_DIMENSION_VALUE = 'token-refresh';
/** Added to every metric of a function that belongs to a listed tenant (env QEXPORT_TENANT). */
export const DIM_TENANT = 'Tenant';
