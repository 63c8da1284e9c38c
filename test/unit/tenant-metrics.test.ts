import { describe, expect, it } from 'vitest';
import { emitRunMetrics, emitTokenMetrics, metricsWriter, withDimension } from '../../shared/app/metrics';
import { ConfigError } from '../../shared/errors';

type Emf = {
  _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
} & Record<string, unknown>;

function written(env: Record<string, string | undefined>, emit: (w: (l: string) => void) => void): Emf {
  const lines: string[] = [];
  emit(metricsWriter(env, (l) => lines.push(l)));
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Emf;
}

const run = (w: (l: string) => void) =>
  emitRunMetrics(
    {
      module: 'pci-scans',
      result: { status: 'done', records: 7 },
      pages: 1,
      apiCalls: 2,
      retries: 0,
      durationMs: 5,
    },
    w,
  );
const token = (w: (l: string) => void) =>
  emitTokenMetrics({ refreshed: true, failed: false, tokenAgeSeconds: 3 }, w);

describe('the Tenant dimension (QEXPORT_TENANT)', () => {
  it('a listed tenant: every dimension set of the export and token metrics gets Tenant, with its value', () => {
    const line = written({ QEXPORT_TENANT: 'acme' }, run);
    expect(line._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Tenant', 'Module']]);
    expect(line).toMatchObject({ Tenant: 'acme', Module: 'pci-scans', Records: 7, RunsCompleted: 1 });
    const t = written({ QEXPORT_TENANT: 'acme' }, token);
    expect(t._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Tenant', 'Function']]);
    expect(t).toMatchObject({ Tenant: 'acme', Function: 'token-refresh', TokenAgeSeconds: 3 });
  });

  it('no tenant (the single-tenant stack): the lines are exactly what they were', () => {
    const plain: string[] = [];
    run((l) => plain.push(l));
    const line = written({}, run);
    expect(line._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Module']]);
    expect(line.Tenant).toBeUndefined();
    expect(Object.keys(line)).toEqual(Object.keys(JSON.parse(plain[0]!) as object));
    expect(written({ QEXPORT_TENANT: '  ' }, run).Tenant).toBeUndefined();
  });

  it('keeps every metric and value, and never duplicates a dimension already present', () => {
    const base = JSON.stringify({
      _aws: {
        Timestamp: 1,
        CloudWatchMetrics: [
          { Namespace: 'N', Dimensions: [['Tenant', 'Module'], ['Module']], Metrics: [{ Name: 'X' }] },
        ],
      },
      Tenant: 'old',
      Module: 'm',
      X: 4,
    });
    const out = JSON.parse(withDimension(base, 'Tenant', 'acme')) as Emf;
    expect(out._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['Tenant', 'Module'],
      ['Tenant', 'Module'],
    ]);
    expect(out).toMatchObject({ Tenant: 'acme', Module: 'm', X: 4 });
  });

  it('refuses a tenant value that is not a plain id', () => {
    expect(() => metricsWriter({ QEXPORT_TENANT: 'acme corp' })).toThrow(ConfigError);
    expect(() => metricsWriter({ QEXPORT_TENANT: 'x'.repeat(65) })).toThrow(/QEXPORT_TENANT/);
  });
});
