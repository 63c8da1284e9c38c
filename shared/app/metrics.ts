import { ENV, type Env, type ModuleName } from '../config';
import { ConfigError } from '../errors';
import { skewBeyondOverlap } from '../export/window';
import {
  DIM_FUNCTION,
  DIM_MODULE,
  DIM_TENANT,
  EXPORT_METRICS,
  METRIC_NAMESPACE,
  TOKEN_METRICS,
  TOKEN_REFRESH_DIMENSION_VALUE,
} from '../metrics-names';

type Unit = 'Count' | 'Milliseconds' | 'Seconds';
type Metric = { name: string; value: number; unit: Unit };

/** One CloudWatch Embedded Metric Format line (CloudWatch Logs turns it into metrics, no API calls). */
export function emfLine(dimensions: Record<string, string>, metrics: Metric[]): string {
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

/**
 * The parts of an export handler's result the metrics read (a RunResult has them). Structural on purpose: an
 * optional field a result does not report (yet) simply emits no metric.
 */
export interface RunMetricsResult {
  status: string;
  records: number;
  error?: { code: string };
  /** ISO: complete data exists up to here (end of the last complete EDR window, start of the last snapshot). */
  completeThrough?: string;
  /** Records of this run with fields the declared schema does not know. */
  schemaDriftRecords?: number;
}

/** Now − completeThrough, in whole seconds (undefined when the result has no usable completeThrough). */
export function freshnessSeconds(completeThrough: string | undefined, nowMs: number): number | undefined {
  if (completeThrough === undefined) return undefined;
  const t = Date.parse(completeThrough);
  if (!Number.isFinite(t)) return undefined;
  return Math.max(0, Math.round((nowMs - t) / 1000));
}

/** Error code the run engine gives a run that could not be proven complete (IncompleteError). */
const INCOMPLETE = 'incomplete';

const finiteNonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** What one export invocation reports. */
export interface RunMetricsInput {
  result: RunMetricsResult;
  pages: number;
  apiCalls: number;
  retries: number;
  durationMs: number;
  /** Epoch ms the freshness is measured at (default: now). */
  now?: number;
  /** Modules whose windows end at "now", when the client measured Qualys's clock: the skew and the overlap. */
  clock?: { skewMs: number; overlapMs: number };
}

/** The metrics of one export invocation (one EMF line). */
export function runMetrics(r: RunMetricsInput): Metric[] {
  const { result } = r;
  const count = (name: string, yes: boolean) => ({ name, value: yes ? 1 : 0, unit: 'Count' as const });
  const metrics: Metric[] = [
    { name: EXPORT_METRICS.records, value: result.records, unit: 'Count' },
    { name: EXPORT_METRICS.pages, value: r.pages, unit: 'Count' },
    { name: EXPORT_METRICS.apiCalls, value: r.apiCalls, unit: 'Count' },
    { name: EXPORT_METRICS.retries, value: r.retries, unit: 'Count' },
    { name: EXPORT_METRICS.durationMs, value: r.durationMs, unit: 'Milliseconds' },
    count(EXPORT_METRICS.runsCompleted, result.status === 'done'),
    count(EXPORT_METRICS.runsFailed, result.status === 'failed'),
    count(EXPORT_METRICS.runsBusy, result.status === 'busy'),
    count(
      EXPORT_METRICS.completenessFailures,
      result.status === 'failed' && result.error?.code === INCOMPLETE,
    ),
  ];
  // Freshness is reported on every invocation that knows it (continue and busy included), so it keeps
  // growing while runs do not complete.
  const fresh = freshnessSeconds(result.completeThrough, r.now ?? Date.now());
  if (fresh !== undefined) {
    metrics.push({ name: EXPORT_METRICS.freshnessSeconds, value: fresh, unit: 'Seconds' });
  }
  if (r.clock && Number.isFinite(r.clock.skewMs)) {
    metrics.push(
      { name: EXPORT_METRICS.clockSkewSeconds, value: Math.round(r.clock.skewMs / 1000), unit: 'Seconds' },
      count(EXPORT_METRICS.clockSkewBeyondOverlap, skewBeyondOverlap(r.clock.skewMs, r.clock.overlapMs)),
    );
  }
  if (finiteNonNegative(result.schemaDriftRecords)) {
    metrics.push({
      name: EXPORT_METRICS.schemaDriftRecords,
      value: result.schemaDriftRecords,
      unit: 'Count',
    });
  }
  return metrics;
}

export function emitRunMetrics(
  r: RunMetricsInput & { module: ModuleName },
  write: (line: string) => void = stdout,
): void {
  write(emfLine({ [DIM_MODULE]: r.module }, runMetrics(r)));
}

export function emitTokenMetrics(
  r: { refreshed: boolean; failed: boolean; tokenAgeSeconds?: number },
  write: (line: string) => void = stdout,
): void {
  const metrics: Metric[] = [
    { name: TOKEN_METRICS.refreshes, value: r.refreshed ? 1 : 0, unit: 'Count' },
    { name: TOKEN_METRICS.refreshFailures, value: r.failed ? 1 : 0, unit: 'Count' },
  ];
  if (r.tokenAgeSeconds !== undefined) {
    metrics.push({ name: TOKEN_METRICS.tokenAgeSeconds, value: r.tokenAgeSeconds, unit: 'Seconds' });
  }
  write(emfLine({ [DIM_FUNCTION]: TOKEN_REFRESH_DIMENSION_VALUE }, metrics));
}

/**
 * Where a function's metric lines go: stdout, each line with the `Tenant` dimension added when the function
 * belongs to a listed tenant (QEXPORT_TENANT, set by the stack). Every dimension set of the line gets it, so a
 * tenant's metrics never add up with another's and the stack's alarms select them by tenant and module.
 */
export function metricsWriter(env: Env, write: (line: string) => void = stdout): (line: string) => void {
  const tenant = env[ENV.tenant]?.trim();
  if (!tenant) return write;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(tenant)) {
    throw new ConfigError(`${ENV.tenant} must be 1-64 letters, digits, '.', '_' or '-', got '${tenant}'`);
  }
  return (line) => write(withDimension(line, DIM_TENANT, tenant));
}

/** An EMF line with one more dimension (first in every dimension set). */
export function withDimension(line: string, name: string, value: string): string {
  const emf = JSON.parse(line) as {
    _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] };
    [k: string]: unknown;
  };
  for (const directive of emf._aws.CloudWatchMetrics) {
    directive.Dimensions = directive.Dimensions.map((set) => [name, ...set.filter((d) => d !== name)]);
  }
  const { _aws, [name]: _replaced, ...values } = emf;
  return JSON.stringify({ _aws, [name]: value, ...values });
}
