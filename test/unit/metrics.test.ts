import { describe, expect, it } from 'vitest';
import { emitRunMetrics, type RunMetricsResult } from '../../shared/app/metrics';
import { MODULES } from '../../shared/config';
import { CLOCK_SKEW_MODULES, EXPORT_METRICS } from '../../shared/metrics-names';
import { getModule } from '../../shared/modules';

const NOW = Date.parse('2026-11-24T12:00:00Z');

function emitted(result: RunMetricsResult): Record<string, unknown> {
  const lines: string[] = [];
  emitRunMetrics(
    { module: 'edr-events', result, pages: 3, apiCalls: 4, retries: 1, durationMs: 1234, now: NOW },
    (l) => lines.push(l),
  );
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

const declared = (line: Record<string, unknown>) =>
  (
    line._aws as {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
    }
  ).CloudWatchMetrics[0]!;

describe('export metrics (EMF)', () => {
  it('one line in namespace QualysExport, dimension Module, every declared metric carries a value', () => {
    const line = emitted({ status: 'continue', records: 10 });
    const d = declared(line);
    expect(d.Namespace).toBe('QualysExport');
    expect(d.Dimensions).toEqual([['Module']]);
    expect(line.Module).toBe('edr-events');
    for (const m of d.Metrics) expect(typeof line[m.Name]).toBe('number');
    expect(line).toMatchObject({ Records: 10, Pages: 3, ApiCalls: 4, Retries: 1, DurationMs: 1234 });
  });

  it.each([
    [
      'done',
      { status: 'done', records: 5 },
      { RunsCompleted: 1, RunsFailed: 0, RunsBusy: 0, CompletenessFailures: 0 },
    ],
    ['continue', { status: 'continue', records: 5 }, { RunsCompleted: 0, RunsFailed: 0, RunsBusy: 0 }],
    ['busy', { status: 'busy', records: 0 }, { RunsCompleted: 0, RunsFailed: 0, RunsBusy: 1 }],
    [
      'failed (http)',
      { status: 'failed', records: 0, error: { code: 'http' } },
      { RunsFailed: 1, CompletenessFailures: 0 },
    ],
    [
      'failed (incomplete)',
      { status: 'failed', records: 0, error: { code: 'incomplete' } },
      { RunsFailed: 1, CompletenessFailures: 1 },
    ],
  ] as [string, RunMetricsResult, Record<string, number>][])(
    '%s counts the run outcome',
    (_n, result, want) => {
      expect(emitted(result)).toMatchObject(want);
    },
  );

  it('freshness and schema drift are emitted when the result reports them, and only then', () => {
    const none = emitted({ status: 'done', records: 1 });
    expect(none[EXPORT_METRICS.freshnessSeconds]).toBeUndefined();
    expect(none[EXPORT_METRICS.schemaDriftRecords]).toBeUndefined();
    expect(declared(none).Metrics.map((m) => m.Name)).not.toContain('FreshnessSeconds');
    // Freshness = now − completeThrough (the end of the last complete window / start of the last snapshot).
    const some = emitted({
      status: 'continue',
      records: 1,
      completeThrough: '2026-11-24T10:59:59.600Z',
      schemaDriftRecords: 7,
    });
    expect(some).toMatchObject({ FreshnessSeconds: 3600, SchemaDriftRecords: 7 });
    expect(declared(some).Metrics).toContainEqual({ Name: 'FreshnessSeconds', Unit: 'Seconds' });
    // Nonsense values are not metrics.
    const bad = emitted({ status: 'done', records: 1, completeThrough: 'yesterday', schemaDriftRecords: -1 });
    expect(bad.FreshnessSeconds).toBeUndefined();
    expect(bad.SchemaDriftRecords).toBeUndefined();
  });
});

describe('clock skew metrics', () => {
  const withClock = (skewMs: number, overlapMs = 600_000) => {
    const lines: string[] = [];
    emitRunMetrics(
      {
        module: 'edr-events',
        result: { status: 'done', records: 1 },
        pages: 1,
        apiCalls: 2,
        retries: 0,
        durationMs: 1,
        now: NOW,
        clock: { skewMs, overlapMs },
      },
      (l) => lines.push(l),
    );
    return JSON.parse(lines[0]!) as Record<string, unknown>;
  };

  it('the skew in seconds (Qualys minus us) and whether it exceeds the overlap, either way', () => {
    expect(withClock(-900_400)).toMatchObject({ ClockSkewSeconds: -900, ClockSkewBeyondOverlap: 1 });
    expect(withClock(900_000)).toMatchObject({ ClockSkewSeconds: 900, ClockSkewBeyondOverlap: 1 });
    expect(withClock(-599_000)).toMatchObject({ ClockSkewSeconds: -599, ClockSkewBeyondOverlap: 0 });
    expect(declared(withClock(0)).Metrics).toContainEqual({ Name: 'ClockSkewBeyondOverlap', Unit: 'Count' });
  });

  it('nothing measured (no clock given): no clock metric', () => {
    const none = emitted({ status: 'done', records: 1 });
    expect(none[EXPORT_METRICS.clockSkewSeconds]).toBeUndefined();
    expect(none[EXPORT_METRICS.clockSkewBeyondOverlap]).toBeUndefined();
  });
});

describe('which modules report clock skew', () => {
  it('exactly the modules whose windows end at now (the stack alarms on these)', () => {
    expect(MODULES.filter((m) => getModule(m).window)).toEqual([...CLOCK_SKEW_MODULES]);
  });
});
