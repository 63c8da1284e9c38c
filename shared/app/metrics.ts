import type { ModuleName } from '../config';
import type { RunResult } from '../export/types';
import {
  DIM_FUNCTION,
  DIM_MODULE,
  EXPORT_METRICS,
  METRIC_NAMESPACE,
  TOKEN_METRICS,
  TOKEN_REFRESH_DIMENSION_VALUE,
} from '../metrics-names';

type Unit = 'Count' | 'Milliseconds' | 'Seconds';

/** One CloudWatch Embedded Metric Format line (CloudWatch Logs turns it into metrics, no API calls). */
export function emfLine(
  dimensions: Record<string, string>,
  metrics: { name: string; value: number; unit: Unit }[],
): string {
  return JSON.stringify({
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...dimensions,
    ...Object.fromEntries(metrics.map((m) => [m.name, m.value])),
  });
}

const stdout = (line: string) => process.stdout.write(`${line}\n`);

export function emitRunMetrics(
  r: {
    module: ModuleName;
    result: RunResult;
    pages: number;
    apiCalls: number;
    retries: number;
    durationMs: number;
  },
  write: (line: string) => void = stdout,
): void {
  write(
    emfLine({ [DIM_MODULE]: r.module }, [
      { name: EXPORT_METRICS.records, value: r.result.records, unit: 'Count' },
      { name: EXPORT_METRICS.pages, value: r.pages, unit: 'Count' },
      { name: EXPORT_METRICS.apiCalls, value: r.apiCalls, unit: 'Count' },
      { name: EXPORT_METRICS.retries, value: r.retries, unit: 'Count' },
      { name: EXPORT_METRICS.durationMs, value: r.durationMs, unit: 'Milliseconds' },
      { name: EXPORT_METRICS.runsCompleted, value: r.result.status === 'done' ? 1 : 0, unit: 'Count' },
      { name: EXPORT_METRICS.runsFailed, value: r.result.status === 'failed' ? 1 : 0, unit: 'Count' },
    ]),
  );
}

export function emitTokenMetrics(
  r: { refreshed: boolean; failed: boolean; tokenAgeSeconds?: number },
  write: (line: string) => void = stdout,
): void {
  const metrics: { name: string; value: number; unit: Unit }[] = [
    { name: TOKEN_METRICS.refreshes, value: r.refreshed ? 1 : 0, unit: 'Count' },
    { name: TOKEN_METRICS.refreshFailures, value: r.failed ? 1 : 0, unit: 'Count' },
  ];
  if (r.tokenAgeSeconds !== undefined) {
    metrics.push({ name: TOKEN_METRICS.tokenAgeSeconds, value: r.tokenAgeSeconds, unit: 'Seconds' });
  }
  write(emfLine({ [DIM_FUNCTION]: TOKEN_REFRESH_DIMENSION_VALUE }, metrics));
}
