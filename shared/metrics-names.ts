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
} as const;

export const TOKEN_METRICS = {
  tokenAgeSeconds: 'TokenAgeSeconds',
  refreshes: 'TokenRefreshes',
  refreshFailures: 'TokenRefreshFailures',
} as const;

/** Dimension names. */
export const DIM_MODULE = 'Module';
export const DIM_FUNCTION = 'Function';
export const TOKEN_REFRESH_DIMENSION_VALUE = 'token-refresh';
